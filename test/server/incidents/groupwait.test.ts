// The group wait (Alertmanager's `group_wait`): a practice that starts failing on its own
// checks opens its own or a PCN incident only after `groupWaitMs` (30 s by default), joining
// the estate group directly if that forms in the meantime — so the July 2024 day, arriving a
// few practices at a time, opens exactly one incident. Services are never delayed.
import { describe, expect, it } from 'vitest';
import { parseEstate } from '../../../server/config/estate';
import { subjectState } from '../../../server/incidents/subjects';
import type { IncidentEvent, SubjectState } from '../../../server/incidents/types';
import { EventFold, checks, makeTracker, practice, service, upstream } from './fixtures';

const T0 = 1_700_000_000_000;
const S = 1000;

/** 40 practices in 9 PCNs (5 in the first four, 4 in the others), ODS E00101…E00904. */
const PCNS = Array.from({ length: 9 }, (_, i) => `PCN ${i + 1}`);
const ESTATE = PCNS.flatMap((pcn, i) => Array.from({ length: i < 4 ? 5 : 4 }, (_, j) => ({ ods: `E00${i + 1}0${j + 1}`, pcn })));

const gateway = (ods: string, pcn = 'PCN 1') => practice(ods, 'down', checks(`${ods}-gateway`, 'timeout after 5 s'), pcn);
const up = (ods: string, pcn = 'PCN 1') => practice(ods, 'up', null, pcn);
const opened = (events: IncidentEvent[]) => events.flatMap((e) => (e.type === 'opened' ? [e.incident.key] : []));

/** Runs updates once a second from `from` to `to` (inclusive) with nothing changing; the keys of incidents opened. */
function tick(tracker: ReturnType<typeof makeTracker>, fold: EventFold, from: number, to: number): string[] {
  const keys: string[] = [];
  for (let now = from; now <= to; now += S) {
    const events = tracker.update(now, []);
    fold.apply(events);
    keys.push(...opened(events));
  }
  return keys;
}

