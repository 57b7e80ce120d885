// The backup service over a real (in-memory) SQLite store, with the clock and the practice's
// status injected: automatic entry timing, leave suggestions, concurrent decisions, restart.
import { afterEach, describe, expect, it } from 'vitest';
import { parseEstate } from '../../../server/config/estate';
import { BackupService, type PracticeNow } from '../../../server/backup/service';
import type { SendResult } from '../../../server/backup/webhook';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import type { OutboxItem } from '../../../server/store/sqlite/outbox';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

const ESTATE = `
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
backup:
  plans:
    - id: auto
      autoEnterAfter: 10m
      suggestLeaveAfter: 20m
      actions:
        - { kind: notify, name: Text, channel: sms, to: ["07700 900123"], template: f33517ff-2a88-4f6e-b855-c550268ce08a }
    - id: manual
      default: true
practices:
  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web, backupPlan: auto }
  - { ods: A81002, name: Oakwood, pcn: North, icb: QWO, system: emis-web }
`;

let stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores) await s.close();
  stores = [];
});

function setup(opts: { store?: SqliteStore; send?: (item: OutboxItem) => Promise<SendResult> } = {}) {
  const estate = parseEstate(ESTATE, 'e.yaml');
  const store = opts.store ?? new SqliteStore(':memory:');
  if (!opts.store) stores.push(store);
  const clock = { now: T0 };
  const status = new Map<string, PracticeNow>([
    ['A81001', { status: 'up', cause: null, since: T0 - 60 * MIN }],
    ['A81002', { status: 'up', cause: null, since: T0 - 60 * MIN }],
  ]);
  const sent: OutboxItem[] = [];
  const changes: string[][] = [];
  let n = 0;
  const service = new BackupService({
    estate,
    store: store.backup,
    now: () => clock.now,
    newId: () => `run-${++n}`,
    statusOf: (ods) => status.get(ods) ?? null,
    send: opts.send ?? (async (item) => (sent.push(item), { ok: true })),
    onModeChange: (ods) => changes.push(ods),
    log: silentLogger,
  });
  return { service, store, clock, status, sent, changes };
}

describe('automatic entry', () => {
  it('enters after the configured time down, recorded as automatic by system, with a reason from the cause', async () => {
    const { service, clock, status, store } = setup();
    status.set('A81001', { status: 'down', cause: 'upstream: emis-web', since: T0 });
    clock.now = T0 + 10 * MIN - 1;
    await service.pump();
    expect(service.mode('A81001')).toBe('normal');
    clock.now = T0 + 10 * MIN;
    await service.pump();
    await service.pump();
    expect(service.mode('A81001')).toBe('backup');
    const [settled, entered] = await store.backup.transitionsOf('A81001', 2);
    expect(entered).toMatchObject({ from: 'normal', to: 'entering', by: 'system', automatic: true, reasonCode: 'clinical-system-down', evidence: { status: 'down', cause: 'upstream: emis-web' } });
    expect(entered!.reason).toMatch(/down for 10 minutes/);
    expect(settled).toMatchObject({ from: 'entering', to: 'backup' });
  });

  it('never enters a practice whose plan has no autoEnterAfter (manual by default)', async () => {
    const { service, clock, status } = setup();
    status.set('A81002', { status: 'down', cause: 'upstream: emis-web', since: T0 });
    clock.now = T0 + 24 * 60 * MIN;
    await service.pump();
    expect(service.mode('A81002')).toBe('normal');
  });

  it('does not overrule a person who took a still-down practice out of backup mode', async () => {
    const { service, clock, status } = setup();
    status.set('A81001', { status: 'down', cause: 'upstream: emis-web', since: T0 });
    clock.now = T0 + 10 * MIN;
    await service.pump();
    await service.pump();
    expect(service.mode('A81001')).toBe('backup');
    clock.now = T0 + 15 * MIN;
    await service.leave(['A81001'], { by: 'jsmith', reasonCode: 'other', reason: 'working on paper anyway; leaving to test EMIS' });
    await service.pump();
    expect(service.mode('A81001')).toBe('normal');
    clock.now = T0 + 24 * MIN;
    await service.pump();
    expect(service.mode('A81001')).toBe('normal');
    clock.now = T0 + 25 * MIN;
    await service.pump();
    expect(service.mode('A81001')).not.toBe('normal');
  });
});

