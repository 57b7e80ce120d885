// Whose an incident's parts are, kept by the SQLite store (migration incidents-3): each ICB's
// own peak (peakByIcb), and the ICB of a note's or reference's writer — a code, null for a
// national writer, absent when not known (written before it was recorded). Absent and null
// differ: a national note is shown to everyone, an untagged one to national callers only, so
// the store must not turn one into the other. Real SQLite on disk, closed and reopened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Incident, IncidentEvent, IncidentSummary } from '../../../server/incidents/types';
import { SqliteStore } from '../../../server/store/sqlite';
import { migrate, openDatabase } from '../../../server/store/sqlite/db';
import { INCIDENT_MIGRATIONS } from '../../../server/store/sqlite/incidents';

const T0 = Date.UTC(2026, 11, 4, 8, 0, 0);
const MIN = 60_000;

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-incident-icb-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string): SqliteStore {
  const store = new SqliteStore(dir);
  stores.push(store);
  return store;
}

async function reopen(dir: string, store: SqliteStore): Promise<SqliteStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return open(dir);
}

/** An EMIS outage across two ICBs: QWO had 3 practices down at once, QXX 1. */
const header: IncidentSummary = {
  id: 1,
  key: 'service:emis-web',
  kind: 'service',
  title: 'EMIS Web down — 4 practices',
  finding: null,
  status: 'open',
  severity: 'down',
  openedAt: T0,
  resolvedAt: null,
  affected: ['A00001', 'A00002', 'B00001'],
  peakAffected: 4,
  peakByIcb: { QWO: 3, QXX: 1 },
  subjects: ['practice:A00001', 'practice:A00002', 'practice:B00001', 'service:emis-web'],
};

const expected: Incident = {
  ...header,
  timeline: [
    { at: T0, type: 'opened', text: 'EMIS Web down — 4 practices', count: 4 },
    { at: T0 + MIN, type: 'note', text: 'QWO switching to paper', by: 'j.smith (ops.qwo)', icb: 'QWO' },
    { at: T0 + 2 * MIN, type: 'note', text: 'EMIS aware; hosting fault', by: 'a.jones (ops)', icb: null },
    { at: T0 + 3 * MIN, type: 'reference', text: 'supplier EMIS-INC-4411', by: 'a.jones (ops)', icb: null },
  ],
  references: [
    { system: 'service-desk', reference: 'QWO-SD-17', by: 'j.smith (ops.qwo)', at: T0 + MIN, icb: 'QWO' },
    { system: 'supplier', reference: 'EMIS-INC-4411', by: 'a.jones (ops)', at: T0 + 3 * MIN, icb: null },
  ],
};

function eventsOf(incident: Incident): IncidentEvent[] {
  const { timeline, references, ...summary } = incident;
  return [
    { type: 'opened', incident: summary },
    ...timeline.map((entry, seq) => ({ type: 'timeline' as const, id: incident.id, seq, entry })),
    ...references.map((reference, seq) => ({ type: 'reference' as const, id: incident.id, seq, reference })),
  ];
}

