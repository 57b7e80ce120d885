// Issue 13 (10): cutting the newest audit entries off is noticed, because the chain's head is
// anchored outside the table (audit-anchor.json in the data folder, written with each state save).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import { auditAnchorPath, readAuditAnchor, writeAuditAnchor } from '../../../server/auth/audit-anchor';
import { ACCOUNT_MIGRATIONS, SqliteAccountStore } from '../../../server/store/sqlite/accounts';
import { migrate, openDatabase } from '../../../server/store/sqlite/db';
import { runUsersCli } from '../../../server/users-cli';

const root = mkdtempSync(join(tmpdir(), 'pulse-audit-anchor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const AT = Date.UTC(2026, 11, 4, 0, 30);

/** A data folder with `count` audit entries and, if asked, the head anchored after `anchorAt` of them. */
async function logWith(count: number, anchorAfter?: number): Promise<string> {
  const dir = mkdtempSync(join(root, 'data-'));
  const db = openDatabase(dir);
  try {
    migrate(db, ACCOUNT_MIGRATIONS);
    const store = new SqliteAccountStore(db);
    for (let i = 1; i <= count; i += 1) {
      await store.appendAudit({ at: AT + i, actor: 'system', action: 'test.entry', subject: null, detail: { i } });
      if (i === anchorAfter) writeAuditAnchor(dir, await store.auditHead(), AT + i);
    }
  } finally {
    db.close();
  }
  return dir;
}

function sql(dir: string, ...statements: string[]): void {
  const db = openDatabase(dir);
  try {
    for (const s of statements) db.exec(s);
  } finally {
    db.close();
  }
}

async function verify(dir: string) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const status = await runUsersCli(['audit-verify'], {
    env: { PULSE_DATA_DIR: dir },
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    readPassword: async () => '',
    actor: 'cli:test',
  });
  return { status, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

describe('audit-verify against the anchored head', () => {
  it('reports the newest entries cut off with SQL: where the log ends, what was anchored and when, how many are missing', async () => {
    const dir = await logWith(30, 30);
    sql(dir, 'DROP TRIGGER audit_no_delete', 'DELETE FROM audit WHERE seq > 4');
    const result = await verify(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /audit log ends at sequence 4 but Pulse anchored 30 \(hash [0-9a-f]{16}…\) at 2026-12-04T00:30:00\.030Z: 26 newest entries are missing/,
    );
  });

  it('reports an anchored entry whose hash is not the anchored one (the tail rewritten and rehashed)', async () => {
    const dir = await logWith(5, 5);
    const anchor = readAuditAnchor(dir);
    if (anchor.kind !== 'ok') throw new Error('no anchor written');
    writeAuditAnchor(dir, { seq: 5, hash: 'f'.repeat(64) }, anchor.anchor.at);
    const result = await verify(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/entry 5 has hash [0-9a-f]{16}… but Pulse anchored ffffffffffffffff… at 2026-12-04T00:30:00\.005Z/);
  });

  it('passes an honest log whose anchor lags the table, and says by how much', async () => {
    const dir = await logWith(12, 9);
    const result = await verify(dir);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^audit log intact: 12 entries; head #12 [0-9a-f]{64}$/m);
    expect(result.stdout).toMatch(/anchored head #9 .* matches; 3 entries written since/);
  });

  it('still verifies the chain as before: a changed entry is named even when the anchor matches', async () => {
    const dir = await logWith(6, 6);
    sql(dir, 'DROP TRIGGER audit_no_update', `UPDATE audit SET detail = '{"i":99}' WHERE seq = 2`);
    const result = await verify(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/broken at seq 2: its content does not match its hash/);
  });

  it('with no anchor file says so and passes on the chain alone', async () => {
    const dir = await logWith(3);
    const result = await verify(dir);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/no anchor at .*audit-anchor\.json/);
  });

  it('an unreadable anchor file is a clear failure naming the file', async () => {
    const dir = await logWith(3, 3);
    writeFileSync(auditAnchorPath(dir), '{not json');
    const result = await verify(dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/audit-anchor\.json: not valid JSON/);
  });
});

describe('a running Pulse anchors the audit head with each state save', () => {
  const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside Medical Practice, pcn: North, system: emis-web }
`;
  it('in audit-anchor.json, in the engine snapshot and as pulse_audit_head_sequence; audit:verify then catches a cut', async () => {
    const dir = mkdtempSync(join(root, 'pulse-'));
    const store = new SqliteStore(dir);
    let now = AT;
    const pulse = createPulse({
      estate: parseEstate(ESTATE, 'e.yaml'),
      store,
      auditAnchorDir: dir,
      clock: { now: () => now },
      log: silentLogger,
      workerToken: 'w',
    });
    await pulse.restore();
    for (let i = 1; i <= 7; i += 1) await store.accounts.appendAudit({ at: AT, actor: 'system', action: 'test.entry', subject: null, detail: { i } });
    now = AT + 60_000;
    await pulse.saveState();

    const anchor = readAuditAnchor(dir);
    expect(anchor).toEqual({ kind: 'ok', anchor: { version: 1, ...(await store.accounts.auditHead()), at: AT + 60_000 } });
    const saved = await store.signals.loadSnapshot();
    expect(JSON.parse(saved!.body).auditHead).toMatchObject({ seq: 7, at: AT + 60_000 });
    const metrics = await (await pulse.app.request('/metrics')).text();
    expect(metrics).toMatch(/^pulse_audit_head_sequence 7$/m);
    expect(metrics).toMatch(/^pulse_audit_head_anchored_timestamp_seconds 1796344260$/m);
    pulse.close('test over');
    await store.close();

    expect((await verify(dir)).status).toBe(0);
    sql(dir, 'DROP TRIGGER audit_no_delete', 'DELETE FROM audit WHERE seq > 5');
    const cut = await verify(dir);
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(/audit log ends at sequence 5 but Pulse anchored 7 .*: 2 newest entries are missing/);

    // A running Pulse that meets the cut log never moves its anchor back over the evidence.
    const errors: string[] = [];
    const again = new SqliteStore(dir);
    const restarted = createPulse({
      estate: parseEstate(ESTATE, 'e.yaml'),
      store: again,
      auditAnchorDir: dir,
      clock: { now: () => now },
      log: (level, message) => {
        if (level === 'error') errors.push(message);
      },
      workerToken: 'w',
    });
    await restarted.restore();
    await restarted.saveState();
    restarted.close('test over');
    await again.close();
    expect(errors.join('\n')).toMatch(/the audit anchor was not moved: audit log ends at sequence 5 but Pulse anchored 7/);
    expect(readAuditAnchor(dir)).toMatchObject({ kind: 'ok', anchor: { seq: 7 } });
    expect((await verify(dir)).status).toBe(1);
  });
});
