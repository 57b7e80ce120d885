// The SQLite account store: users, sessions, tokens and the hash-chained audit log.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ACCOUNT_MIGRATIONS,
  AccountStoreError,
  GENESIS_HASH,
  SqliteAccountStore,
  auditHash,
} from '../../../server/store/sqlite/accounts';
import { migrate, openDatabase, type Db } from '../../../server/store/sqlite/db';

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;

let db: Db;
let store: SqliteAccountStore;

beforeEach(() => {
  db = openDatabase(':memory:');
  migrate(db, ACCOUNT_MIGRATIONS);
  store = new SqliteAccountStore(db);
});
afterEach(() => db.close());

function addUser(username = 'JSmith', extra: Partial<Parameters<SqliteAccountStore['createUser']>[0]> = {}) {
  return store.createUser({
    username,
    displayName: 'Jane Smith',
    role: 'manager',
    icb: 'QWO',
    practices: ['A81001', 'A81002'],
    passwordHash: 'scrypt$1024$8$1$c2FsdA==$aGFzaA==',
    now: T0,
    ...extra,
  });
}

describe('users', () => {
  it('creates a user with a lower-case username and reads it back by id, by name (any case) and in the list', async () => {
    const user = await addUser();
    expect(user).toEqual({
      id: user.id,
      username: 'jsmith',
      displayName: 'Jane Smith',
      role: 'manager',
      icb: 'QWO',
      practices: ['A81001', 'A81002'],
      disabled: false,
      breakGlass: false,
      source: 'local',
      createdAt: T0,
    });
    expect(await store.userById(user.id)).toEqual(user);
    expect(await store.userForSignIn('JSMITH')).toEqual({ user, passwordHash: 'scrypt$1024$8$1$c2FsdA==$aGFzaA==' });
    expect(await store.userForSignIn('nobody')).toBeNull();
    expect(await store.userById(999)).toBeNull();
    expect(await store.listUsers()).toEqual([user]);
  });

  it('refuses a second user whose name differs only in case', async () => {
    await addUser('jsmith');
    await expect(addUser('JSMITH')).rejects.toMatchObject({ code: 'USERNAME_TAKEN' });
    await expect(addUser('JSMITH')).rejects.toBeInstanceOf(AccountStoreError);
  });

  it('keeps break-glass and OIDC accounts apart from local ones', async () => {
    const glass = await addUser('breakglass-qwo', { role: 'ops', practices: [], breakGlass: true });
    const oidc = await addUser('a.jones@nhs.net', { passwordHash: null, source: 'oidc' });
    expect(glass.breakGlass).toBe(true);
    expect(oidc.source).toBe('oidc');
    expect((await store.userForSignIn('A.Jones@NHS.net'))?.passwordHash).toBeNull();
    expect((await store.listUsers()).map((u) => u.username)).toEqual(['a.jones@nhs.net', 'breakglass-qwo']);
  });

  it('updates only the fields given, and names a missing user', async () => {
    const user = await addUser();
    const updated = await store.updateUser(user.id, { role: 'viewer', icb: null, practices: ['A81003'], passwordHash: 'new' });
    expect(updated).toMatchObject({ role: 'viewer', icb: null, practices: ['A81003'], displayName: 'Jane Smith', disabled: false });
    expect((await store.userForSignIn('jsmith'))?.passwordHash).toBe('new');
    expect((await store.updateUser(user.id, { disabled: true })).disabled).toBe(true);
    await expect(store.updateUser(999, { disabled: true })).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  });
});

