// Backup mode under the conditions a review asked about: the audit entry failing inside the
// switch's transaction, a reload swapping services while switches and sends are in flight,
// runs whose actions are still being sent, and plans or practices gone after a reload.
// Real SQLite store (in memory), injected clock and status; sends are real functions whose
// answer the test releases.
import { afterEach, describe, expect, it } from 'vitest';
import { parseEstate, type Estate } from '../../../server/config/estate';
import { BackupService, BackupRequestError, type PracticeNow } from '../../../server/backup/service';
import type { SendResult } from '../../../server/backup/webhook';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import type { OutboxItem } from '../../../server/store/sqlite/outbox';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

const PLAN = `
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
backup:
  plans:
    - id: standard
      default: true
      autoEnterAfter: 10m
      actions:
        - { kind: notify, name: Text, channel: sms, to: ["07700 900123"], template: f33517ff-2a88-4f6e-b855-c550268ce08a }
`;
const ESTATE = `${PLAN}
practices:
  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web }
  - { ods: A81002, name: Oakwood, pcn: North, icb: QWO, system: emis-web }
`;

let stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores) await s.close();
  stores = [];
});

/** A send whose answers the test releases one by one. */
function gatedSend() {
  const waiting: { item: OutboxItem; release: (r: SendResult) => void }[] = [];
  const sent: string[] = [];
  return {
    sent,
    waiting,
    send: (item: OutboxItem) =>
      new Promise<SendResult>((resolve) => {
        sent.push(item.idempotencyKey);
        waiting.push({ item, release: resolve });
      }),
    releaseAll(result: SendResult = { ok: true }) {
      for (const w of waiting.splice(0)) w.release(result);
    },
  };
}

let ids = 0;
function service(store: SqliteStore, opts: { estate?: Estate; send?: (item: OutboxItem) => Promise<SendResult>; status?: Map<string, PracticeNow>; clock?: { now: number } } = {}) {
  const clock = opts.clock ?? { now: T0 };
  const sent: OutboxItem[] = [];
  const status = opts.status ?? new Map<string, PracticeNow>();
  const svc = new BackupService({
    estate: opts.estate ?? parseEstate(ESTATE, 'e.yaml'),
    store: store.backup,
    now: () => clock.now,
    newId: () => `run-${++ids}`,
    statusOf: (ods) => status.get(ods) ?? { status: 'up', cause: null, since: T0 - 60 * MIN },
    send: opts.send ?? (async (item) => (sent.push(item), { ok: true })),
    onModeChange: () => undefined,
    log: silentLogger,
  });
  return { svc, clock, sent, status };
}

function memoryStore(): SqliteStore {
  const store = new SqliteStore(':memory:');
  stores.push(store);
  return store;
}

const REQUEST = { by: 'ops.jane', reasonCode: 'clinical-system-down' as const, reason: 'EMIS down since 07:40' };

describe('one transaction', () => {
  it('writes nothing of a switch when its audit entry cannot be appended (the audit insert runs in the same transaction)', async () => {
    const store = memoryStore();
    store.db.exec(`CREATE TRIGGER audit_refuses BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused by test'); END;`);
    const { svc, sent } = service(store);
    await svc.load();
    await expect(svc.enter(['A81001', 'A81002'], REQUEST, { bulk: true })).rejects.toThrow(/audit refused by test/);
    const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    expect({ practices: count('backup_practices'), transitions: count('backup_transitions'), outbox: count('outbox'), audit: count('audit') }).toEqual({
      practices: 0,
      transitions: 0,
      outbox: 0,
      audit: 0,
    });
    expect(svc.mode('A81001')).toBe('normal');
    await svc.pump();
    expect(sent).toEqual([]);
    // Once the audit works again, the same switch goes through whole.
    store.db.exec('DROP TRIGGER audit_refuses');
    const result = await svc.enter(['A81001'], REQUEST);
    expect(result.switched).toEqual(['A81001']);
    expect(count('audit')).toBe(1);
  });
});

