// Request-time access control: who the caller is (session cookie or bearer display token),
// whether a route's declared permission lets them in, and the cross-site checks on anything
// that changes state. Answers 401/403 as JSON; never leaks what the caller may not see.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Estate } from '../config/estate';
import { decide, type Permission, type Principal } from './permissions';
import type { AccountStore } from './types';

export const SESSION_COOKIE = 'pulse_session';

/** Sets a new session's cookie: HttpOnly, SameSite=Lax, for the whole site, as long as the session. */
export function setSessionCookie(c: Context, secret: string, opts: { ttlMs: number; secure: boolean }): void {
  setCookie(c, SESSION_COOKIE, secret, { httpOnly: true, sameSite: 'Lax', secure: opts.secure, path: '/', maxAge: Math.floor(opts.ttlMs / 1000) });
}

export type AppEnv = { Variables: { principal: Principal; sessionSecret: string | undefined } };

export interface AuthDeps {
  accounts: AccountStore;
  estate: Estate;
  now: () => number;
  /** Origins allowed to send state-changing requests besides the request's own (e.g. the public URL). */
  trustedOrigins: string[];
}

/** Works out the principal for every request; never refuses by itself. */
export function authenticate(deps: AuthDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    const principal = await principalOf(deps, cookie, c.req.header('authorization'));
    c.set('principal', principal);
    c.set('sessionSecret', principal.kind === 'user' ? cookie : undefined);
    await next();
  };
}

export async function principalOf(deps: AuthDeps, cookie: string | undefined, authorization: string | undefined): Promise<Principal> {
  const now = deps.now();
  if (cookie) {
    const found = await deps.accounts.sessionBySecret(cookie, now);
    if (found) return { kind: 'user', user: found.user, session: found.session };
  }
  const bearer = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (bearer) {
    const token = await deps.accounts.tokenBySecret(bearer, now);
    if (token?.kind === 'display') return { kind: 'display', token };
  }
  return { kind: 'anonymous' };
}

export type Target = { ods?: string; practices?: string[] };
export type Guard = MiddlewareHandler<AppEnv> & { permission: Permission };

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The permission a route declares. `target` names what the request is about (read from the
 * path, before the handler runs). State-changing requests made with a session cookie must
 * also carry the session's CSRF token and, when the browser sends one, a trusted Origin.
 */
export function requires(
  permission: Permission,
  deps: AuthDeps,
  target?: (c: Context<AppEnv>) => Target | Promise<Target>,
): Guard {
  const guard = (async (c, next) => {
    const principal = c.get('principal') ?? { kind: 'anonymous' };
    const decision = decide(principal, permission, deps.estate, target ? await target(c) : {});
    if (decision === 'unauthenticated') {
      return c.json({ error: { code: 'UNAUTHENTICATED', message: 'sign in to use this' } }, 401);
    }
    if (decision === 'forbidden') {
      return c.json({ error: { code: 'FORBIDDEN', message: 'your account may not do this here' } }, 403);
    }
    if (!SAFE.has(c.req.method) && principal.kind === 'user') {
      // Public routes (signing in again from a second tab) have no token to check; the origin still is.
      const crossSite = crossSiteReason(c, permission === 'public' ? null : principal.session.csrf, deps.trustedOrigins);
      if (crossSite) return c.json({ error: { code: 'CSRF', message: crossSite } }, 403);
    }
    await next();
  }) as Guard;
  guard.permission = permission;
  return guard;
}

/** Why a state-changing request looks cross-site, or null when it is fine. */
export function crossSiteReason(c: Context, csrf: string | null, trustedOrigins: string[]): string | null {
  const origin = c.req.header('origin');
  if (origin && origin !== ownOrigin(c) && !trustedOrigins.includes(origin)) return `requests from ${origin} are not accepted`;
  const fetchSite = c.req.header('sec-fetch-site');
  if (fetchSite === 'cross-site') return 'cross-site requests are not accepted';
  if (csrf !== null && c.req.header('x-csrf-token') !== csrf) return 'missing or wrong X-CSRF-Token header; reload the page';
  return null;
}

/** The origin the request was addressed to. Behind a reverse proxy, set PULSE_PUBLIC_URL instead of trusting forwarded headers. */
export function ownOrigin(c: Context): string {
  const url = new URL(c.req.url);
  return `${url.protocol}//${c.req.header('host') ?? url.host}`;
}
