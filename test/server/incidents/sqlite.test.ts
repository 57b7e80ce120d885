import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentEvent, SubjectState } from '../../../server/incidents/types';
import { openDatabase, type Db } from '../../../server/store/sqlite/db';
import { SqliteIncidentStore } from '../../../server/store/sqlite/incidents';
import type { SubjectKey } from '../../../server/status/engine';
import { checks, odsList, practice, service, trackerAtOnce, upstream } from './fixtures';
import { allUp, historyArb, rulesArb, stateOf } from './histories';
import { INCIDENT_MIGRATIONS } from '../../../server/store/sqlite/incidents';
import { migrate } from '../../../server/store/sqlite/db';

const T0 = 1_700_000_000_000;
const MIN = 60_000;

const dbs: Db[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function memoryStore() {
  const db = openDatabase(':memory:');
  dbs.push(db);
  return new SqliteIncidentStore(db);
}

/** An EMIS outage with a note, a reference and a growing count, plus a resolved practice incident. */
function scenario(nextId: () => number) {
  const tracker = trackerAtOnce({ nextId });
  const events: IncidentEvent[] = [];
  const states = new Map<SubjectKey, SubjectState>();
  const update = (at: number, changed: SubjectState[]) => {
    for (const s of changed) states.set(s.key, s);
    events.push(...tracker.update(at, changed));
  };
  update(T0, [practice('B82001', 'down', checks('B82001-gateway', 'status 503, expected 2xx'), 'Bradford North PCN', 'Riverside')]);
  update(T0 + MIN, [service('emis-web', 'down', checks('emis-api', 'timeout')), ...odsList(10).map((o) => practice(o, 'down', upstream('emis-web')))]);
  const note = tracker.addNote(2, { by: 'j.smith', text: 'EMIS aware; hosting fault' }, T0 + 2 * MIN);
  const ref = tracker.addReference(2, { system: 'supplier', reference: 'EMIS-INC-4411', by: 'j.smith' }, T0 + 2 * MIN);
  if (!note.ok || !ref.ok) throw new Error('annotation failed');
  events.push(...note.events, ...ref.events);
  update(T0 + 150_000, odsList(20).slice(10).map((o) => practice(o, 'down', upstream('emis-web'))));
  update(T0 + 4 * MIN, [practice('B82001', 'up', null, 'Bradford North PCN', 'Riverside')]);
  const post = tracker.addNote(1, { by: 'a.jones', text: 'switch replaced' }, T0 + 5 * MIN);
  if (!post.ok) throw new Error('post-incident note failed');
  events.push(...post.events);
  return { tracker, events, states: [...states.values()] };
}

describe('SQLite incident store', () => {
  it('reads back what the tracker holds: open incidents, one by id, and recent ones newest first', async () => {
    const store = memoryStore();
    const { tracker, events } = scenario(() => store.nextIncidentId());
    await store.applyIncidentEvents(events);

    expect(await store.openIncidents()).toEqual(tracker.open());
    expect(await store.incident(1)).toEqual(tracker.get(1));
    expect(await store.incident(2)).toEqual(tracker.get(2));
    expect(await store.incident(99)).toBeNull();
    const recent = await store.recentIncidents(10, 0);
    expect(recent.map((i) => [i.id, i.status])).toEqual([[2, 'open'], [1, 'resolved']]);
    expect((await store.recentIncidents(1, 1)).map((i) => i.id)).toEqual([1]);
    expect(recent[0]!.references).toEqual([{ system: 'supplier', reference: 'EMIS-INC-4411', by: 'j.smith', at: T0 + 2 * MIN }]);
    expect(recent[1]!.timeline.map((e) => e.type)).toEqual(['opened', 'resolved', 'note']);
    await expect(store.recentIncidents(-1, 0)).rejects.toThrow(RangeError);
  });

  it('keeps incidents across a close and reopen; a restored tracker carries on with the same ids and timelines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-incidents-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new SqliteIncidentStore(db);
    const { tracker, events, states } = scenario(() => store.nextIncidentId());
    await store.applyIncidentEvents(events);
    db.close();

    const db2 = openDatabase(dir);
    dbs.push(db2);
    const reopened = new SqliteIncidentStore(db2);
    const open = await reopened.openIncidents();
    expect(open).toEqual(tracker.open());

    const restored = trackerAtOnce({ nextId: () => reopened.nextIncidentId() });
    restored.restore(open, states, (await reopened.recentIncidents(100, 0)).filter((i) => i.status === 'resolved'));
    expect(restored.open()).toEqual(tracker.open());
    expect(restored.get(1)).toEqual(tracker.get(1));
    expect(restored.update(T0 + 6 * MIN, states)).toEqual([]); // nothing reopened, nothing duplicated

    const next = restored.update(T0 + 7 * MIN, [service('systmone', 'down', checks('s1-api', 'timeout'))]);
    await reopened.applyIncidentEvents(next);
    expect(restored.open().map((i) => i.id)).toEqual([2, 3]);
    const after = restored.update(T0 + 8 * MIN, allUp().concat(odsList(20).map((o) => practice(o, 'up', null))));
    await reopened.applyIncidentEvents(after);
    expect(await reopened.openIncidents()).toEqual([]);
    expect(await reopened.incident(2)).toEqual(restored.get(2));
  });

  it('writes a batch all or nothing', async () => {
    const store = memoryStore();
    const { events } = scenario(() => store.nextIncidentId());
    const bad = { type: 'timeline', id: 1, seq: 99, entry: { at: T0, type: 'bogus', text: 'x' } } as unknown as IncidentEvent;
    await expect(store.applyIncidentEvents([...events, bad])).rejects.toThrow();
    expect(await store.recentIncidents(10, 0)).toEqual([]);
  });

  it('is idempotent: replaying a batch or a full snapshot changes nothing', async () => {
    const store = memoryStore();
    const { tracker, events } = scenario(() => store.nextIncidentId());
    await store.applyIncidentEvents(events);
    await store.applyIncidentEvents(events.filter((e) => e.type === 'timeline' || e.type === 'reference'));
    await store.applyIncidentEvents(tracker.snapshotEvents());
    expect(await store.openIncidents()).toEqual(tracker.open());
    expect(await store.incident(1)).toEqual(tracker.get(1));
  });

  it('refuses a second open incident for the same root cause', async () => {
    const store = memoryStore();
    const { tracker } = scenario(() => store.nextIncidentId());
    const open = tracker.open()[0]!;
    const { timeline: _t, references: _r, ...header } = open;
    await store.applyIncidentEvents([{ type: 'opened', incident: header }]);
    await expect(store.applyIncidentEvents([{ type: 'opened', incident: { ...header, id: 50 } }])).rejects.toThrow(/UNIQUE/);
  });

  it('continues the id sequence after the highest stored id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-incidents-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new SqliteIncidentStore(db);
    const { events } = scenario(() => store.nextIncidentId());
    await store.applyIncidentEvents(events);
    db.close();
    const db2 = openDatabase(dir);
    dbs.push(db2);
    expect(new SqliteIncidentStore(db2).nextIncidentId()).toBe(3);
  });

  it('holds exactly what the tracker holds over random histories', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, rulesArb, async (history, rules) => {
        const store = memoryStore();
        const tracker = trackerAtOnce({ ...rules, nextId: () => store.nextIncidentId() });
        let now = T0;
        for (const step of history) {
          now += step.dtSeconds * 1000;
          await store.applyIncidentEvents(tracker.update(now, step.changes.map(stateOf), step.self));
        }
        expect(await store.openIncidents()).toEqual(tracker.open());
        for (const incident of await store.recentIncidents(500, 0)) {
          const held = tracker.get(incident.id);
          if (held) expect(incident).toEqual(held);
        }
        await store.applyIncidentEvents(tracker.update(now + 1000, allUp(), null));
        expect(await store.openIncidents()).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it("keeps an endpoints incident with its finding and Pulse's own incident across a close and reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-incidents-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new SqliteIncidentStore(db);
    const finding = '94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)';
    const tracker = trackerAtOnce({ nextId: () => store.nextIncidentId(), describe: (key) => (key === 'estate:endpoints' ? { finding } : {}) });
    const wave = odsList(12).map((o, i) => practice(o, 'down', checks(`${o}-fleet`, '9 of 12 workstations silent (75%)'), `PCN ${i % 4}`));
    await store.applyIncidentEvents(tracker.update(T0, wave, "Pulse's probes in local are overloaded: 4.6 s behind"));
    expect(tracker.open().map((i) => [i.kind, i.finding])).toEqual([
      ['endpoints', finding],
      ['pulse', "Pulse's probes in local are overloaded: 4.6 s behind"],
    ]);
    db.close();

    const db2 = openDatabase(dir);
    dbs.push(db2);
    const reopened = new SqliteIncidentStore(db2);
    const open = await reopened.openIncidents();
    expect(open).toEqual(tracker.open());
    const restored = trackerAtOnce({ nextId: () => reopened.nextIncidentId() });
    restored.restore(open, wave);
    expect(restored.update(T0 + MIN, [])).toEqual([]);
    await reopened.applyIncidentEvents(restored.update(T0 + 2 * MIN, odsList(12).map((o, i) => practice(o, 'up', null, `PCN ${i % 4}`)), null));
    expect(await reopened.openIncidents()).toEqual([]);
    expect((await reopened.recentIncidents(10, 0)).map((i) => [i.kind, i.status, i.finding])).toEqual([
      ['pulse', 'resolved', "Pulse's probes in local are overloaded: 4.6 s behind"],
      ['endpoints', 'resolved', finding],
    ]);
  });

  it('migrates a database written before findings: incidents, timelines and references kept, new kinds accepted', async () => {
    const db = openDatabase(':memory:');
    dbs.push(db);
    migrate(db, INCIDENT_MIGRATIONS.slice(0, 1));
    db.exec(`INSERT INTO incidents VALUES (7, 'service:emis-web', 'service', 'EMIS Web down — 1 practice', 'resolved', 'down', ${T0}, ${T0 + MIN}, '["A80001"]', 1, 1, '["practice:A80001","service:emis-web"]');
             INSERT INTO incident_timeline VALUES (7, 0, ${T0}, 'opened', 'EMIS Web down — 1 practice', NULL, 1);
             INSERT INTO incident_references VALUES (7, 0, 'supplier', 'EMIS-1', 'j.smith', ${T0});`);
    expect(() => db.exec(`INSERT INTO incidents VALUES (8, 'pulse:self', 'pulse', 't', 'open', 'degraded', ${T0}, NULL, '[]', 0, 0, '[]')`)).toThrow(/CHECK/);

    const store = new SqliteIncidentStore(db);
    expect(await store.incident(7)).toEqual({
      id: 7,
      key: 'service:emis-web',
      kind: 'service',
      title: 'EMIS Web down — 1 practice',
      finding: null,
      status: 'resolved',
      severity: 'down',
      openedAt: T0,
      resolvedAt: T0 + MIN,
      affected: ['A80001'],
      peakAffected: 1,
      subjects: ['practice:A80001', 'service:emis-web'],
      timeline: [{ at: T0, type: 'opened', text: 'EMIS Web down — 1 practice', count: 1 }],
      references: [{ system: 'supplier', reference: 'EMIS-1', by: 'j.smith', at: T0 }],
    });
    const tracker = trackerAtOnce({ nextId: () => store.nextIncidentId() });
    await store.applyIncidentEvents(tracker.update(T0, [], 'Pulse was not listening for 40 s'));
    expect((await store.openIncidents()).map((i) => [i.id, i.kind, i.timeline.map((e) => e.type)])).toEqual([[8, 'pulse', ['opened', 'finding']]]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(() => db.exec(`INSERT INTO incident_timeline (incident_id, seq, at, type, text) VALUES (99, 0, ${T0}, 'opened', 'x')`)).toThrow(/FOREIGN KEY/);
  });
});