describe('a reload swapping services', () => {
  it('refuses a switch asked of a closed service, so the service that replaces it never holds a stale state', async () => {
    const store = memoryStore();
    const old = service(store);
    await old.svc.load();
    await old.svc.close();
    await expect(old.svc.enter(['A81001'], REQUEST)).rejects.toBeInstanceOf(BackupRequestError);
    await expect(old.svc.leave(['A81001'], REQUEST)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await store.backup.states()).toEqual([]);
  });

  it('lets a switch asked before close finish before close resolves; the next service loads it and refuses a second entry', async () => {
    const store = memoryStore();
    const old = service(store);
    await old.svc.load();
    // Two switches queued one behind the other, then close.
    const first = old.svc.enter(['A81001'], REQUEST);
    const second = old.svc.enter(['A81002'], REQUEST);
    await old.svc.close();
    expect((await store.backup.states()).map((s) => s.ods).sort()).toEqual(['A81001', 'A81002']);
    await Promise.all([first, second]);
    const next = service(store);
    await next.svc.load();
    expect(next.svc.mode('A81002')).not.toBe('normal');
    const again = await next.svc.enter(['A81002'], REQUEST);
    expect(again.switched).toEqual([]);
    expect(again.skipped[0]?.code).toBe('ALREADY_IN_BACKUP');
  });

  it('never sends an action twice: close waits for the sends in flight, and the next service sends only what is left', async () => {
    const store = memoryStore();
    const gate = gatedSend();
    const old = service(store, { send: gate.send });
    await old.svc.load();
    await old.svc.enter(['A81001'], REQUEST);
    await Promise.resolve();
    expect(gate.sent).toHaveLength(1);
    let closed = false;
    const closing = old.svc.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    gate.releaseAll();
    await closing;
    const next = service(store);
    await next.svc.load();
    await next.svc.pump();
    expect(next.sent).toEqual([]);
    expect(next.svc.mode('A81001')).toBe('backup');
  });
});

describe('runs in flight', () => {
  it('does not settle a run while one of its actions is being sent, even with pumps and switches around it', async () => {
    const store = memoryStore();
    const gate = gatedSend();
    const { svc } = service(store, { send: gate.send });
    await svc.load();
    await svc.enter(['A81001'], REQUEST);
    const round = svc.pump();
    await svc.enter(['A81002'], REQUEST);
    await new Promise((r) => setImmediate(r));
    expect(svc.mode('A81001')).toBe('entering');
    gate.releaseAll();
    await round;
    expect(svc.mode('A81001')).toBe('backup');
    expect(svc.mode('A81002')).toBe('entering');
    const second = svc.pump();
    await new Promise((r) => setImmediate(r));
    expect(svc.mode('A81002')).toBe('entering');
    gate.releaseAll();
    await second;
    await svc.pump();
    expect(svc.mode('A81002')).toBe('backup');
    expect(new Set(gate.sent).size).toBe(gate.sent.length);
  });

  it('settles a run whose actions all failed (given up), so the practice is not stuck entering', async () => {
    const store = memoryStore();
    const { svc } = service(store, { send: async () => ({ ok: false, retryable: false, error: 'HTTP 400' }) });
    await svc.load();
    await svc.enter(['A81001'], REQUEST);
    await svc.pump();
    await svc.pump();
    expect(svc.mode('A81001')).toBe('backup');
    const [action] = await store.backup.outbox.actionsOf('A81001');
    expect(action).toMatchObject({ state: 'failed', lastError: 'HTTP 400' });
  });

  it('settles a pending run after a reload removed its plan (the actions were written with the switch)', async () => {
    const store = memoryStore();
    const gate = gatedSend();
    const old = service(store, { send: gate.send });
    await old.svc.load();
    await old.svc.enter(['A81001'], REQUEST);
    gate.releaseAll({ ok: false, retryable: true, error: 'HTTP 503' });
    await old.svc.close();
    const noPlans = parseEstate(
      `services:\n  - { id: emis-web, name: EMIS Web, kind: clinical-system }\npractices:\n  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web }\n`,
      'e.yaml',
    );
    const next = service(store, { estate: noPlans });
    next.clock.now = T0 + 60 * MIN;
    await next.svc.load();
    expect(next.svc.mode('A81001')).toBe('entering');
    await next.svc.pump();
    await next.svc.pump();
    expect(next.sent.map((i) => i.idempotencyKey)).toHaveLength(1);
    expect(next.svc.mode('A81001')).toBe('backup');
  });
});

