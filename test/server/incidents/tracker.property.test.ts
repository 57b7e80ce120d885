// Properties of the tracker over random histories: nothing dangles, every failing subject is
// in exactly one open incident (or, a practice failing on its own, waiting for its group for
// exactly the group wait since its failure began), what the events persist is what the
// tracker holds, and a restart (restore from the persisted events and the subjects' states)
// carries on exactly as if nothing happened.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { parseEstate } from '../../../server/config/estate';
import { rootCause } from '../../../server/incidents/rootCause';
import { changedSubjects, estateNames } from '../../../server/incidents/subjects';
import type { IncidentTracker } from '../../../server/incidents/tracker';
import type { SubjectState } from '../../../server/incidents/types';
import { StatusEngine, splitKey, type SubjectKey } from '../../../server/status/engine';
import { EventFold, makeTracker } from './fixtures';
import { SpellModel, allUp, historyArb, rulesArb, stateOf } from './histories';

const T0 = 1_700_000_000_000;

/** How long a practice failing on its own waits for its group, and when each one's failure began. */
interface Waits {
  now: number;
  groupWaitMs: number;
  spells: SpellModel;
}

/**
 * Every failing subject in exactly one open incident that fits its cause, but a practice
 * failing on its own still inside its group wait, in none; Pulse's own incident open exactly
 * while Pulse was last said to be impaired, holding nothing; persisted = held.
 */
function checkInvariants(tracker: IncidentTracker, latest: Map<SubjectKey, SubjectState>, fold: EventFold, waits: Waits, self: string | null = null): void {
  const all = tracker.open();
  const pulse = all.filter((i) => i.kind === 'pulse');
  expect(pulse.map((i) => [i.key, i.finding, i.subjects.length])).toEqual(self === null ? [] : [['pulse:self', self, 0]]);
  const open = all.filter((i) => i.kind !== 'pulse');
  expect(fold.open()).toEqual(all);
  for (const incident of fold.incidents.values()) {
    const held = tracker.get(incident.id);
    if (held) expect(held).toEqual(incident);
  }
  expect(new Set(all.map((i) => i.key)).size).toBe(all.length);
  const owners = new Map<SubjectKey, number>();
  for (const incident of open) {
    expect(incident.subjects.length).toBeGreaterThan(0);
    expect(incident.affected).toEqual(incident.subjects.filter((k) => k.startsWith('practice:')).map((k) => splitKey(k)[1]));
    for (const key of incident.subjects) {
      expect(owners.has(key), `${key} in two open incidents`).toBe(false);
      owners.set(key, incident.id);
    }
    const stamps = incident.timeline.filter((e) => e.count !== undefined).map((e) => e.at);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! - stamps[i - 1]!).toBeGreaterThanOrEqual(60_000);
  }
  for (const state of latest.values()) {
    const root = rootCause(state.key, state.status, state.cause);
    if (root === null) continue;
    const id = owners.get(state.key);
    const until = tracker.waitingUntil(state.key);
    if (id === undefined && root === state.key && state.key.startsWith('practice:')) {
      const since = waits.spells.sinceOf(state.key)!;
      expect(until, `${state.key} failing on its own since ${since - T0} is in no open incident at ${waits.now - T0}`).toBe(since + waits.groupWaitMs);
      expect(until!).toBeGreaterThan(waits.now);
      continue;
    }
    expect(until).toBeUndefined();
    expect(id, `${state.key} is ${state.status} but in no open incident`).toBeDefined();
    const incident = tracker.forSubject(state.key)!;
    expect(incident.id).toBe(id);
    const fits =
      incident.key === root ||
      (incident.kind === 'pcn' && root === state.key && incident.key === `pcn:${state.pcn}`) ||
      (incident.kind === 'endpoints' && root === state.key && state.key.startsWith('practice:'));
    expect(fits, `${state.key} (root ${root}) in ${incident.key}`).toBe(true);
  }
}

