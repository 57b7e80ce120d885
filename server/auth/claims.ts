// Turns the claims of a signed-in NHS CIS2 (or other OIDC) user into a Pulse role and scope.
// Pure: no network, no store, no clock. The claims are untrusted input in shape (the provider
// is trusted to say who the person is, not to send well-formed arrays), so each role entry is
// validated and a malformed one is ignored, never guessed at.
// Must never widen access: an unknown organisation grants nothing, a role chosen at sign-in
// narrows to that role, national (every-ICB) ops is never granted from claims, and a person
// whose roles grant different scopes gets the highest role over only the scope it covers.
import { z } from 'zod';
import type { Estate } from '../config/estate';
import type { Role } from './types';
import type { OidcMapping } from './oidc-config';

export type ClaimsRefusal = 'no_subject' | 'selected_role_unknown' | 'several_icbs' | 'unmapped';

export type ClaimsMapping =
  | {
      ok: true;
      role: Role;
      /** The ICB an `ops` user covers; null for practice-level users (their `practices` are the scope). */
      icb: string | null;
      /** ODS codes, sorted: the practices a manager or viewer covers; empty for `ops`. */
      practices: string[];
      displayName: string;
      /** The provider's stable subject (`sub`): the account key, never the name. */
      subject: string;
      /** `person_roleid`s of the role claims that granted this access, for the audit log. */
      grantedBy: string[];
      /** Roles that matched something but were not used because a higher role won (e.g. viewer of B when manager of A). */
      unused: string[];
    }
  | { ok: false; code: ClaimsRefusal; reason: string };

/** One entry of `nhsid_nrbac_roles`; other fields (activities, workgroups…) are kept but unused. */
const roleClaimSchema = z
  .object({
    person_roleid: z.union([z.string().min(1), z.number()]).transform(String),
    org_code: z.string().trim().min(1).toUpperCase(),
    role_code: z.string().optional(),
    role_name: z.string().optional(),
  })
  .loose();
type RoleClaim = z.infer<typeof roleClaimSchema>;

type Grant =
  | { role: 'ops'; icb: string; roleId: string }
  | { role: 'manager' | 'viewer'; ods: string; roleId: string };

const RANK: Record<Role, number> = { viewer: 0, manager: 1, ops: 2 };

function text(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  // Control characters would corrupt logs and the page; a name is one line.
  const clean = value.replace(/[\p{Cc}\p{Cf}]+/gu, ' ').replace(/\s+/g, ' ').trim();
  return clean ? clean.slice(0, 200) : null;
}

function displayNameOf(claims: Record<string, unknown>, subject: string): string {
  const name = text(claims.name);
  if (name) return name;
  const joined = text([text(claims.given_name), text(claims.family_name)].filter(Boolean).join(' '));
  return joined ?? subject;
}

/** An entry matches the whole role code (S8000:G8000:R8000) or its job role part (R8000). */
export function isManagerRole(roleCode: string | undefined, managerRoleCodes: readonly string[]): boolean {
  if (!roleCode) return false;
  const code = roleCode.trim().toUpperCase();
  const jobRole = code.split(':').pop()!;
  return managerRoleCodes.some((m) => m === code || m === jobRole);
}

function roleClaims(claims: Record<string, unknown>): RoleClaim[] {
  const raw = claims.nhsid_nrbac_roles;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((entry) => {
    const parsed = roleClaimSchema.safeParse(entry);
    return parsed.success ? [parsed.data] : [];
  });
}

function grantOf(claim: RoleClaim, mapping: OidcMapping, estate: Pick<Estate, 'practices'>): Grant | null {
  if (mapping.icbOps.includes(claim.org_code)) return { role: 'ops', icb: claim.org_code, roleId: claim.person_roleid };
  if (estate.practices.has(claim.org_code)) {
    const role = isManagerRole(claim.role_code, mapping.managerRoleCodes) ? 'manager' : 'viewer';
    return { role, ods: claim.org_code, roleId: claim.person_roleid };
  }
  return null;
}