describe('a practice removed from the estate by a reload', () => {
  it('still has its recorded actions delivered; its run settles only if it comes back (it is not loaded meanwhile)', async () => {
    const store = memoryStore();
    const gate = gatedSend();
    const old = service(store, { send: gate.send });
    await old.svc.load();
    await old.svc.enter(['A81002'], REQUEST);
    gate.releaseAll({ ok: false, retryable: true, error: 'HTTP 503' });
    await old.svc.close();
    const without = parseEstate(`${PLAN}\npractices:\n  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web }\n`, 'e.yaml');
    const next = service(store, { estate: without, clock: { now: T0 + 60 * MIN } });
    await next.svc.load();
    expect(next.svc.active()).toEqual([]);
    await next.svc.pump();
    expect(next.sent.map((i) => i.ods)).toEqual(['A81002']);
    expect((await store.backup.states()).find((s) => s.ods === 'A81002')?.state).toBe('entering');
    const back = service(store, { clock: { now: T0 + 61 * MIN } });
    await back.svc.load();
    await back.svc.pump();
    expect(back.svc.mode('A81002')).toBe('backup');
    expect(back.sent).toEqual([]);
  });
});

describe('automatic entry', () => {
  it('fires once for a practice down past the limit, never while unknown or in maintenance, and not again after a person leaves', async () => {
    const store = memoryStore();
    const status = new Map<string, PracticeNow>([
      ['A81001', { status: 'down', cause: 'upstream: emis-web', since: T0 }],
      ['A81002', { status: 'unknown', cause: null, since: T0 }],
    ]);
    const { svc, clock } = service(store, { status });
    await svc.load();
    clock.now = T0 + 11 * MIN;
    await Promise.all([svc.pump(), svc.pump(), svc.pump()]);
    await svc.pump();
    await svc.pump();
    expect(svc.mode('A81001')).toBe('backup');
    expect(svc.mode('A81002')).toBe('normal');
    await svc.leave(['A81001'], { ...REQUEST, reasonCode: 'recovered' });
    await svc.pump();
    expect(svc.mode('A81001')).toBe('normal');
    clock.now += 5 * MIN;
    status.set('A81002', { status: 'maintenance', cause: 'maintenance until …', since: T0 });
    await svc.pump();
    expect(svc.mode('A81001')).toBe('normal');
    expect(svc.mode('A81002')).toBe('normal');
    const entries = (await store.backup.transitionsOf('A81001', 50)).filter((t) => t.to === 'entering');
    expect(entries).toHaveLength(1);
  });
});

describe('automatic entry of many practices at once', () => {
  it('enters every practice due in the same round as one recorded act per plan and reason (one transaction, one audit entry naming them)', async () => {
    const store = memoryStore();
    const status = new Map<string, PracticeNow>([
      ['A81001', { status: 'down', cause: 'upstream: emis-web', since: T0 }],
      ['A81002', { status: 'down', cause: 'upstream: emis-web', since: T0 }],
    ]);
    const { svc, clock } = service(store, { status });
    await svc.load();
    clock.now = T0 + 10 * MIN;
    await svc.pump();
    expect([svc.mode('A81001'), svc.mode('A81002')]).toEqual(['entering', 'entering']);
    const audit = await store.accounts.auditEntries(10, 0);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'system', action: 'backup.enter', subject: 'practices:2', detail: { practices: ['A81001', 'A81002'], automatic: true, reasonCode: 'clinical-system-down' } });
    for (const ods of ['A81001', 'A81002']) {
      const [t] = await store.backup.transitionsOf(ods, 1);
      expect(t).toMatchObject({ by: 'system', automatic: true, evidence: { status: 'down', cause: 'upstream: emis-web' } });
      expect(t!.reason).toMatch(/down for 10 minutes: automatic entry \(plan "standard"/);
    }
  });
});

describe('queries over many runs', () => {
  it('counts actions and reads checklists of any number of runs in one query each (no bound-variable limit)', async () => {
    const store = memoryStore();
    const { svc } = service(store, { send: async () => ({ ok: false, retryable: true, error: 'HTTP 503' }) });
    await svc.load();
    await svc.enter(['A81001', 'A81002'], REQUEST, { bulk: true });
    await svc.pump();
    const runs = [svc.get('A81001').runId!, svc.get('A81002').runId!];
    const many = [...Array.from({ length: 40_000 }, (_, i) => `no-such-run-${i}`), ...runs];
    const counts = await store.backup.outbox.countsOfRuns(many);
    expect([...counts.keys()].sort()).toEqual([...runs].sort());
    expect(counts.get(runs[0]!)).toEqual({ pending: 0, retrying: 1, done: 0, failed: 0 });
    expect(await store.backup.checklistOfRuns(many)).toEqual([]);
    expect(svc.mode('A81001')).toBe('entering');
  });
});
