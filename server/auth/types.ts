// Who is asking, and what Pulse keeps about people, sessions, tokens and the audit trail.
// Types only: the decisions live in permissions.ts, the storage in the store.

export const ROLES = ['ops', 'manager', 'viewer'] as const;
/**
 * `ops`: an ICB's operations staff — every practice of their ICB (every practice when their
 * ICB is null: a national operations centre), bulk actions, maintenance, tokens.
 * `manager`: the practices listed against them — view, report, switch backup mode.
 * `viewer`: read-only, over their ICB or their listed practices.
 */
export type Role = (typeof ROLES)[number];

export interface User {
  id: number;
  username: string;
  displayName: string;
  role: Role;
  /** ICB code (e.g. `QWO`) this user's scope covers; null with `ops` means every ICB. */
  icb: string | null;
  /** ODS codes listed against the user (managers, and viewers without an ICB). */
  practices: string[];
  disabled: boolean;
  /** A sealed break-glass account: works without the identity provider; every use raises an alert. */
  breakGlass: boolean;
  /** How the account signs in: a local password, or the OpenID Connect provider (subject). */
  source: 'local' | 'oidc';
  createdAt: number;
}

export interface Session {
  userId: number;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number;
  /** Sent back by the page on every state-changing request (double submit, bound to the session). */
  csrf: string;
}

export type TokenKind = 'display' | 'worker';

export interface ApiToken {
  id: number;
  kind: TokenKind;
  name: string;
  /** Display links show this ICB's practices (null: every practice). */
  icb: string | null;
  createdBy: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface AuditInput {
  at: number;
  /** Who did it: a username, `token:<name>`, `system`, or `anonymous@<address>`. */
  actor: string;
  /** Dotted verb, e.g. `auth.signin`, `auth.signin.failed`, `token.create`, `user.role.change`. */
  action: string;
  /** What it was done to, e.g. `user:jsmith`, `practice:A81001`, `token:12`. */
  subject: string | null;
  detail: Record<string, unknown>;
}

/** One entry of the append-only audit log; each entry's hash covers the previous hash. */
export interface AuditEntry extends AuditInput {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The part of the store that keeps accounts, sessions, tokens and the audit log. */
export interface AccountStore {
  createUser(input: {
    username: string;
    displayName: string;
    role: Role;
    icb: string | null;
    practices: string[];
    /** An scrypt hash from password.ts, or null for an OIDC-only account. */
    passwordHash: string | null;
    breakGlass?: boolean;
    source?: 'local' | 'oidc';
    now: number;
  }): Promise<User>;
  userById(id: number): Promise<User | null>;
  /** With the password hash, for sign-in only. */
  userForSignIn(username: string): Promise<{ user: User; passwordHash: string | null } | null>;
  listUsers(): Promise<User[]>;
  updateUser(
    id: number,
    patch: Partial<Pick<User, 'displayName' | 'role' | 'icb' | 'practices' | 'disabled'>> & { passwordHash?: string | null },
  ): Promise<User>;

  /** A new session; the returned secret goes in the cookie, only its SHA-256 is stored. */
  createSession(userId: number, now: number, ttlMs: number): Promise<{ secret: string; session: Session }>;
  /** The live session for a cookie secret (not expired, not revoked, user not disabled); touches lastSeenAt. */
  sessionBySecret(secret: string, now: number): Promise<{ session: Session; user: User } | null>;
  revokeSession(secret: string, now: number): Promise<void>;
  /** Sign-out everywhere; returns how many sessions ended. */
  revokeSessions(userId: number, now: number): Promise<number>;

  /** A new token; the secret is returned once, only its hash is stored. */
  createToken(input: { kind: TokenKind; name: string; icb: string | null; createdBy: string; now: number }): Promise<{
    secret: string;
    token: ApiToken;
  }>;
  /** The live token for a secret (not revoked); touches lastUsedAt. */
  tokenBySecret(secret: string, now: number): Promise<ApiToken | null>;
  listTokens(): Promise<ApiToken[]>;
  revokeToken(id: number, now: number): Promise<boolean>;

  appendAudit(input: AuditInput): Promise<AuditEntry>;
  /** Newest first. */
  auditEntries(limit: number, offset: number): Promise<AuditEntry[]>;
  /** The newest entry's seq and hash (seq 0 and the genesis hash when empty): what Pulse anchors outside the table. */
  auditHead(): Promise<{ seq: number; hash: string }>;
  /** Recomputes the chain; names the first entry that does not match. */
  verifyAudit(): Promise<{ ok: true; count: number } | { ok: false; seq: number; reason: string }>;
}