const describe = (g: Grant) => (g.role === 'ops' ? `ops for ICB ${g.icb}` : `${g.role} of ${g.ods}`);
const uniqueSorted = (xs: string[]) => [...new Set(xs)].sort();

/**
 * Maps CIS2-style claims to a Pulse role:
 * - `selected_roleid` (the role picked at sign-in) narrows `nhsid_nrbac_roles` to that one role;
 * - a role at an ICB listed in `mapping.icbOps` → ops for that ICB (roles at two such ICBs are
 *   refused unless one was selected: an account covers one ICB, and picking one would be a guess);
 * - a role at a practice in the estate → manager of it (role code in `managerRoleCodes`) or viewer;
 * - the highest role wins and covers only what that role was granted for: ops its ICB, a manager
 *   the practices they manage (a viewer role elsewhere is not promoted), a viewer their practices;
 * - `nhsid_user_orgs` grants nothing: membership of an organisation is not a role in it.
 */
export function mapClaims(
  claims: Record<string, unknown>,
  mapping: OidcMapping,
  estate: Pick<Estate, 'practices'>,
): ClaimsMapping {
  const subject = typeof claims.sub === 'string' ? claims.sub.trim() : '';
  if (!subject || subject.length > 255) {
    return { ok: false, code: 'no_subject', reason: 'The identity provider did not say who you are (no subject); sign-in refused.' };
  }

  let roles = roleClaims(claims);
  // Present means the person chose: a malformed choice is refused rather than read as "all roles".
  const selected = claims.selected_roleid;
  const hasSelection = selected !== undefined && selected !== null && selected !== '';
  if (hasSelection) {
    roles = typeof selected === 'string' || typeof selected === 'number' ? roles.filter((r) => r.person_roleid === String(selected)) : [];
    if (roles.length === 0) {
      return {
        ok: false,
        code: 'selected_role_unknown',
        reason: 'The role you chose at sign-in is not among the roles your identity provider sent; sign in again and choose a role.',
      };
    }
  }

  const grants = roles.flatMap((r) => grantOf(r, mapping, estate) ?? []);
  if (grants.length === 0) {
    const orgs = uniqueSorted(roles.map((r) => r.org_code));
    const seen = orgs.length ? ` (your roles are at: ${orgs.join(', ')})` : ' (no roles were sent)';
    return {
      ok: false,
      code: 'unmapped',
      reason:
        (hasSelection
          ? `The role you chose at sign-in gives no access to Pulse${seen}; sign in again and choose your role at a practice or ICB Pulse monitors.`
          : `None of your roles is at a practice or ICB that Pulse monitors${seen}.`) +
        ' Ask your Pulse administrator if you should have access.',
    };
  }

  const top = grants.reduce((best, g) => (RANK[g.role] > RANK[best.role] ? g : best)).role;
  const used = grants.filter((g) => g.role === top);
  const unused = uniqueSorted(grants.filter((g) => g.role !== top).map(describe));
  const base = { displayName: displayNameOf(claims, subject), subject, grantedBy: uniqueSorted(used.map((g) => g.roleId)), unused };

  if (top === 'ops') {
    const icbs = uniqueSorted(used.map((g) => (g.role === 'ops' ? g.icb : '')));
    if (icbs.length > 1) {
      return {
        ok: false,
        code: 'several_icbs',
        reason:
          `You hold operations roles at more than one ICB (${icbs.join(', ')}), and a Pulse account covers one. ` +
          'Sign in again and choose the role for the ICB you are working for.',
      };
    }
    return { ok: true, role: 'ops', icb: icbs[0]!, practices: [], ...base };
  }
  return { ok: true, role: top, icb: null, practices: uniqueSorted(used.map((g) => (g.role !== 'ops' ? g.ods : ''))), ...base };
}
