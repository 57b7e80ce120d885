import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import fc from 'fast-check';
import {
  INITIAL_CHECK_STATE,
  applyResult,
  checkStatusAt,
  mergeLocations,
  rollUp,
  upstreamServices,
  type CheckState,
  type UpstreamInput,
} from '../../../server/status/rollup';
import { STATUS_LEVELS, causeText } from '../../../server/status/types';

const rules = { failuresToDown: 2, successesToUp: 1 };
const ok = (at: number): CheckResult => ({ ok: true, checkId: 'c', at, location: 'l', latencyMs: 12 });
const fail = (at: number): CheckResult => ({
  ok: false,
  checkId: 'c',
  at,
  location: 'l',
  latencyMs: 3,
  error: 'status',
  detail: 'status 503, expected 2xx',
});
const fold = (results: CheckResult[], state: CheckState = INITIAL_CHECK_STATE) =>
  results.reduce((s, r) => applyResult(s, r, rules), state);

describe('check confirmation', () => {
  it('is unknown before any result', () => {
    expect(checkStatusAt(INITIAL_CHECK_STATE, 1_000, 5_000, 1_000).status).toBe('unknown');
  });
  it('is up after one success', () => {
    expect(fold([ok(1)]).confirmed).toBe('up');
  });
  it('ignores a single failure: one blip is nothing', () => {
    expect(fold([ok(1), fail(2)]).confirmed).toBe('up');
    expect(fold([ok(1), fail(2), ok(3), fail(4)]).confirmed).toBe('up');
  });
  it('is down after the configured number of consecutive failures, with the failure detail', () => {
    const s = fold([ok(1), fail(2), fail(3)]);
    expect(s.confirmed).toBe('down');
    expect(s.detail).toBe('status 503, expected 2xx');
  });
  it('comes back up on the configured number of successes', () => {
    expect(fold([fail(1), fail(2), ok(3)]).confirmed).toBe('up');
    const strict = { failuresToDown: 2, successesToUp: 3 };
    const s = [fail(1), fail(2), ok(3), ok(4)].reduce((st, r) => applyResult(st, r, strict), INITIAL_CHECK_STATE);
    expect(s.confirmed).toBe('down');
    expect(applyResult(s, ok(5), strict).confirmed).toBe('up');
  });
  it('shows a single failure after up as suspected, and a success after down as recovering', () => {
    const at = (s: CheckState) => checkStatusAt(s, 10, 5_000, 1_000).status;
    expect(at(fold([ok(1), fail(2)]))).toBe('suspected');
    expect(at(fold([fail(1)]))).toBe('suspected');
    const strict = { failuresToDown: 2, successesToUp: 2 };
    const s = [fail(1), fail(2), ok(3)].reduce((st, r) => applyResult(st, r, strict), INITIAL_CHECK_STATE);
    expect(at(s)).toBe('recovering');
    expect(at(applyResult(s, ok(4), strict))).toBe('up');
    expect(at(applyResult(s, fail(4), strict))).toBe('down');
  });

  it('shows a passing but degraded result as degraded, with the reason', () => {
    const slow: CheckResult = { ok: true, checkId: 'c', at: 1, location: 'l', latencyMs: 2300, degraded: 'latency 2300 ms above 2 s' };
    const seen = checkStatusAt(fold([slow]), 10, 5_000, 1_000);
    expect(seen).toEqual({ status: 'degraded', detail: 'latency 2300 ms above 2 s' });
  });

  it('keeps one flapping rule for every check folded under the same rules, with the steady-failure count', () => {
    const flapRules = { ...rules, flapping: { windowMs: 60_000, maxChanges: 3 } };
    const a = applyResult(INITIAL_CHECK_STATE, ok(1), flapRules);
    const b = applyResult(INITIAL_CHECK_STATE, fail(1), flapRules);
    expect(a.flapping).toEqual({ windowMs: 60_000, maxChanges: 3, steadyAfter: 4 });
    expect(b.flapping).toBe(a.flapping);
    expect(applyResult(INITIAL_CHECK_STATE, ok(1), rules).flapping).toBeNull();
  });

  it('ignores results older than the latest one seen', () => {
    const s = fold([fail(10), fail(11)]);
    expect(applyResult(s, ok(5), rules)).toBe(s);
  });
  it('turns unknown when no result arrives within twice the interval plus the timeout, never staying up', () => {
    const s = fold([ok(0)]);
    expect(checkStatusAt(s, 11_000, 5_000, 1_000).status).toBe('up');
    const stale = checkStatusAt(s, 11_001, 5_000, 1_000);
    expect(stale.status).toBe('unknown');
    expect(stale.detail).toBe('no result for 11 s');
  });
});

