// The engine notices what time alone changes (data going stale, a future-dated result coming
// within the skew, a flapping window ending) by scheduling each check's next look, not by
// examining every check on every tick. These tests hold it to the old, exhaustive rule: after
// any recompute, nothing differs from an engine that recomputes everything from scratch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { parseEstate, type Estate } from '../../../server/config/estate';
import { StatusEngine, type SubjectKey } from '../../../server/status/engine';
import { MAX_CLOCK_SKEW_MS, nextTimeChange, INITIAL_CHECK_STATE, applyResult, checkStatusAt } from '../../../server/status/rollup';
import type { Cause } from '../../../server/status/types';

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
status: { failuresToDown: 2, successesToUp: 1, quorum: 2, flapping: { window: 1m, maxChanges: 3 } }
services:
  - id: hscn
    name: HSCN
    kind: network
    checks: [{ id: hscn-tcp, kind: tcp, target: "127.0.0.1:9" }]
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    dependsOn: [{ service: hscn }]
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/", interval: 30s }]
practices:
  - { ods: A00001, name: One, pcn: P1, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }, { id: pc1, kind: tcp, target: "127.0.0.1:9", interval: 1m }] }
  - { ods: A00002, name: Two, pcn: P1, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
`;
const CHECKS = ['hscn-tcp', 'emis-api', 'gw1', 'pc1', 'gw2'];
const LOCATIONS = ['leeds', 'london'];

function estate(): Estate {
  return parseEstate(ESTATE, 'e.yaml');
}

function result(checkId: string, at: number, ok: boolean, location = 'leeds'): CheckResult {
  return ok
    ? { ok: true, checkId, at, location, latencyMs: 5 }
    : { ok: false, checkId, at, location, latencyMs: 1, error: 'refused', detail: 'connection refused' };
}

/**
 * Every subject's status and the shape of its cause (which checks, which upstream service), as
 * the engine holds them. Not the detail words: "no result for 22 s" ages on every tick, and
 * the engine (old and new) redraws a subject when its status changes, not its wording.
 */
function statuses(engine: StatusEngine, e: Estate): Record<string, string> {
  const keys: SubjectKey[] = [...[...e.services.keys()].map((id) => `service:${id}` as const), ...[...e.practices.keys()].map((ods) => `practice:${ods}` as const)];
  const shape = (c: Cause | null): string =>
    c === null ? '-' : c.kind === 'checks' ? `checks ${c.checks.map((x) => `${x.id}=${x.status}`).join(',')}` : c.kind === 'upstream' ? `upstream ${c.service}=${c.status} via ${shape(c.via)}` : c.kind;
  return Object.fromEntries(keys.map((k) => [k, `${engine.status(k)!.status} ${shape(engine.status(k)!.cause)}`]));
}

/** What an engine that recomputes everything from the same states says as of `now`. */
function fromScratch(engine: StatusEngine, e: Estate, now: number): Record<string, string> {
  const fresh = new StatusEngine(e, 0);
  fresh.importState(engine.exportState());
  fresh.recompute(now);
  // A dependency's change reaches its dependants on the same recompute; run twice to settle.
  fresh.recompute(now);
  return statuses(fresh, e);
}

describe('status engine: changes time alone makes', () => {
  it('shows a check unknown on the first tick past its staleness, without any result', () => {
    const e = estate();
    const engine = new StatusEngine(e, 0);
    engine.ingest(CHECKS.flatMap((id) => LOCATIONS.map((l) => result(id, 1_000, true, l))));
    engine.recompute(1_000);
    expect(engine.status('practice:A00002')!.status).toBe('up');
    // gw2: 10 s interval, 2 s timeout: stale after 22 s.
    expect(engine.recompute(23_000)).toEqual([]);
    const changes = engine.recompute(23_001);
    expect(changes.map((c) => `${c.subject}:${c.to}`)).toContain('practice:A00002:unknown');
  });

  it('believes a future-dated state again once it comes within the skew', () => {
    const state = applyResult(INITIAL_CHECK_STATE, result('gw1', 100_000, true), { failuresToDown: 2, successesToUp: 1 });
    const now = 100_000 - MAX_CLOCK_SKEW_MS - 5_000;
    expect(checkStatusAt(state, now, 10_000, 2_000).status).toBe('unknown');
    const at = nextTimeChange(state, now, 10_000, 2_000);
    expect(checkStatusAt(state, at - 1, 10_000, 2_000).status).toBe('unknown');
    expect(checkStatusAt(state, at, 10_000, 2_000).status).toBe('up');
  });

  it('never leaves a subject behind what a full recompute says (random results and clock steps)', () => {
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 40_000 }),
      results: fc.array(
        fc.record({
          check: fc.constantFrom(...CHECKS),
          location: fc.constantFrom(...LOCATIONS),
          ok: fc.boolean(),
          // Mostly now; sometimes out of order, sometimes dated well ahead (a lying clock).
          offsetMs: fc.oneof(fc.constant(0), fc.integer({ min: -20_000, max: 0 }), fc.integer({ min: 31_000, max: 90_000 })),
        }),
        { maxLength: 6 },
      ),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const e = estate();
        const engine = new StatusEngine(e, 0);
        let now = 0;
        engine.recompute(now);
        for (const s of steps) {
          now += s.advanceMs;
          engine.ingest(s.results.map((r) => result(r.check, now + r.offsetMs, r.ok, r.location)));
          engine.recompute(now);
          engine.recompute(now);
          expect(statuses(engine, e)).toEqual(fromScratch(engine, e, now));
        }
      }),
      { numRuns: 150 },
    );
  });
});
