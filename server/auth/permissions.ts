// Who may do what, decided in one place. Every REST route and every WebSocket message type
// declares one of these permissions where it is defined (see `requires`, and the message
// tables in live/hub.ts and workers/gateway.ts); a test enumerates them all and fails on any
// route without one. Pure: no I/O, no clock.
import type { Estate } from '../config/estate';
import type { ApiToken, Session, User } from './types';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: User; session: Session }
  | { kind: 'display'; token: ApiToken };

export const PERMISSIONS = [
  /** Anyone: health, sign-in, the page shell, heartbeats and probe workers (which carry their own tokens). */
  'public',
  /** Any signed-in user or display link; what they receive is scoped to the practices they may see. */
  'read',
  /** Read one practice (the `:ods` in the path must be in scope). */
  'practice.read',
  /** Report "we're down" / "we're back" for one practice: its managers, or ops of its ICB. */
  'practice.report',
  /** Switch one practice into or out of backup mode, tick its checklist, readiness and backlog: its managers, or ops of its ICB. */
  'backup.switch',
  /** Switch every practice of an incident at once, and keep the ICB's cost log: ops (only practices in their scope switch). */
  'backup.bulk',
  /** Add notes and references to an incident: ops, or a manager of a practice in it. */
  'incident.annotate',
  /** Plan and cancel maintenance windows: ops. */
  'maintenance.write',
  /** Create, list and revoke display and worker tokens: ops. */
  'tokens.manage',
  /** Read the audit log: ops. */
  'audit.read',
  /** Reload the estate file: ops. */
  'config.reload',
  /** Signed in as a person (sign out, who am I). */
  'self',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The practices a principal may see: `all`, or a predicate on ODS codes. */
export function scopeOf(principal: Principal, estate: Estate): 'all' | 'none' | ((ods: string) => boolean) {
  if (principal.kind === 'anonymous') return 'none';
  if (principal.kind === 'display') {
    const icb = principal.token.icb;
    return icb === null ? 'all' : (ods) => estate.practices.get(ods)?.icb === icb;
  }
  const { user } = principal;
  if (user.role === 'ops' && user.icb === null) return 'all';
  const listed = new Set(user.practices);
  const icb = user.role === 'manager' ? null : user.icb;
  return (ods) => listed.has(ods) || (icb !== null && estate.practices.get(ods)?.icb === icb);
}

export function canSee(principal: Principal, estate: Estate, ods: string): boolean {
  const scope = scopeOf(principal, estate);
  return scope === 'all' || (scope !== 'none' && scope(ods));
}

export type Decision = 'allow' | 'unauthenticated' | 'forbidden';

/**
 * The decision for one request. `target` names what the request is about: a practice, or the
 * practices an incident affects.
 */
export function decide(
  principal: Principal,
  permission: Permission,
  estate: Estate,
  target: { ods?: string; practices?: string[] } = {},
): Decision {
  if (permission === 'public') return 'allow';
  if (principal.kind === 'anonymous') return 'unauthenticated';
  const role = principal.kind === 'user' ? principal.user.role : null;
  const sees = (ods: string) => canSee(principal, estate, ods);
  switch (permission) {
    case 'read':
      return 'allow';
    case 'self':
      return principal.kind === 'user' ? 'allow' : 'forbidden';
    case 'practice.read':
      // An unknown practice is answered 404 by the route for those who could see it, and 403
      // for those who could not: existence is not disclosed outside one's scope.
      // No practice named (e.g. a service's check): as `read`.
      return target.ods === undefined || sees(target.ods) ? 'allow' : 'forbidden';
    case 'practice.report':
    case 'backup.switch':
      return (role === 'ops' || role === 'manager') && target.ods !== undefined && sees(target.ods) ? 'allow' : 'forbidden';
    case 'incident.annotate':
      if (role === 'ops') return (target.practices ?? []).length === 0 || (target.practices ?? []).some(sees) ? 'allow' : 'forbidden';
      return role === 'manager' && (target.practices ?? []).some(sees) ? 'allow' : 'forbidden';
    case 'maintenance.write':
    case 'backup.bulk':
    case 'tokens.manage':
    case 'audit.read':
      return role === 'ops' ? 'allow' : 'forbidden';
    case 'config.reload':
      // A reload reconnects every ICB's dashboards and workers: national ops only.
      return role === 'ops' && principal.kind === 'user' && principal.user.icb === null ? 'allow' : 'forbidden';
  }
}
