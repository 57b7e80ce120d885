// Store part for people and machines that use Pulse: user accounts, sign-in sessions, API
// tokens (wall displays, probe workers), and the append-only, hash-chained audit log.
// Must never: store a session or token secret (only its SHA-256), return a password hash
// except to sign-in, or change or remove an audit entry once written.
import { createHash, randomBytes } from 'node:crypto';
import type { AccountStore, ApiToken, AuditEntry, AuditInput, Role, Session, TokenKind, User } from '../../auth/types';
import type { Db, Migration } from './db';
import { classifySqliteError } from './errors';

export const ACCOUNT_MIGRATIONS: Migration[] = [
  {
    id: 'accounts-1',
    sql: `CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('ops', 'manager', 'viewer')),
            icb TEXT,
            practices TEXT NOT NULL DEFAULT '[]',
            password_hash TEXT,
            disabled INTEGER NOT NULL DEFAULT 0,
            break_glass INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL CHECK (source IN ('local', 'oidc')),
            created_at INTEGER NOT NULL
          );
          CREATE TABLE sessions (
            secret_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id),
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            last_seen_at INTEGER NOT NULL,
            revoked_at INTEGER,
            csrf TEXT NOT NULL
          );
          CREATE INDEX sessions_user ON sessions (user_id);
          CREATE TABLE tokens (
            id INTEGER PRIMARY KEY,
            secret_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('display', 'worker')),
            name TEXT NOT NULL,
            icb TEXT,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            revoked_at INTEGER
          );
          CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
          );
          -- Defence in depth: through SQL the log only grows. Someone with the file can drop
          -- these; the hash chain is what shows they did.
          CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
          CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
  },
];

/** The prevHash of the first audit entry. */
export const GENESIS_HASH = '0'.repeat(64);

export type AccountErrorCode = 'USERNAME_TAKEN' | 'USER_NOT_FOUND' | 'INVALID_INPUT';

export class AccountStoreError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AccountStoreError';
  }
}

/** Usernames are case-insensitive: stored, and looked up, lower-case. */
export function canonicalUsername(username: string): string {
  return username.trim().toLowerCase();
}

/** 32 random bytes, base64url: the only copy goes to the caller. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Anything but a plausible secret is not looked up at all. */
function secretHash(secret: unknown): string | null {
  return typeof secret === 'string' && secret.length > 0 && secret.length <= 256 ? sha256(secret) : null;
}

/** JSON with object keys sorted at every level, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * Lone UTF-16 surrogates become U+FFFD. SQLite stores text as UTF-8, where they cannot exist,
 * so without this a crafted username in an audit subject would read back different from what
 * was hashed, and the chain would look tampered with.
 */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The hash of one audit entry: SHA-256 over the canonical JSON of its fields and the previous hash. */
export function auditHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256(
    canonicalJson({
      seq: entry.seq,
      at: entry.at,
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject,
      detail: entry.detail,
      prevHash: entry.prevHash,
    }),
  );
}

interface UserRow {
  id: number;
  username: string;
  display_name: string;
  role: Role;
  icb: string | null;
  practices: string;
  password_hash: string | null;
  disabled: number;
  break_glass: number;
  source: 'local' | 'oidc';
  created_at: number;
}

interface SessionRow {
  secret_hash: string;
  user_id: number;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  revoked_at: number | null;
  csrf: string;
}

interface TokenRow {
  id: number;
  secret_hash: string;
  kind: TokenKind;
  name: string;
  icb: string | null;
  created_by: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  detail: string;
  prev_hash: string;
  hash: string;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role,
    icb: row.icb,
    practices: JSON.parse(row.practices) as string[],
    disabled: row.disabled === 1,
    breakGlass: row.break_glass === 1,
    source: row.source,
    createdAt: row.created_at,
  };
}

function toSession(row: SessionRow): Session {
  return {
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastSeenAt: row.last_seen_at,
    csrf: row.csrf,
  };
}

function toToken(row: TokenRow): ApiToken {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    icb: row.icb,
    createdBy: row.created_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export class SqliteAccountStore implements AccountStore {
  private readonly appendTx: (input: AuditInput) => AuditEntry;

  constructor(private readonly db: Db) {
    // IMMEDIATE takes the write lock before reading the chain's head, so a second process on
    // the same file (the users CLI beside a running server) cannot fork the chain.
    const append = db.transaction((input: AuditInput): AuditEntry => {
      const head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string }
        | undefined;
      // Round-trip through JSON first, so the entry hashed is exactly the entry stored and read back.
      const detail = JSON.parse(canonicalJson(input.detail ?? {})) as Record<string, unknown>;
      const unhashed = {
        seq: (head?.seq ?? 0) + 1,
        at: input.at,
        actor: wellFormed(input.actor),
        action: wellFormed(input.action),
        subject: input.subject == null ? null : wellFormed(input.subject),
        detail,
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const entry: AuditEntry = { ...unhashed, hash: auditHash(unhashed) };
      db.prepare(
        'INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(entry.seq, entry.at, entry.actor, entry.action, entry.subject, canonicalJson(detail), entry.prevHash, entry.hash);
      return entry;
    });
    this.appendTx = (input) => append.immediate(input);
  }

  // ---- users ----

  async createUser(input: Parameters<AccountStore['createUser']>[0]): Promise<User> {
    const username = canonicalUsername(input.username);
    if (username === '') throw new AccountStoreError('INVALID_INPUT', 'a username cannot be empty');
    try {
      const result = this.db
        .prepare(
          `INSERT INTO users (username, display_name, role, icb, practices, password_hash, disabled, break_glass, source, created_at)
           VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
        )
        .run(
          username,
          input.displayName,
          input.role,
          input.icb,
          JSON.stringify(input.practices),
          input.passwordHash,
          input.breakGlass ? 1 : 0,
          input.source ?? 'local',
          input.now,
        );
      return (await this.userById(Number(result.lastInsertRowid)))!;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new AccountStoreError('USERNAME_TAKEN', `the username "${username}" is already taken`);
      }
      throw err;
    }
  }

  async userById(id: number): Promise<User | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  /** Also returns disabled accounts: the sign-in route decides, after the same work either way. */
  async userForSignIn(username: string): Promise<{ user: User; passwordHash: string | null } | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(canonicalUsername(username)) as
      | UserRow
      | undefined;
    return row ? { user: toUser(row), passwordHash: row.password_hash } : null;
  }

  async listUsers(): Promise<User[]> {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
  }

  async updateUser(
    id: number,
    patch: Partial<Pick<User, 'displayName' | 'role' | 'icb' | 'practices' | 'disabled'>> & { passwordHash?: string | null },
  ): Promise<User> {
    const sets: string[] = [];
    const values: unknown[] = [];
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (patch.displayName !== undefined) set('display_name', patch.displayName);
    if (patch.role !== undefined) set('role', patch.role);
    if (patch.icb !== undefined) set('icb', patch.icb);
    if (patch.practices !== undefined) set('practices', JSON.stringify(patch.practices));
    if (patch.disabled !== undefined) set('disabled', patch.disabled ? 1 : 0);
    if (patch.passwordHash !== undefined) set('password_hash', patch.passwordHash);
    if (sets.length > 0) this.db.prepare(`UPDATE users SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
    const user = await this.userById(id);
    if (!user) throw new AccountStoreError('USER_NOT_FOUND', `no user with id ${id}`);
    return user;
  }

  // ---- sessions ----

  async createSession(userId: number, now: number, ttlMs: number): Promise<{ secret: string; session: Session }> {
    const secret = newSecret();
    const session: Session = {
      userId,
      createdAt: now,
      expiresAt: now + ttlMs,
      lastSeenAt: now,
      csrf: randomBytes(32).toString('base64url'),
    };
    this.db
      .prepare(
        'INSERT INTO sessions (secret_hash, user_id, created_at, expires_at, last_seen_at, csrf) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(sha256(secret), userId, session.createdAt, session.expiresAt, session.lastSeenAt, session.csrf);
    return { secret, session };
  }

  async sessionBySecret(secret: string, now: number): Promise<{ session: Session; user: User } | null> {
    const hash = secretHash(secret);
    if (!hash) return null;
    const row = this.db
      .prepare(
        `SELECT s.secret_hash AS s_hash, s.user_id AS s_user_id, s.created_at AS s_created_at, s.expires_at AS s_expires_at,
                s.last_seen_at AS s_last_seen_at, s.revoked_at AS s_revoked_at, s.csrf AS s_csrf, u.*
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.secret_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = 0`,
      )
      .get(hash, now) as (UserRow & Record<`s_${string}`, unknown>) | undefined;
    if (!row) return null;
    try {
      this.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE secret_hash = ?').run(now, hash);
    } catch (err) {
      // Last-seen is a convenience: a full or read-only disk must not turn every signed-in read into an error.
      if (classifySqliteError(err) === null) throw err;
    }
    const session = toSession({
      secret_hash: hash,
      user_id: row.s_user_id as number,
      created_at: row.s_created_at as number,
      expires_at: row.s_expires_at as number,
      last_seen_at: now,
      revoked_at: null,
      csrf: row.s_csrf as string,
    });
    return { session, user: toUser(row) };
  }

  async revokeSession(secret: string, now: number): Promise<void> {
    const hash = secretHash(secret);
    if (!hash) return;
    this.db.prepare('UPDATE sessions SET revoked_at = ? WHERE secret_hash = ? AND revoked_at IS NULL').run(now, hash);
  }

  async revokeSessions(userId: number, now: number): Promise<number> {
    return this.db
      .prepare('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?')
      .run(now, userId, now).changes;
  }

  /** Deletes sessions that expired or were revoked before `before`; returns how many. Not in the contract: housekeeping. */
  async pruneSessions(before: number): Promise<number> {
    return this.db
      .prepare('DELETE FROM sessions WHERE expires_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)')
      .run(before, before).changes;
  }

  // ---- tokens ----

  async createToken(input: {
    kind: TokenKind;
    name: string;
    icb: string | null;
    createdBy: string;
    now: number;
  }): Promise<{ secret: string; token: ApiToken }> {
    const secret = newSecret();
    const result = this.db
      .prepare('INSERT INTO tokens (secret_hash, kind, name, icb, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(sha256(secret), input.kind, input.name, input.icb, input.createdBy, input.now);
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(Number(result.lastInsertRowid)) as TokenRow;
    return { secret, token: toToken(row) };
  }

  async tokenBySecret(secret: string, now: number): Promise<ApiToken | null> {
    const hash = secretHash(secret);
    if (!hash) return null;
    const row = this.db.prepare('SELECT * FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL').get(hash) as
      | TokenRow
      | undefined;
    if (!row) return null;
    try {
      this.db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now, row.id);
    } catch (err) {
      // Last-used is a convenience: a full or read-only disk must not blank every wall display.
      if (classifySqliteError(err) === null) throw err;
    }
    return toToken({ ...row, last_used_at: now });
  }

  async listTokens(): Promise<ApiToken[]> {
    return (this.db.prepare('SELECT * FROM tokens ORDER BY id').all() as TokenRow[]).map(toToken);
  }

  async revokeToken(id: number, now: number): Promise<boolean> {
    return this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0;
  }

  // ---- audit ----

  async appendAudit(input: AuditInput): Promise<AuditEntry> {
    return this.appendTx(input);
  }

  /**
   * Appends now, synchronously, for another part of the store that writes its own rows and
   * the audit entry in one transaction (inside a transaction this becomes a savepoint).
   */
  appendAuditNow(input: AuditInput): AuditEntry {
    return this.appendTx(input);
  }

  async auditEntries(limit: number, offset: number): Promise<AuditEntry[]> {
    const rows = this.db
      .prepare('SELECT * FROM audit ORDER BY seq DESC LIMIT ? OFFSET ?')
      .all(Math.max(0, Math.floor(limit)), Math.max(0, Math.floor(offset))) as AuditRow[];
    return rows.map(toAuditEntry);
  }

  /**
   * The newest entry's seq and hash. A hash chain alone cannot show that the newest entries
   * were cut off, or that the whole tail was rewritten by someone with the file: record this
   * head somewhere else now and then (the log, a ticket) and compare. Not in the contract.
   */
  async auditHead(): Promise<{ seq: number; hash: string }> {
    const head = this.db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; hash: string }
      | undefined;
    return head ?? { seq: 0, hash: GENESIS_HASH };
  }

  async verifyAudit(): Promise<{ ok: true; count: number } | { ok: false; seq: number; reason: string }> {
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let count = 0;
    for (const row of this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<AuditRow>) {
      if (row.seq !== expectedSeq) {
        const missing = row.seq > expectedSeq ? `entry ${expectedSeq} is missing` : `entry ${row.seq} is out of order`;
        return { ok: false, seq: row.seq, reason: `${missing}: expected seq ${expectedSeq}, found ${row.seq}` };
      }
      if (row.prev_hash !== prevHash) {
        return { ok: false, seq: row.seq, reason: "its prev_hash is not the previous entry's hash (an entry before it was removed, replaced or inserted)" };
      }
      let detail: Record<string, unknown>;
      try {
        detail = JSON.parse(row.detail) as Record<string, unknown>;
      } catch {
        return { ok: false, seq: row.seq, reason: 'its detail is not valid JSON' };
      }
      const hash = auditHash({
        seq: row.seq,
        at: row.at,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        detail,
        prevHash: row.prev_hash,
      });
      if (hash !== row.hash) return { ok: false, seq: row.seq, reason: 'its content does not match its hash (the entry was changed)' };
      prevHash = row.hash;
      expectedSeq += 1;
      count += 1;
    }
    return { ok: true, count };
  }
}