const OVERLOADED = "Pulse's probes in leeds are overloaded: 4.6 s behind";
const impairedFail = (at: number): CheckResult => ({ ...fail(at), error: 'timeout', detail: 'no answer within 2000 ms', impaired: OVERLOADED } as CheckResult);

describe('results an impaired observer could not judge', () => {
  const now = 10;
  const at = (s: CheckState) => checkStatusAt(s, now, 5_000, 1_000);

  it('leave the confirmed state and the consecutive counts untouched, and show unknown with the reason verbatim', () => {
    const before = fold([ok(1), fail(2)]);
    const after = fold([impairedFail(3), impairedFail(4), impairedFail(5)], before);
    expect(after.confirmed).toBe('up');
    expect(after.failures).toBe(1);
    expect(after.successes).toBe(0);
    expect(at(after)).toEqual({ status: 'unknown', detail: OVERLOADED, impaired: true });
  });

  it('never take a check down, however many arrive', () => {
    const s = fold(Array.from({ length: 20 }, (_, i) => impairedFail(i + 1)), fold([ok(0)]));
    expect(s.confirmed).toBe('up');
    expect(at(s).status).toBe('unknown');
  });

  it('never bring a down check up: a degraded success from an impaired observer is no evidence either', () => {
    const down = fold([fail(1), fail(2)]);
    const degraded: CheckResult = { ok: true, checkId: 'c', at: 3, location: 'l', latencyMs: 2300, degraded: 'latency 2300 ms above 2 s', impaired: OVERLOADED };
    const s = applyResult(down, degraded, rules);
    expect(s.confirmed).toBe('down');
    expect(at(s)).toEqual({ status: 'unknown', detail: OVERLOADED, impaired: true });
  });

  it('end at the next judged result: a failure counts on from before, a clean success from an impaired observer counts', () => {
    const impaired = fold([ok(1), fail(2), impairedFail(3)]);
    const failedAgain = applyResult(impaired, fail(4), rules);
    expect(failedAgain.confirmed).toBe('down'); // the second consecutive judged failure
    expect(at(failedAgain).status).toBe('down');
    const cleanWhileImpaired: CheckResult = { ...ok(5), impaired: OVERLOADED };
    const back = applyResult(fold([fail(1), fail(2), impairedFail(3)]), cleanWhileImpaired, rules);
    expect(back.confirmed).toBe('up');
    expect(at(back)).toEqual({ status: 'up', detail: 'ok in 12 ms' });
  });

  it('do not flip the flapping record', () => {
    const flapRules = { ...rules, flapping: { windowMs: 60_000, maxChanges: 3 } };
    const s = [ok(1), impairedFail(2), ok(3), impairedFail(4), ok(5)].reduce((st, r) => applyResult(st, r, flapRules), INITIAL_CHECK_STATE);
    expect(s.flips).toEqual([]);
  });
});

describe('a result dated in the future', () => {
  const YEAR_3000 = Date.UTC(3000, 0, 1);
  const now = Date.UTC(2026, 10, 27);

  it('cannot pin a check green: a state whose latest result is after now is unknown, not up', () => {
    const pinned = fold([ok(YEAR_3000)]);
    expect(checkStatusAt(pinned, now, 60_000, 10_000)).toEqual({ status: 'unknown', detail: "latest result is dated after this server's clock: no evidence" });
  });

  it('is superseded by the next honest result instead of making it look older', () => {
    const pinned = fold([ok(YEAR_3000)]);
    const s = fold([fail(now), fail(now + 1_000)], pinned);
    expect(s.lastAt).toBe(now + 1_000);
    expect(checkStatusAt(s, now + 1_000, 60_000, 10_000).status).toBe('down');
  });
});