describe('incident tracker: the group wait', () => {
  it('makes the July day, practices failing locally over 20 s in 5 batches, exactly one incident ever opened, listing them all', () => {
    // 8 practices every 5 s, in estate order: the first batch alone is PCN 1 whole and 3 of
    // PCN 2 (each enough for a PCN incident, but only 2 PCNs: not yet the estate's).
    const tracker = makeTracker(); // the default wait, 30 s
    const fold = new EventFold();
    const keys: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const now = T0 + batch * 5 * S;
      const events = tracker.update(now, ESTATE.slice(batch * 8, batch * 8 + 8).map((p) => gateway(p.ods, p.pcn)));
      fold.apply(events);
      keys.push(...opened(events));
      if (batch === 0) expect(tracker.open()).toEqual([]); // waiting: no practice or PCN alarm yet
    }
    keys.push(...tick(tracker, fold, T0 + 21 * S, T0 + 5 * 60 * S)); // every wait long over
    expect(keys).toEqual(['estate:endpoints']);
    expect(fold.incidents.size).toBe(1);
    const [incident] = tracker.open();
    expect(incident).toMatchObject({ kind: 'endpoints', openedAt: T0 + 5 * S, peakAffected: 40, title: 'Gateways not answering across 40 practices in 9 PCNs' });
    expect(incident!.affected).toEqual(ESTATE.map((p) => p.ods).sort());
    expect(incident!.timeline.map((e) => e.type)).toEqual(['opened', 'affected']); // nothing taken over: nothing else was opened
    for (const p of ESTATE) expect(tracker.waitingUntil(`practice:${p.ods}`)).toBeUndefined();
  });

  it('gives one practice failing alone its own incident once the wait is over, not before', () => {
    const tracker = makeTracker();
    const fold = new EventFold();
    fold.apply(tracker.update(T0, [gateway('E00101')]));
    expect(tracker.open()).toEqual([]);
    expect(tracker.forSubject('practice:E00101')).toBeUndefined();
    expect(tracker.waitingUntil('practice:E00101')).toBe(T0 + 30 * S);
    expect(tick(tracker, fold, T0 + S, T0 + 29 * S)).toEqual([]);
    expect(tick(tracker, fold, T0 + 30 * S, T0 + 30 * S)).toEqual(['practice:E00101']);
    expect(tracker.open()).toMatchObject([
      { key: 'practice:E00101', kind: 'practice', openedAt: T0 + 30 * S, affected: ['E00101'], title: 'Practice E00101 (E00101) down: check E00101-gateway: timeout after 5 s' },
    ]);
    expect(tracker.waitingUntil('practice:E00101')).toBeUndefined();
  });

  it('opens nothing for a practice that recovers within the wait', () => {
    const tracker = makeTracker();
    const events: IncidentEvent[] = [...tracker.update(T0, [gateway('E00101')])];
    events.push(...tracker.update(T0 + 20 * S, [up('E00101')]));
    for (let now = T0 + 21 * S; now <= T0 + 5 * 60 * S; now += S) events.push(...tracker.update(now, []));
    expect(events).toEqual([]);
    expect(tracker.open()).toEqual([]);
    expect(tracker.waitingUntil('practice:E00101')).toBeUndefined();
  });

  it('opens a PCN incident once the wait of its first practice is over, with no practice incident before it', () => {
    const tracker = makeTracker();
    const fold = new EventFold();
    fold.apply(tracker.update(T0, [gateway('E00101'), gateway('E00102')]));
    fold.apply(tracker.update(T0 + 10 * S, [gateway('E00103')]));
    expect(tick(tracker, fold, T0 + 11 * S, T0 + 2 * 60 * S)).toEqual(['pcn:PCN 1']);
    expect(fold.incidents.size).toBe(1);
    expect(tracker.open()).toMatchObject([{ key: 'pcn:PCN 1', openedAt: T0 + 30 * S, affected: ['E00101', 'E00102', 'E00103'] }]);
  });

  it('does not restart the wait when a practice flaps through recovering, and takes the configured wait', () => {
    const tracker = makeTracker({ groupWaitMs: 2 * 60 * S });
    tracker.update(T0, [gateway('E00101')]);
    tracker.update(T0 + 60 * S, [practice('E00101', 'recovering', null, 'PCN 1')]);
    expect(opened(tracker.update(T0 + 100 * S, [gateway('E00101')]))).toEqual([]);
    expect(opened(tracker.update(T0 + 119 * S, []))).toEqual([]);
    expect(opened(tracker.update(T0 + 120 * S, []))).toEqual(['practice:E00101']);
  });

  it('never delays a service incident, nor practices down because of it', () => {
    const tracker = makeTracker();
    const events = tracker.update(T0, [service('emis-web', 'down', checks('emis-api', 'timeout')), practice('E00101', 'down', upstream('emis-web'))]);
    expect(opened(events)).toEqual(['service:emis-web']);
    expect(tracker.forSubject('practice:E00101')?.key).toBe('service:emis-web');
  });

  it('with a wait of 0 opens a practice failing alone at once', () => {
    const tracker = makeTracker({ groupWaitMs: 0 });
    expect(opened(tracker.update(T0, [gateway('E00101')]))).toEqual(['practice:E00101']);
  });

  it('carries a wait on across a restart from when the failure began, and starts it again when that is not known', () => {
    const before = makeTracker();
    before.update(T0, [gateway('E00101'), gateway('E00102')]);
    const states: SubjectState[] = [{ ...gateway('E00101'), since: T0 }, gateway('E00102')];
    const after = makeTracker();
    after.restore(before.open(), states);
    expect(opened(after.update(T0 + 20 * S, []))).toEqual([]);
    expect(opened(after.update(T0 + 30 * S, []))).toEqual(['practice:E00101']);
    expect(opened(after.update(T0 + 49 * S, []))).toEqual([]);
    expect(opened(after.update(T0 + 50 * S, []))).toEqual(['practice:E00102']); // its wait began with the first update, at 20 s
  });

  it('is given, from the engine, since when a practice has been down, but not since when it has been held', () => {
    const estate = parseEstate(
      `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A81001, name: Riverside, pcn: Leeds Central PCN, system: emis-web }
`,
      'e.yaml',
    );
    const cause = checks('A81001-gateway', 'timeout');
    expect(subjectState(estate, 'practice:A81001', { status: 'down', cause, since: T0 }).since).toBe(T0);
    expect(subjectState(estate, 'practice:A81001', { status: 'recovering', cause, since: T0 }).since).toBeUndefined();
    expect(subjectState(estate, 'service:emis-web', { status: 'down', cause, since: T0 }).since).toBeUndefined();
  });
});