describe('SQLite incident store: ICBs (incidents-3)', () => {
  it('keeps each ICB’s peak and the writer’s ICB of notes and references across a close and reopen, national as null', async () => {
    const dir = dataDir();
    const store = open(dir);
    await store.incidents.applyIncidentEvents(eventsOf(expected));
    expect(await store.incidents.incident(1)).toEqual(expected);

    const reopened = await reopen(dir, store);
    expect(await reopened.incidents.incident(1)).toEqual(expected);
    expect(await reopened.incidents.openIncidents()).toEqual([expected]);
    const [read] = await reopened.incidents.recentIncidents(10, 0);
    expect(read!.timeline[2]!.icb).toBeNull(); // national: shown to every ICB
    expect(read!.references[1]!.icb).toBeNull();
    expect('icb' in read!.timeline[0]!).toBe(false); // an automatic entry has no writer

    // An update replaces the peaks (the tracker sends the whole summary), resolving keeps them.
    await reopened.incidents.applyIncidentEvents([
      { type: 'resolved', incident: { ...header, status: 'resolved', resolvedAt: T0 + 9 * MIN, peakByIcb: { QWO: 3, QXX: 2 } } },
    ]);
    expect((await reopened.incidents.incident(1))!.peakByIcb).toEqual({ QWO: 3, QXX: 2 });
  });

  it('reads a peak or writer it was never told as absent, not as national', async () => {
    const dir = dataDir();
    const store = open(dir);
    const { peakByIcb: _peaks, ...withoutPeaks } = header;
    await store.incidents.applyIncidentEvents([
      { type: 'opened', incident: withoutPeaks },
      { type: 'timeline', id: 1, seq: 0, entry: { at: T0, type: 'note', text: 'written before ICBs were recorded', by: 'j.smith' } },
      { type: 'reference', id: 1, seq: 0, reference: { system: 'other', reference: 'X-1', by: 'j.smith', at: T0 } },
    ]);
    const read = (await (await reopen(dir, store)).incidents.incident(1))!;
    expect('peakByIcb' in read).toBe(false);
    expect(read.timeline).toEqual([{ at: T0, type: 'note', text: 'written before ICBs were recorded', by: 'j.smith' }]);
    expect(read.references).toEqual([{ system: 'other', reference: 'X-1', by: 'j.smith', at: T0 }]);
  });

  it('upgrades a database made by incidents-2: old rows read back without ICBs, new ones keep theirs', async () => {
    const dir = dataDir();
    const before = INCIDENT_MIGRATIONS.slice(0, INCIDENT_MIGRATIONS.findIndex((m) => m.id === 'incidents-2') + 1);
    expect(before.map((m) => m.id)).toEqual(['incidents-1', 'incidents-2']);
    const old = openDatabase(dir);
    migrate(old, before);
    old.exec(`INSERT INTO incidents VALUES (7, 'service:emis-web', 'service', 'EMIS Web down — 2 practices', NULL, 'open', 'down', ${T0}, NULL, '["A00001","B00001"]', 2, 2, '["practice:A00001","practice:B00001","service:emis-web"]');
              INSERT INTO incident_timeline VALUES (7, 0, ${T0}, 'opened', 'EMIS Web down — 2 practices', NULL, 2);
              INSERT INTO incident_timeline VALUES (7, 1, ${T0 + MIN}, 'note', 'EMIS aware', 'j.smith', NULL);
              INSERT INTO incident_references VALUES (7, 0, 'supplier', 'EMIS-1', 'j.smith', ${T0 + MIN});`);
    old.close();

    const store = open(dir);
    const migrated = (store.db.prepare('SELECT id FROM migrations WHERE id LIKE ? ORDER BY id').all('incidents-%') as { id: string }[]).map((r) => r.id);
    expect(migrated).toEqual(['incidents-1', 'incidents-2', 'incidents-3']);
    expect(store.db.pragma('foreign_key_check')).toEqual([]);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    const read = (await store.incidents.incident(7))!;
    expect(read).toEqual({
      id: 7,
      key: 'service:emis-web',
      kind: 'service',
      title: 'EMIS Web down — 2 practices',
      finding: null,
      status: 'open',
      severity: 'down',
      openedAt: T0,
      resolvedAt: null,
      affected: ['A00001', 'B00001'],
      peakAffected: 2,
      subjects: ['practice:A00001', 'practice:B00001', 'service:emis-web'],
      timeline: [
        { at: T0, type: 'opened', text: 'EMIS Web down — 2 practices', count: 2 },
        { at: T0 + MIN, type: 'note', text: 'EMIS aware', by: 'j.smith' }, // unknown writer: national callers only
      ],
      references: [{ system: 'supplier', reference: 'EMIS-1', by: 'j.smith', at: T0 + MIN }],
    });

    // The upgraded incident carries on: its peaks, and notes with their ICB, written and kept.
    const { timeline: _t, references: _r, ...summary } = read;
    await store.incidents.applyIncidentEvents([
      { type: 'updated', incident: { ...summary, peakByIcb: { QWO: 1, QXX: 1 } } },
      { type: 'timeline', id: 7, seq: 2, entry: { at: T0 + 2 * MIN, type: 'note', text: 'QXX on paper', by: 'k.lee', icb: 'QXX' } },
      { type: 'reference', id: 7, seq: 1, reference: { system: 'service-desk', reference: 'SD-9', by: 'a.jones', at: T0 + 2 * MIN, icb: null } },
    ]);
    const after = (await (await reopen(dir, store)).incidents.incident(7))!;
    expect(after.peakByIcb).toEqual({ QWO: 1, QXX: 1 });
    expect(after.timeline.map((e) => e.icb)).toEqual([undefined, undefined, 'QXX']);
    expect(after.timeline.map((e) => 'icb' in e)).toEqual([false, false, true]);
    expect(after.references.map((r) => ('icb' in r ? r.icb : 'absent'))).toEqual(['absent', null]);
  });
});