const up = (service: string, impact: 'critical' | 'degrading' = 'critical'): UpstreamInput => ({
  service,
  impact,
  status: 'up',
  cause: null,
});

describe('roll-up', () => {
  it('is up with healthy checks and dependencies', () => {
    expect(rollUp([{ id: 'g', status: 'up', detail: '' }], [up('emis-web')])).toEqual({ status: 'up', cause: null });
  });

  it('is down with cause upstream when a critical dependency is down', () => {
    const rolled = rollUp([{ id: 'g', status: 'up', detail: '' }], [{ ...up('emis-web'), status: 'down' }]);
    expect(rolled.status).toBe('down');
    expect(causeText(rolled.cause)).toBe('upstream: emis-web');
  });

  it('is only degraded when a degrading dependency is down', () => {
    const rolled = rollUp([], [up('emis-web'), { ...up('eps', 'degrading'), status: 'down' }]);
    expect(rolled.status).toBe('degraded');
    expect(causeText(rolled.cause)).toBe('upstream: eps');
  });

  it('prefers the upstream cause over its own failing checks at equal severity (one root cause)', () => {
    const rolled = rollUp([{ id: 'g', status: 'down', detail: 'refused' }], [{ ...up('emis-web'), status: 'down' }]);
    expect(causeText(rolled.cause)).toBe('upstream: emis-web');
  });

  it('names its own failing checks when its dependencies are healthy', () => {
    const rolled = rollUp(
      [
        { id: 'A81001-gateway', status: 'down', detail: 'status 503, expected 2xx' },
        { id: 'A81001-phones', status: 'up', detail: 'ok' },
      ],
      [up('emis-web')],
    );
    expect(rolled.status).toBe('down');
    expect(causeText(rolled.cause)).toBe('check A81001-gateway: status 503, expected 2xx');
  });

  it('keeps the chain of causes through services (practice ← emis-web ← hscn)', () => {
    const emis: UpstreamInput = {
      ...up('emis-web'),
      status: 'down',
      cause: { kind: 'upstream', service: 'hscn', impact: 'critical', status: 'down', via: null },
    };
    const rolled = rollUp([], [emis]);
    expect(upstreamServices(rolled.cause)).toEqual(['emis-web', 'hscn']);
  });

  it('does not pass an unconfirmed (suspected) upstream failure on to dependants', () => {
    expect(rollUp([{ id: 'g', status: 'up', detail: '' }], [{ ...up('emis-web'), status: 'suspected' }]).status).toBe('up');
  });

  it('is never up while a critical dependency is confirmed not up, whatever its own checks say', () => {
    for (const status of STATUS_LEVELS.filter((s) => s !== 'up' && s !== 'suspected')) {
      for (const own of STATUS_LEVELS) {
        const rolled = rollUp([{ id: 'g', status: own, detail: '' }], [{ ...up('emis-web'), status }]);
        expect(rolled.status, `dependency ${status}, own ${own}`).not.toBe('up');
      }
    }
  });

  it('is never up while any own check is not up', () => {
    for (const status of STATUS_LEVELS.filter((s) => s !== 'up')) {
      expect(rollUp([{ id: 'a', status: 'up', detail: '' }, { id: 'b', status, detail: '' }], []).status).toBe(status);
    }
  });

  it('ranks down above unknown above degraded', () => {
    const deps: UpstreamInput[] = [
      { ...up('a', 'degrading'), status: 'down' },
      { ...up('b'), status: 'unknown' },
    ];
    expect(rollUp([], deps).status).toBe('unknown');
    expect(rollUp([{ id: 'g', status: 'down', detail: '' }], deps).status).toBe('down');
  });
});