describe('incident tracker properties', () => {
  it('keeps every failing subject in exactly one fitting open incident, and leaves nothing open once all is up', () => {
    fc.assert(
      fc.property(historyArb, rulesArb, (history, rules) => {
        const tracker = makeTracker(rules);
        const fold = new EventFold();
        const latest = new Map<SubjectKey, SubjectState>();
        const spells = new SpellModel();
        const groupWaitMs = rules.groupWaitMs ?? 30_000;
        let now = T0;
        let self: string | null = null;
        for (const step of history) {
          now += step.dtSeconds * 1000;
          const states = step.changes.map(stateOf);
          for (const s of states) latest.set(s.key, s);
          spells.note(states, now);
          if (step.self !== undefined) self = step.self;
          fold.apply(tracker.update(now, states, step.self));
          checkInvariants(tracker, latest, fold, { now, groupWaitMs, spells }, self);
        }
        now += 1000;
        fold.apply(tracker.update(now, allUp(), null));
        expect(tracker.open()).toEqual([]);
        expect([...fold.incidents.values()].filter((i) => i.status !== 'resolved')).toEqual([]);
        for (const incident of fold.incidents.values()) expect(incident.timeline.at(-1)!.type).toBe('resolved');
        fold.apply(tracker.update(now + 120_000, []));
        expect(tracker.open()).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('carries on after a restore from the persisted events exactly as without the restart', () => {
    fc.assert(
      fc.property(historyArb, rulesArb, fc.nat(), (history, rules, cutAt) => {
        const cut = cutAt % (history.length + 1);
        let ids = 0;
        const tracker = makeTracker({ ...rules, nextId: () => ++ids });
        const fold = new EventFold();
        const latest = new Map<SubjectKey, SubjectState>();
        const spells = new SpellModel();
        let now = T0;
        let restarted: IncidentTracker | null = null;
        let restartedIds = 0;
        history.forEach((step, i) => {
          if (i === cut) {
            restartedIds = ids;
            restarted = makeTracker({ ...rules, nextId: () => ++restartedIds });
            restarted.restore(fold.open(), [...latest.values()].map((s) => spells.withSince(s)));
          }
          now += step.dtSeconds * 1000;
          const states = step.changes.map(stateOf);
          for (const s of states) latest.set(s.key, s);
          spells.note(states, now);
          const events = tracker.update(now, states, step.self);
          fold.apply(events);
          if (restarted) expect((restarted as IncidentTracker).update(now, states, step.self)).toEqual(events);
        });
        if (restarted) {
          expect((restarted as IncidentTracker).open()).toEqual(tracker.open());
          expect((restarted as IncidentTracker).update(now + 1000, allUp(), null)).toEqual(tracker.update(now + 1000, allUp(), null));
        }
      }),
      { numRuns: 300 },
    );
  });
});

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
status: { failuresToDown: 2, successesToUp: 2 }
services:
  - { id: hscn, name: HSCN, kind: network, checks: [{ id: hscn-tcp, kind: tcp, target: "127.0.0.1:9" }] }
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    dependsOn: [{ service: hscn }]
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }]
  - { id: systmone, name: SystmOne, kind: clinical-system, checks: [{ id: s1-api, kind: http, target: "http://127.0.0.1:9/" }] }
  - { id: nhs111, name: NHS 111 online, kind: national, checks: [{ id: nhs111-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: One, pcn: P1, system: emis-web, dependsOn: [{ service: nhs111, impact: degrading }], checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: Two, pcn: P1, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00003, name: Three, pcn: P1, system: systmone, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00004, name: Four, pcn: P1, system: emis-web, checks: [{ id: gw4, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00001, name: Five, pcn: P2, system: systmone, checks: [{ id: gw5, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00002, name: Six, pcn: P2, system: emis-web, checks: [{ id: gw6, kind: http, target: "http://127.0.0.1:9/" }] }
`;
const CHECKS = ['hscn-tcp', 'emis-api', 's1-api', 'nhs111-api', 'gw1', 'gw2', 'gw3', 'gw4', 'gw5', 'gw6'];

function result(checkId: string, outcome: 'ok' | 'fail' | 'slow', at: number): CheckResult {
  if (outcome === 'fail') return { ok: false, checkId, at, location: 'l', latencyMs: 1, error: 'status', detail: 'status 503, expected 2xx' };
  return { ok: true, checkId, at, location: 'l', latencyMs: 5, ...(outcome === 'slow' ? { degraded: 'slow: 3000 ms' } : {}) };
}

describe('incident tracker driven by the status engine', () => {
  it('opens and closes incidents so that every down or degraded subject is in one, and none is left when all is up', () => {
    const estate = parseEstate(ESTATE, 'e.yaml');
    const outcome = fc.constantFrom<'ok' | 'fail' | 'slow' | 'silent'>('ok', 'ok', 'fail', 'fail', 'slow', 'silent');
    fc.assert(
      fc.property(fc.array(fc.array(outcome, { minLength: CHECKS.length, maxLength: CHECKS.length }), { minLength: 1, maxLength: 60 }), (rounds) => {
        const engine = new StatusEngine(estate, T0);
        const tracker = makeTracker({ nameOf: estateNames(estate) });
        const fold = new EventFold();
        const latest = new Map<SubjectKey, SubjectState>();
        const spells = new SpellModel();
        let now = T0;
        const tick = () => {
          const changed = changedSubjects(estate, engine.recompute(now));
          for (const s of changed) latest.set(s.key, s);
          spells.note(changed, now);
          fold.apply(tracker.update(now, changed));
          checkInvariants(tracker, latest, fold, { now, groupWaitMs: 30_000, spells });
        };
        for (const round of rounds) {
          now += 10_000;
          engine.ingest(round.flatMap((o, i) => (o === 'silent' ? [] : [result(CHECKS[i]!, o, now)])));
          tick();
        }
        // Healthy from here on; flap damping may hold a check degraded for its window.
        const settled = now + 20 * 60_000;
        while (now < settled && [...latest.values()].some((s) => s.status !== 'up')) {
          now += 10_000;
          engine.ingest(CHECKS.map((id) => result(id, 'ok', now)));
          tick();
        }
        expect([...latest.values()].filter((s) => s.status !== 'up')).toEqual([]);
        expect(tracker.open()).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