describe('sessions', () => {
  it('finds a live session by its secret, touches lastSeenAt, and ends it at expiry', async () => {
    const user = await addUser();
    const { secret, session } = await store.createSession(user.id, T0, 8 * HOUR);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session).toMatchObject({ userId: user.id, createdAt: T0, expiresAt: T0 + 8 * HOUR, lastSeenAt: T0 });
    expect(session.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const found = await store.sessionBySecret(secret, T0 + HOUR);
    expect(found?.user).toEqual(user);
    expect(found?.session).toEqual({ ...session, lastSeenAt: T0 + HOUR });
    expect((await store.sessionBySecret(secret, T0 + 2 * HOUR))?.session.lastSeenAt).toBe(T0 + 2 * HOUR);
    expect(await store.sessionBySecret(secret, T0 + 8 * HOUR)).toBeNull();
    expect(await store.sessionBySecret('not-a-session', T0)).toBeNull();
    expect(await store.sessionBySecret('', T0)).toBeNull();
  });

  it('stores only the SHA-256 of the secret', async () => {
    const user = await addUser();
    const { secret } = await store.createSession(user.id, T0, HOUR);
    const rows = db.prepare('SELECT * FROM sessions').all() as Record<string, unknown>[];
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(rows[0]!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ends one session, or all of a user’s sessions, and only theirs', async () => {
    const a = await addUser('alice');
    const b = await addUser('bob');
    const a1 = await store.createSession(a.id, T0, HOUR);
    const a2 = await store.createSession(a.id, T0, HOUR);
    const a3 = await store.createSession(a.id, T0, HOUR);
    const b1 = await store.createSession(b.id, T0, HOUR);
    await store.revokeSession(a1.secret, T0 + 1);
    expect(await store.sessionBySecret(a1.secret, T0 + 2)).toBeNull();
    expect(await store.sessionBySecret(a2.secret, T0 + 2)).not.toBeNull();
    expect(await store.revokeSessions(a.id, T0 + 3)).toBe(2);
    expect(await store.sessionBySecret(a2.secret, T0 + 4)).toBeNull();
    expect(await store.sessionBySecret(a3.secret, T0 + 4)).toBeNull();
    expect(await store.sessionBySecret(b1.secret, T0 + 4)).not.toBeNull();
    expect(await store.revokeSessions(a.id, T0 + 5)).toBe(0);
  });

  it('does not honour the sessions of a disabled user, even before they are revoked', async () => {
    const user = await addUser();
    const { secret } = await store.createSession(user.id, T0, HOUR);
    await store.updateUser(user.id, { disabled: true });
    expect(await store.sessionBySecret(secret, T0 + 1)).toBeNull();
    await store.updateUser(user.id, { disabled: false });
    expect(await store.sessionBySecret(secret, T0 + 2)).not.toBeNull();
  });

  it('prunes expired and revoked sessions', async () => {
    const user = await addUser();
    await store.createSession(user.id, T0, HOUR);
    const live = await store.createSession(user.id, T0, 10 * HOUR);
    const revoked = await store.createSession(user.id, T0, 10 * HOUR);
    await store.revokeSession(revoked.secret, T0 + 1);
    expect(await store.pruneSessions(T0 + 2 * HOUR)).toBe(2);
    expect(await store.sessionBySecret(live.secret, T0 + 2 * HOUR)).not.toBeNull();
  });
});

describe('tokens', () => {
  it('returns the secret once, stores only its hash, and finds the token by it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-accounts-'));
    const fileDb = openDatabase(dir);
    try {
      migrate(fileDb, ACCOUNT_MIGRATIONS);
      const fileStore = new SqliteAccountStore(fileDb);
      const { secret, token } = await fileStore.createToken({ kind: 'display', name: 'Wall 1', icb: 'QWO', createdBy: 'jsmith', now: T0 });
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(token).toEqual({ id: token.id, kind: 'display', name: 'Wall 1', icb: 'QWO', createdBy: 'jsmith', createdAt: T0, lastUsedAt: null, revokedAt: null });
      expect(JSON.stringify(token)).not.toContain(secret);
      expect(await fileStore.listTokens()).toEqual([token]);
      // Nowhere in the database files, in any encoding a reader might try.
      fileDb.pragma('wal_checkpoint(TRUNCATE)');
      for (const name of readdirSync(dir)) {
        const bytes = readFileSync(join(dir, name));
        expect(bytes.includes(Buffer.from(secret)), name).toBe(false);
        expect(bytes.includes(Buffer.from(secret, 'base64url')), name).toBe(false);
      }
      const found = await fileStore.tokenBySecret(secret, T0 + 5000);
      expect(found).toEqual({ ...token, lastUsedAt: T0 + 5000 });
      expect((await fileStore.listTokens())[0]!.lastUsedAt).toBe(T0 + 5000);
    } finally {
      fileDb.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no longer honours a revoked token', async () => {
    const { secret, token } = await store.createToken({ kind: 'worker', name: 'leeds-1', icb: null, createdBy: 'ops1', now: T0 });
    expect(await store.tokenBySecret(secret, T0)).not.toBeNull();
    expect(await store.revokeToken(token.id, T0 + 1)).toBe(true);
    expect(await store.revokeToken(token.id, T0 + 2)).toBe(false);
    expect(await store.revokeToken(999, T0 + 2)).toBe(false);
    expect(await store.tokenBySecret(secret, T0 + 3)).toBeNull();
    expect((await store.listTokens())[0]).toMatchObject({ revokedAt: T0 + 1, lastUsedAt: T0 });
    expect(await store.tokenBySecret('wrong', T0)).toBeNull();
  });
});