describe('probe location quorum', () => {
  const seen = (location: string, status: 'up' | 'down' | 'suspected' | 'unknown' | 'degraded' | 'recovering', detail: string = status) => ({
    location,
    status,
    detail,
  });

  it('is down only when the quorum of fresh locations see it down', () => {
    expect(mergeLocations([seen('a', 'down', 'refused'), seen('b', 'down', 'refused'), seen('c', 'up')], 2)).toEqual({
      status: 'down',
      detail: 'refused (down from 2 of 3 locations: a, b)',
    });
  });

  it('is suspected, naming the location, when fewer than the quorum see it down', () => {
    expect(mergeLocations([seen('a', 'up'), seen('b', 'down', 'timeout'), seen('c', 'up')], 2)).toEqual({
      status: 'suspected',
      detail: 'timeout (failing from 1 of 3 locations: b; quorum 2)',
    });
  });

  it('lowers the quorum to the locations that still report (a silent location does not vote)', () => {
    expect(mergeLocations([seen('a', 'down'), seen('b', 'unknown'), seen('c', 'unknown')], 2).status).toBe('down');
    expect(mergeLocations([seen('a', 'unknown'), seen('b', 'unknown')], 2).status).toBe('unknown');
  });

  it('does not count an impaired location as fresh, and names its reason when no location can judge', () => {
    const impaired = { location: 'leeds', status: 'unknown' as const, detail: OVERLOADED, impaired: true as const };
    expect(mergeLocations([impaired, seen('b', 'down', 'refused'), seen('c', 'down', 'refused')], 2).status).toBe('down');
    expect(mergeLocations([impaired, seen('b', 'down', 'refused'), seen('c', 'up')], 2).status).toBe('suspected');
    expect(mergeLocations([seen('a', 'unknown', 'no result yet'), impaired], 2)).toEqual({ status: 'unknown', detail: OVERLOADED });
    expect(mergeLocations([impaired], 2)).toEqual({ status: 'unknown', detail: OVERLOADED });
  });

  it('never reports down from fewer locations than the quorum while more are fresh (property)', () => {
    const level = fc.constantFrom('up', 'down', 'suspected', 'unknown', 'degraded', 'recovering') as fc.Arbitrary<
      'up' | 'down' | 'suspected' | 'unknown' | 'degraded' | 'recovering'
    >;
    fc.assert(
      fc.property(fc.array(level, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 6 }), (levels, quorum) => {
        const views = levels.map((l, i) => seen(`l${i}`, l));
        const merged = mergeLocations(views, quorum);
        const fresh = levels.filter((l) => l !== 'unknown').length;
        const down = levels.filter((l) => l === 'down').length;
        if (merged.status === 'down') expect(down).toBeGreaterThanOrEqual(Math.min(quorum, fresh));
        if (fresh === 0) expect(merged.status).toBe('unknown');
        if (down > 0 && merged.status !== 'down') expect(merged.status).toBe('suspected');
      }),
    );
  });
});

describe('roll-up properties', () => {
  const level = fc.constantFrom(...STATUS_LEVELS);
  const dep = fc.record({
    service: fc.constantFrom('emis-web', 'eps', 'hscn'),
    impact: fc.constantFrom('critical' as const, 'degrading' as const),
    status: level,
    cause: fc.constant(null),
  });
  const own = fc.array(fc.record({ id: fc.constantFrom('g', 'h'), status: level, detail: fc.constant('') }), { maxLength: 4 });

  it('is up only when every own check is up and every critical dependency is up', () => {
    fc.assert(
      fc.property(own, fc.array(dep, { maxLength: 4 }), (checks, deps) => {
        const rolled = rollUp(checks, deps);
        const allUp =
          checks.every((c) => c.status === 'up') &&
          deps.every((d) => d.impact === 'degrading' || d.status === 'up' || d.status === 'suspected');
        if (rolled.status === 'up') expect(allUp).toBe(true);
        if (rolled.status === 'up') expect(rolled.cause).toBeNull();
        else expect(rolled.cause).not.toBeNull();
      }),
    );
  });

  it('is down whenever a critical dependency is down, with that dependency as the cause', () => {
    fc.assert(
      fc.property(own, fc.array(dep, { maxLength: 4 }), (checks, deps) => {
        const criticalDown = deps.find((d) => d.impact === 'critical' && d.status === 'down');
        const rolled = rollUp(checks, deps);
        if (criticalDown) {
          expect(rolled.status).toBe('down');
          expect(rolled.cause?.kind).toBe('upstream');
        }
      }),
    );
  });

  it('is never up on stale data: an unknown own check never rolls up to up', () => {
    fc.assert(
      fc.property(own, fc.array(dep, { maxLength: 4 }), (checks, deps) => {
        if (checks.some((c) => c.status === 'unknown')) expect(rollUp(checks, deps).status).not.toBe('up');
      }),
    );
  });
});