describe('leaving', () => {
  it('is suggested once healthy for suggestLeaveAfter, and never happens by itself', async () => {
    const { service, clock, status } = setup();
    await service.enter(['A81001'], { by: 'jsmith', reasonCode: 'reported-by-practice', reason: 'phones down' });
    await service.pump();
    status.set('A81001', { status: 'up', cause: null, since: T0 + 5 * MIN });
    clock.now = T0 + 25 * MIN - 1;
    expect(service.suggestion('A81001').suggestLeave).toBe(false);
    clock.now = T0 + 25 * MIN;
    expect(service.suggestion('A81001')).toEqual({ suggestLeave: true, healthyForMs: 20 * MIN });
    clock.now = T0 + 48 * 60 * MIN;
    await service.pump();
    expect(service.mode('A81001')).toBe('backup');
  });
});

describe('decisions', () => {
  it('takes concurrent switches one at a time: one enters, the other is told it already has', async () => {
    const { service } = setup();
    const request = { by: 'a', reasonCode: 'planned' as const, reason: 'drill' };
    const [a, b] = await Promise.all([service.enter(['A81001'], request), service.enter(['A81001'], request)]);
    expect([a.switched.length, b.switched.length].sort()).toEqual([0, 1]);
    expect([...a.skipped, ...b.skipped].map((s) => s.code)).toEqual(['ALREADY_IN_BACKUP']);
  });

  it('names unknown practices instead of failing the whole act', async () => {
    const { service } = setup();
    const result = await service.enter(['A81002', 'Z99999'], { by: 'a', reasonCode: 'planned', reason: 'drill' }, { bulk: true });
    expect(result.switched).toEqual(['A81002']);
    expect(result.skipped).toEqual([{ ods: 'Z99999', code: 'UNKNOWN_PRACTICE', message: 'no practice Z99999 in the estate' }]);
    expect(result.bulkId).not.toBeNull();
  });

  it('a run without actions settles at once; one with actions only after they are sent', async () => {
    const { service, sent, changes } = setup({ send: async () => ({ ok: false, retryable: true, error: 'busy' }) });
    await service.enter(['A81002'], { by: 'a', reasonCode: 'planned', reason: 'drill' });
    expect(service.mode('A81002')).toBe('backup');
    await service.enter(['A81001'], { by: 'a', reasonCode: 'planned', reason: 'drill' });
    await service.pump();
    expect(service.mode('A81001')).toBe('entering');
    expect(sent).toEqual([]);
    expect(changes.flat()).toEqual(['A81002', 'A81002', 'A81001']);
  });
});

describe('restart', () => {
  it('a new service over the same store carries on: states loaded, the run resumed and settled', async () => {
    const store = new SqliteStore(':memory:');
    stores.push(store);
    const first = setup({ store, send: async () => ({ ok: false, retryable: true, error: 'receiver down' }) });
    await first.service.enter(['A81001'], { by: 'a', reasonCode: 'planned', reason: 'drill' });
    await first.service.pump();
    expect(first.service.mode('A81001')).toBe('entering');
    await first.service.close();

    const second = setup({ store });
    await second.service.load();
    expect(second.service.mode('A81001')).toBe('entering');
    second.clock.now = T0 + 60 * MIN;
    await second.service.pump();
    await second.service.pump();
    expect(second.sent.map((i) => i.kind)).toEqual(['notify']);
    expect(second.service.mode('A81001')).toBe('backup');
  });

  it('a service closed for a reload that then failed takes switches again, with the states read back', async () => {
    const store = new SqliteStore(':memory:');
    stores.push(store);
    const old = setup({ store });
    await old.service.enter(['A81002'], { by: 'a', reasonCode: 'planned', reason: 'drill' });
    await old.service.close();
    await expect(old.service.enter(['A81001'], { by: 'a', reasonCode: 'planned', reason: 'drill' })).rejects.toThrow();
    // Meanwhile another service (the one that failed to start) wrote a leave.
    const other = setup({ store });
    await other.service.load();
    await other.service.leave(['A81002'], { by: 'b', reasonCode: 'recovered', reason: 'back' });
    await old.service.reopen();
    expect(old.service.mode('A81002')).toBe('normal');
    const result = await old.service.enter(['A81001'], { by: 'a', reasonCode: 'planned', reason: 'drill' });
    expect(result.switched).toEqual(['A81001']);
  });
});