describe('audit log', () => {
  async function appendFive() {
    for (let i = 1; i <= 5; i++) {
      await store.appendAudit({ at: T0 + i, actor: 'jsmith', action: 'practice.backup.on', subject: `practice:A8100${i}`, detail: { n: i, note: 'x' } });
    }
  }

  it('chains each entry to the one before, starting from 64 zeros', async () => {
    const first = await store.appendAudit({ at: T0, actor: 'cli:root', action: 'user.create', subject: 'user:jsmith', detail: { b: 1, a: [2, { d: 3, c: 4 }] } });
    const second = await store.appendAudit({ at: T0 + 1, actor: 'system', action: 'auth.signin', subject: null, detail: {} });
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(second).toMatchObject({ seq: 2, prevHash: first.hash, subject: null });
    expect(auditHash(second)).toBe(second.hash);
    expect(await store.auditEntries(10, 0)).toEqual([second, first]);
    expect(await store.auditEntries(1, 1)).toEqual([first]);
    expect(await store.verifyAudit()).toEqual({ ok: true, count: 2 });
    expect(await store.auditHead()).toEqual({ seq: 2, hash: second.hash });
  });

  it('hashes the same detail the same whatever its key order, and stores what it hashed', async () => {
    const a = await store.appendAudit({ at: T0, actor: 'x', action: 'y', subject: null, detail: { b: 1, a: 2, skipped: undefined, when: new Date(T0) } });
    expect(a.detail).toEqual({ a: 2, b: 1, when: new Date(T0).toISOString() });
    const { hash: _h, ...rest } = a;
    expect(auditHash({ ...rest, detail: { a: 2, b: 1, when: new Date(T0).toISOString() } })).toBe(a.hash);
    expect(await store.verifyAudit()).toEqual({ ok: true, count: 1 });
  });

  it('keeps the chain intact when an attacker-chosen name carries broken Unicode', async () => {
    await store.appendAudit({ at: T0, actor: 'anonymous@10.0.0.1', action: 'auth.signin.failed', subject: 'user:\ud800evil', detail: { username: '\udc00x' } });
    expect(await store.verifyAudit()).toEqual({ ok: true, count: 1 });
  });

  it('refuses UPDATE and DELETE through SQL', async () => {
    await appendFive();
    expect(() => db.prepare("UPDATE audit SET actor = 'someone-else' WHERE seq = 2").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit WHERE seq = 2').run()).toThrow(/append-only/);
    expect(await store.verifyAudit()).toEqual({ ok: true, count: 5 });
  });

  // Someone with the file can drop the triggers; the chain must still show what they did.
  function dropTriggers() {
    db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
  }

  it('detects a changed detail', async () => {
    await appendFive();
    dropTriggers();
    db.prepare(`UPDATE audit SET detail = '{"n":3,"note":"nothing to see"}' WHERE seq = 3`).run();
    expect(await store.verifyAudit()).toEqual({ ok: false, seq: 3, reason: expect.stringMatching(/does not match its hash/) });
  });

  it('detects a changed actor even when the detail is untouched', async () => {
    await appendFive();
    dropTriggers();
    db.prepare(`UPDATE audit SET actor = 'someone-else' WHERE seq = 4`).run();
    expect(await store.verifyAudit()).toMatchObject({ ok: false, seq: 4 });
  });

  it('detects a deleted entry, in the middle or at the start', async () => {
    await appendFive();
    dropTriggers();
    db.prepare('DELETE FROM audit WHERE seq = 3').run();
    expect(await store.verifyAudit()).toEqual({ ok: false, seq: 4, reason: expect.stringMatching(/entry 3 is missing/) });
    db.prepare('DELETE FROM audit WHERE seq = 1').run();
    expect(await store.verifyAudit()).toMatchObject({ ok: false, seq: 2 });
  });

  it('detects entries swapped or renumbered, and a forged entry inserted', async () => {
    await appendFive();
    dropTriggers();
    // Swap 2 and 3 (renumber through a free seq).
    db.exec('UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 100;');
    expect(await store.verifyAudit()).toMatchObject({ ok: false, seq: 2 });
  });

  it('detects a forged entry slipped in with a correct hash of its own', async () => {
    await appendFive();
    dropTriggers();
    // Shift 3..5 up one and insert a well-formed entry 3 chained to entry 2.
    for (const seq of [5, 4, 3]) db.prepare('UPDATE audit SET seq = ? WHERE seq = ?').run(seq + 1, seq);
    const two = (await store.auditEntries(10, 0)).find((e) => e.seq === 2)!;
    const forged = { seq: 3, at: T0 + 2, actor: 'ops1', action: 'user.create', subject: 'user:mallory', detail: {}, prevHash: two.hash };
    db.prepare('INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      forged.seq, forged.at, forged.actor, forged.action, forged.subject, '{}', forged.prevHash, auditHash(forged),
    );
    expect(await store.verifyAudit()).toMatchObject({ ok: false, seq: 4 });
  });

  it('keeps one unbroken chain when two connections append to the same file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-audit-'));
    const one = openDatabase(dir);
    const two = openDatabase(dir);
    try {
      migrate(one, ACCOUNT_MIGRATIONS);
      migrate(two, ACCOUNT_MIGRATIONS);
      const a = new SqliteAccountStore(one);
      const b = new SqliteAccountStore(two);
      for (let i = 0; i < 20; i++) {
        await (i % 2 ? a : b).appendAudit({ at: T0 + i, actor: i % 2 ? 'server' : 'cli:root', action: 'x', subject: null, detail: { i } });
      }
      expect(await a.verifyAudit()).toEqual({ ok: true, count: 20 });
    } finally {
      one.close();
      two.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
