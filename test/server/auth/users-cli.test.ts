// `npm run users`, as an operator meets it: a real process on a temporary data folder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../../server/auth/password';
import { ACCOUNT_MIGRATIONS, SqliteAccountStore } from '../../../server/store/sqlite/accounts';
import { migrate, openDatabase } from '../../../server/store/sqlite/db';
import { runUsersCli } from '../../../server/users-cli';

const root = mkdtempSync(join(tmpdir(), 'pulse-users-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function users(dataDir: string, args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'server/users-cli.ts', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, PULSE_DATA_DIR: dataDir, PULSE_CONFIG: '', ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The same command line in this process: for the many bad-input cases, where a process per
 * case would only add seconds. A low scrypt cost keeps it fast.
 */
async function usersHere(dataDir: string, args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const status = await runUsersCli(args, {
    env: { PULSE_DATA_DIR: dataDir, ...options.env },
    out: (line) => stdout.push(`${line}\n`),
    err: (line) => stderr.push(`${line}\n`),
    readPassword: async () => (options.input ?? '').split('\n')[0]!,
    actor: 'cli:test',
    hashOptions: { N: 2 ** 10 },
  });
  return { status, stdout: stdout.join(''), stderr: stderr.join('') };
}

/** Opens the data folder the way Pulse does, for a look inside. */
async function withStore<T>(dataDir: string, fn: (store: SqliteAccountStore) => Promise<T>): Promise<T> {
  const db = openDatabase(dataDir);
  try {
    migrate(db, ACCOUNT_MIGRATIONS);
    return await fn(new SqliteAccountStore(db));
  } finally {
    db.close();
  }
}

function expectOneLineError(result: { status: number | null; stdout: string; stderr: string }, pattern: RegExp) {
  expect(result.status).toBe(2);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^pulse users: /);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

const GENERATED = /\(shown once[^)]*\): ([a-z2-9]{5}(?:-[a-z2-9]{5})+)$/m;

describe('users add, list, disable, enable, reset, role', () => {
  const dir = join(root, 'main');

  it('adds a manager with a generated password, printed once and stored as a hash', async () => {
    const result = users(dir, ['add', 'JSmith', '--role', 'manager', '--practices', 'a81001,A81002', '--name', 'Jane Smith']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('created jsmith: manager for 2 practice(s)');
    const password = GENERATED.exec(result.stdout)?.[1];
    expect(password).toMatch(/^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);
    await withStore(dir, async (store) => {
      const found = await store.userForSignIn('jsmith');
      expect(found?.user).toMatchObject({ role: 'manager', icb: null, practices: ['A81001', 'A81002'], displayName: 'Jane Smith' });
      expect(found?.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
      expect(await verifyPassword(password!, found!.passwordHash!)).toBe(true);
    });
  });

  it('takes a password from stdin, checked against the policy', async () => {
    const ok = users(dir, ['add', 'viewer1', '--role', 'viewer', '--icb', 'qwo', '--password-stdin'], { input: 'correct horse battery staple\n' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).not.toMatch(/shown once/);
    await withStore(dir, async (store) => {
      const found = await store.userForSignIn('viewer1');
      expect(found?.user).toMatchObject({ role: 'viewer', icb: 'QWO' });
      expect(await verifyPassword('correct horse battery staple', found!.passwordHash!)).toBe(true);
    });
    expectOneLineError(
      users(dir, ['add', 'viewer2', '--role', 'viewer', '--icb', 'QWO', '--password-stdin'], { input: 'Password2024!\n' }),
      /common password/,
    );
    expectOneLineError(
      await usersHere(dir, ['add', 'viewer2', '--role', 'viewer', '--icb', 'QWO', '--password-stdin'], { input: 'tooshort\n' }),
      /at least 12 characters/,
    );
    await withStore(dir, async (store) => expect(await store.userForSignIn('viewer2')).toBeNull());
  });

  it('rejects a bad role in a real process: one line, exit code 2, nothing on stdout', () => {
    const result = users(dir, ['add', 'someone', '--role', 'admin', '--icb', 'QWO']);
    expectOneLineError(result, /--role must be one of ops, manager, viewer, not "admin"/);
    expect(result.stdout).toBe('');
  });

  it('rejects other bad input with one line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['add', 'someone', '--role', 'manager'], /a manager needs at least one practice/],
      [['add', 'someone', '--role', 'viewer'], /a viewer needs --icb/],
      [['add', 'someone', '--role', 'ops'], /an ops user needs --icb CODE, or --national/],
      [['add', 'someone', '--role', 'viewer', '--national'], /--national is for ops only/],
      [['add', 'someone', '--role', 'ops', '--icb', 'QWO', '--practices', 'A81001'], /--practices is for managers/],
      [['add', 'someone', '--role', 'viewer', '--practices', 'X1'], /"X1" is not an ODS practice code/],
      [['add', 'someone', '--role', 'viewer', '--icb', 'Q W O'], /is not an ICB code/],
      [['add', 'someone', '--role', 'viewer', '--icb', 'QWO', '--name', 'evil\u001b[2J'], /--name must be/],
      [['add', 'x', '--role', 'viewer', '--icb', 'QWO'], /"x" is not a valid username/],
      [['add', 'JSMITH', '--role', 'viewer', '--icb', 'QWO'], /user "jsmith" already exists/],
      [['add', 'breakglass-qwo', '--role', 'ops', '--icb', 'QWO'], /kept for add-break-glass/],
      [['add', 'someone'], /--role is required/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [[], /no command given/],
      [['list', '--role', 'ops'], /list does not take --role/],
      [['list', '--bogus'], /Unknown option '--bogus'/],
      [['list', 'extra'], /list takes no arguments/],
      [['disable'], /disable needs <username>/],
      [['disable', 'nobody'], /no user "nobody"/],
      [['audit', '--limit', 'lots'], /--limit must be a whole number/],
    ];
    for (const [args, pattern] of cases) expectOneLineError(await usersHere(dir, args), pattern);
  });

  it('makes a national ops account only when asked with --national', async () => {
    const result = users(dir, ['add', 'nationalops', '--role', 'ops', '--national']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('ops for every ICB (national)');
    await withStore(dir, async (store) => expect((await store.userForSignIn('nationalops'))?.user.icb).toBeNull());
  });

  it('lists users as a table', () => {
    const result = users(dir, ['list']);
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^USERNAME\s+NAME\s+ROLE\s+ICB\s+PRACTICES\s+DISABLED\s+BREAK-GLASS\s+SOURCE$/);
    expect(lines.find((l) => l.startsWith('jsmith '))).toMatch(/^jsmith\s+Jane Smith\s+manager\s+-\s+2\s+no\s+no\s+local$/);
    expect(lines.find((l) => l.startsWith('nationalops '))).toMatch(/ops\s+\(national\)\s+0\s+no\s+no\s+local$/);
  });

  it('disables a user and ends their sessions; enables them again', async () => {
    const secret = await withStore(dir, async (store) => {
      const user = (await store.userForSignIn('jsmith'))!.user;
      return (await store.createSession(user.id, Date.now(), 3_600_000)).secret;
    });
    const result = users(dir, ['disable', 'JSmith']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('disabled jsmith; signed out of 1 session(s)');
    expect(users(dir, ['list']).stdout).toMatch(/^jsmith\s+.*\s+yes\s+no\s+local$/m);
    expect(users(dir, ['enable', 'jsmith']).stdout).toContain('enabled jsmith');
    // Enabling does not bring the ended session back.
    await withStore(dir, async (store) => expect(await store.sessionBySecret(secret, Date.now())).toBeNull());
  });

  it('resets a password and ends sessions', async () => {
    const before = await withStore(dir, async (store) => {
      const found = (await store.userForSignIn('jsmith'))!;
      await store.createSession(found.user.id, Date.now(), 3_600_000);
      return found.passwordHash;
    });
    const result = users(dir, ['reset', 'jsmith']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('new password set for jsmith; signed out of 1 session(s)');
    const password = GENERATED.exec(result.stdout)?.[1];
    await withStore(dir, async (store) => {
      const after = (await store.userForSignIn('jsmith'))!.passwordHash!;
      expect(after).not.toBe(before);
      expect(await verifyPassword(password!, after)).toBe(true);
    });
    expectOneLineError(await usersHere(dir, ['reset', 'jsmith', '--password-stdin'], { input: 'jsmith-is-my-password\n' }), /must not contain the username/);
  });

  it('changes role and scope, recording before and after', async () => {
    const result = users(dir, ['role', 'jsmith', '--role', 'ops', '--icb', 'QWO']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('jsmith is now ops for ICB QWO');
    expectOneLineError(await usersHere(dir, ['role', 'viewer1', '--role', 'ops', '--national', '--icb', 'QWO']), /either --icb or --national/);
    expectOneLineError(await usersHere(dir, ['role', 'viewer1', '--role', 'manager']), /a manager needs at least one practice/);
    // A viewer of QWO made ops keeps QWO; it never becomes national by leaving a flag out.
    expectOneLineError(await usersHere(dir, ['role', 'nationalops', '--role', 'ops']), /--national for every ICB/);
    expect((await usersHere(dir, ['role', 'viewer1', '--role', 'viewer', '--icb', 'QWO'])).stdout).toMatch(/nothing changed/);
    await withStore(dir, async (store) => {
      expect((await store.userForSignIn('jsmith'))?.user).toMatchObject({ role: 'ops', icb: 'QWO', practices: [] });
      const [latest] = await store.auditEntries(1, 0);
      expect(latest).toMatchObject({
        action: 'user.role.change',
        subject: 'user:jsmith',
        detail: { before: { role: 'manager', icb: null, practices: ['A81001', 'A81002'] }, after: { role: 'ops', icb: 'QWO', practices: [] } },
      });
    });
  });

  it('audits every change as cli:<os user>, and verifies the chain', async () => {
    await withStore(dir, async (store) => {
      const entries = (await store.auditEntries(100, 0)).reverse();
      expect(entries.map((e) => e.action)).toEqual([
        'user.create',
        'user.create',
        'user.create',
        'user.disable',
        'user.enable',
        'user.password.reset',
        'user.role.change',
      ]);
      for (const e of entries) expect(e.actor).toMatch(/^cli:.+/);
      expect(entries[3]!.detail).toEqual({ sessionsEnded: 1 });
    });
    const shown = users(dir, ['audit', '--limit', '2']);
    expect(shown.status).toBe(0);
    expect(shown.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(shown.stdout).toMatch(/^#7 .*user\.role\.change\s+user:jsmith/m);
    const verified = users(dir, ['audit-verify']);
    expect(verified.status).toBe(0);
    expect(verified.stdout).toMatch(/^audit log intact: 7 entries; head #7 [0-9a-f]{64}$/m);
  });

  it('audit-verify names the first bad entry and exits 1 after tampering', () => {
    const db = openDatabase(dir);
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare(`UPDATE audit SET detail = '{"sessionsEnded":0}' WHERE seq = 4`).run();
    db.close();
    const result = users(dir, ['audit-verify']);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('pulse users: the audit log is broken at seq 4: its content does not match its hash (the entry was changed)\n');
  });
});

describe('users add-break-glass', () => {
  const dir = join(root, 'glass');

  it('creates one sealed account per ICB, and refuses a second', async () => {
    const result = users(dir, ['add-break-glass', '--icb', 'QWO']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('created break-glass account breakglass-qwo: ops for ICB QWO');
    expect(result.stdout).toMatch(/Seal it now/);
    const password = GENERATED.exec(result.stdout)?.[1];
    expect(password).toMatch(/^[a-z2-9]{5}(-[a-z2-9]{5}){5}$/);
    await withStore(dir, async (store) => {
      const found = (await store.userForSignIn('breakglass-qwo'))!;
      expect(found.user).toMatchObject({ role: 'ops', icb: 'QWO', breakGlass: true, source: 'local' });
      expect(await verifyPassword(password!, found.passwordHash!)).toBe(true);
      expect((await store.auditEntries(1, 0))[0]).toMatchObject({ action: 'user.breakglass.create', subject: 'user:breakglass-qwo' });
    });
    expectOneLineError(await usersHere(dir, ['add-break-glass', '--icb', 'qwo']), /breakglass-qwo already exists; .*reset breakglass-qwo/);
    expectOneLineError(await usersHere(dir, ['add-break-glass']), /needs --icb/);
    expectOneLineError(await usersHere(dir, ['role', 'breakglass-qwo', '--role', 'viewer', '--icb', 'QWO']), /break-glass account/);
  });
});

describe('users with an estate file', () => {
  const dir = join(root, 'estate');
  const estate = join(root, 'estate.yaml');
  writeFileSync(
    estate,
    `services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
practices:
  - { ods: A81001, name: One, pcn: P1, icb: QWO, system: emis-web }
  - { ods: A81002, name: Two, pcn: P1, icb: QWO, system: emis-web }
  - { ods: B82001, name: Three, pcn: P2, icb: QOP, system: emis-web }
`,
  );

  it('checks ICB and ODS codes against the estate', async () => {
    expectOneLineError(
      await usersHere(dir, ['add', 'a1', '--role', 'viewer', '--icb', 'QXX', '--config', estate]),
      /unknown ICB "QXX" in .*estate\.yaml \(known: QOP, QWO\)/,
    );
    expectOneLineError(await usersHere(dir, ['add', 'a1', '--role', 'manager', '--practices', 'A81009', '--config', estate]), /unknown practice A81009/);
    expectOneLineError(
      await usersHere(dir, ['add', 'a1', '--role', 'manager', '--icb', 'QWO', '--practices', 'A81001,B82001'], { env: { PULSE_CONFIG: estate } }),
      /B82001 is in ICB QOP, not QWO/,
    );
    const ok = await usersHere(dir, ['add', 'a1', '--role', 'manager', '--icb', 'qwo', '--practices', 'A81001,A81002', '--config', estate]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('created a1: manager for ICB QWO and 2 practice(s)');
  });

  it('reports a broken estate file in one line', () => {
    expectOneLineError(users(dir, ['list', '--config', join(root, 'missing.yaml')]), /missing\.yaml: file not found/);
  });
});

describe('users-cli module', () => {
  it('does not run when imported, and exports its commands', async () => {
    const before = process.exitCode;
    const cli = await import('../../../server/users-cli');
    expect(process.exitCode).toBe(before);
    expect(typeof cli.runUsersCli).toBe('function');
    expect(typeof cli.addUser).toBe('function');
  });

  it('does not create a database for a read-only command on a wrong path', async () => {
    expectOneLineError(await usersHere(join(root, 'nowhere'), ['audit-verify']), /no Pulse database at .*nowhere\/pulse\.db/);
  });
});
