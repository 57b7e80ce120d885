import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { http } from '../../probes/http';
import { Scheduler, catchUpWindowMs, firstDueAt, hostOf, nextDueAt, phaseOf, type Clock, type RunResult } from '../../probes/scheduler';
import type { CheckAssignment, CheckKind, ProbeContext, ProbeOutcome } from '../../probes/types';
import { FakeClock } from './fake-clock';

const ok: ProbeOutcome = { ok: true, latencyMs: 1 };

/** A check kind whose runs finish only when the test says so. */
function heldKind() {
  const runs: { target: string; ctx: ProbeContext; resolve: (o: ProbeOutcome) => void; done: boolean }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const kind: CheckKind<Record<string, never>> = {
    kind: 'held',
    options: z.object({}).strict(),
    validateTarget: () => null,
    run: (target, _options, ctx) =>
      new Promise<ProbeOutcome>((resolve) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const run = {
          target,
          ctx,
          done: false,
          resolve: (outcome: ProbeOutcome) => {
            if (run.done) return;
            run.done = true;
            inFlight--;
            resolve(outcome);
          },
        };
        runs.push(run);
      }),
  };
  return { kind, runs, maxInFlight: () => maxInFlight };
}

/** A check kind that answers at once. */
const instantKind: CheckKind<Record<string, never>> = {
  kind: 'instant',
  options: z.object({}).strict(),
  validateTarget: () => null,
  run: async () => ok,
};

function check(id: string, overrides: Partial<CheckAssignment> = {}): CheckAssignment {
  return { id, kind: 'instant', target: 'x', intervalMs: 10_000, timeoutMs: 2_000, options: {}, ...overrides };
}

/** A check kind that takes as long as `delays` says for its target (0 by default), on the given clock. */
function sleepyKind(clock: Clock, delays: Map<string, number>) {
  const starts: { target: string; at: number }[] = [];
  const kind: CheckKind<Record<string, never>> = {
    kind: 'sleepy',
    options: z.object({}).strict(),
    validateTarget: () => null,
    run: (target) => {
      starts.push({ target, at: clock.now() });
      return new Promise<ProbeOutcome>((resolve) => clock.setTimeout(() => resolve(ok), delays.get(target) ?? 0));
    },
  };
  return { kind, starts };
}

/** Nearest-rank percentile of unsorted values. */
function percentileOf(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/** How late a run of a check with this id started, given its start time and interval. */
function lagOf(id: string, at: number, intervalMs: number): number {
  const offset = Math.floor(phaseOf(id) * intervalMs);
  return (((at - offset) % intervalMs) + intervalMs) % intervalMs;
}

function setup(
  opts: { concurrency?: number; perHostConcurrency?: number; lagWindowMs?: number; clock?: FakeClock; kinds?: Record<string, CheckKind<unknown>> } = {},
) {
  const clock = opts.clock ?? new FakeClock();
  const results: RunResult[] = [];
  const scheduler = new Scheduler({
    clock,
    concurrency: opts.concurrency,
    perHostConcurrency: opts.perHostConcurrency,
    lagWindowMs: opts.lagWindowMs,
    kinds: opts.kinds ?? { instant: instantKind },
    onResult: (r) => results.push(r),
  });
  return { clock, results, scheduler };
}

describe('Scheduler', () => {
  it('runs an unbounded check (the canary) even while every total slot is held by hanging runs', async () => {
    const held = heldKind();
    const clock = new FakeClock();
    const results: RunResult[] = [];
    const scheduler = new Scheduler({
      clock,
      concurrency: 2,
      kinds: { held: held.kind, instant: instantKind },
      hostOf: (a) => a.id,
      unbounded: (a) => a.id === 'canary',
      onResult: (r) => results.push(r),
    });
    scheduler.setChecks([
      check('hang-1', { kind: 'held', intervalMs: 1_000, timeoutMs: 60_000 }),
      check('hang-2', { kind: 'held', intervalMs: 1_000, timeoutMs: 60_000 }),
      check('hang-3', { kind: 'held', intervalMs: 1_000, timeoutMs: 60_000 }),
      check('canary', { intervalMs: 1_000 }),
    ]);
    await clock.advance(5_000);
    expect(held.maxInFlight()).toBe(2);
    expect(results.filter((r) => r.checkId === 'canary').length).toBeGreaterThanOrEqual(4);
    expect(results.some((r) => r.checkId.startsWith('hang'))).toBe(false);
    scheduler.stop();
  });

  it('spreads 100 checks over a 10 s interval instead of bursting, at phases stable across instances', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `check-${i}`);
    const a = setup();
    a.scheduler.setChecks(ids.map((id) => check(id)));
    await a.clock.advance(10_000);
    expect(a.results).toHaveLength(100);
    const offsets = a.results.map((r) => r.at % 10_000);

    // Hash phases are not a perfect packing (birthday collisions are expected),
    // but no 100 ms slot may hold a burst, and every second of the interval is used.
    const perSlot = new Map<number, number>();
    for (const o of offsets) perSlot.set(Math.floor(o / 100), (perSlot.get(Math.floor(o / 100)) ?? 0) + 1);
    expect(Math.max(...perSlot.values())).toBeLessThanOrEqual(5);
    expect(new Set(offsets).size).toBeGreaterThanOrEqual(95);
    const perSecond = new Set(offsets.map((o) => Math.floor(o / 1000)));
    expect(perSecond.size).toBe(10);

    // Another worker started 3.7 s later (or a restart) runs each check at the same phase.
    const b = setup({ clock: new FakeClock(a.clock.now() + 3_700) });
    b.scheduler.setChecks(ids.map((id) => check(id)));
    await b.clock.advance(10_000);
    const phaseA = new Map(a.results.map((r) => [r.checkId, r.at % 10_000]));
    for (const r of b.results) expect(r.at % 10_000).toBe(phaseA.get(r.checkId));
    expect(b.results).toHaveLength(100);
    a.scheduler.stop();
    b.scheduler.stop();
  });

  it('computes the next due time from the phase, never in the past', () => {
    const phase = phaseOf('svc-1');
    const offset = Math.floor(phase * 60_000);
    const due = nextDueAt(1_000_000_123, 60_000, phase);
    expect(due % 60_000).toBe(offset);
    expect(due).toBeGreaterThanOrEqual(1_000_000_123);
    expect(due - 1_000_000_123).toBeLessThan(60_000);
  });

  it('runs each check exactly once per interval', async () => {
    const { clock, results, scheduler } = setup();
    scheduler.setChecks([check('a', { intervalMs: 1_000 }), check('b', { intervalMs: 1_000 }), check('c', { intervalMs: 3_000 })]);
    await clock.advance(30_000);
    const runsOf = (id: string) => results.filter((r) => r.checkId === id).map((r) => r.at);
    expect(runsOf('a')).toHaveLength(30);
    expect(runsOf('b')).toHaveLength(30);
    expect(runsOf('c')).toHaveLength(10);
    for (const id of ['a', 'b', 'c']) {
      const ats = runsOf(id);
      const gaps = new Set(ats.slice(1).map((t, i) => t - (ats[i] ?? 0)));
      expect([...gaps]).toEqual([id === 'c' ? 3_000 : 1_000]);
    }
    expect(results.every((r) => !('location' in r) && r.ok)).toBe(true);
    scheduler.stop();
  });

  it('never has more runs in flight than the concurrency bound, and reports the lag of runs kept waiting', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ concurrency: 3, kinds: { held: held.kind } });
    // Timeouts far beyond the test so only releases free a slot; later slots of a busy check are skipped.
    scheduler.setChecks(Array.from({ length: 10 }, (_, i) => check(`h${i}`, { kind: 'held', timeoutMs: 100_000 })));
    await clock.advance(10_000);
    expect(held.runs).toHaveLength(3);
    expect(scheduler.stats()).toMatchObject({ running: 3, queued: 7, checks: 10 });

    // Hold the slots 2 s past the last due time: runs still waiting are late by at least that.
    await clock.advance(2_000);
    expect(scheduler.stats().lagMs).toBeGreaterThanOrEqual(2_000);

    for (let released = 0; results.length < 10; released++) {
      const next = held.runs[released];
      if (!next) throw new Error(`run ${released} never started`);
      next.resolve(ok);
      await clock.advance(0);
      expect(scheduler.stats().running).toBeLessThanOrEqual(3);
    }
    expect(held.maxInFlight()).toBe(3);
    expect(new Set(results.map((r) => r.checkId)).size).toBe(10);
    expect(scheduler.stats().lagMs).toBeGreaterThanOrEqual(2_000);
    scheduler.stop();
  });

  it('hands each result on with the slot it ran for and how late it started', async () => {
    const held = heldKind();
    const clock = new FakeClock();
    const runs: { result: RunResult; dueAt: number; startLagMs: number }[] = [];
    const scheduler = new Scheduler({
      clock,
      concurrency: 1,
      kinds: { held: held.kind },
      onResult: (result, timing) => runs.push({ result, ...timing }),
    });
    scheduler.setChecks([check('first', { kind: 'held', timeoutMs: 100_000 }), check('second', { kind: 'held', timeoutMs: 100_000 })]);
    await clock.advance(10_000);
    expect(held.runs).toHaveLength(1); // one slot: the other waits
    await clock.advance(3_000);
    held.runs[0]!.resolve(ok);
    await clock.advance(0);
    held.runs[1]!.resolve({ ok: false, latencyMs: 1, error: 'refused', detail: 'refused' });
    await clock.advance(0);
    expect(runs).toHaveLength(2);
    const [first, waited] = runs;
    expect(first!.startLagMs).toBe(0);
    expect(first!.dueAt).toBe(first!.result.at);
    // The second was due within the first interval and started only when the first let go, 3 s or more later.
    expect(waited!.dueAt).toBe(nextDueAt(clock.now() - 13_000, 10_000, phaseOf(waited!.result.checkId)));
    expect(waited!.startLagMs).toBe(waited!.result.at - waited!.dueAt);
    expect(waited!.startLagMs).toBeGreaterThanOrEqual(3_000);
    expect(waited!.result).not.toHaveProperty('location');
    scheduler.stop();
  });

  it('reports a timeout at the deadline even when the probe ignores its abort signal', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ kinds: { held: held.kind } });
    scheduler.setChecks([check('slow', { kind: 'held', timeoutMs: 500 })]);
    await clock.advance(nextDueAt(clock.now(), 10_000, phaseOf('slow')) - clock.now());
    expect(held.runs).toHaveLength(1);
    const run = held.runs[0]!;
    expect(run.ctx.timeoutMs).toBe(500);
    const startedAt = clock.now();
    await clock.advance(499);
    expect(results).toHaveLength(0);
    expect(run.ctx.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ ok: false, error: 'timeout', checkId: 'slow', detail: 'no result within 500 ms' });
    expect(results[0]!.at).toBe(startedAt);
    expect(results[0]!.latencyMs).toBe(500);
    expect(run.ctx.signal.aborted).toBe(true);
    expect(scheduler.stats().running).toBe(0);

    // A late answer from the ignoring probe is not reported twice.
    run.resolve(ok);
    await clock.advance(0);
    expect(results).toHaveLength(1);
    scheduler.stop();
  });

  it('never overlaps two runs of the same check: a slot that finds the last run still going is skipped', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ kinds: { held: held.kind } });
    scheduler.setChecks([check('busy', { kind: 'held', intervalMs: 1_000, timeoutMs: 3_500 })]);
    await clock.advance(nextDueAt(clock.now(), 1_000, phaseOf('busy')) - clock.now());
    expect(held.runs).toHaveLength(1);
    await clock.advance(3_000);
    expect(held.runs).toHaveLength(1);
    expect(scheduler.stats().skippedRuns).toBe(3);
    await clock.advance(1_000); // deadline at 3.5 s, then the slot at 4 s runs again
    expect(results).toMatchObject([{ error: 'timeout' }]);
    expect(held.runs).toHaveLength(2);
    scheduler.stop();
  });

  it('stops a check removed by setChecks, aborting its run in flight without reporting it', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ kinds: { held: held.kind, instant: instantKind } });
    scheduler.setChecks([check('keep'), check('drop', { kind: 'held', timeoutMs: 100_000 })]);
    await clock.advance(10_000);
    expect(held.runs).toHaveLength(1);
    const inFlight = held.runs[0]!;

    scheduler.setChecks([check('keep')]);
    expect(inFlight.ctx.signal.aborted).toBe(true);
    inFlight.resolve(ok);
    await clock.advance(30_000);
    expect(held.runs).toHaveLength(1);
    expect(results.filter((r) => r.checkId === 'drop')).toHaveLength(0);
    expect(results.filter((r) => r.checkId === 'keep')).toHaveLength(4);
    expect(scheduler.stats()).toMatchObject({ checks: 1, running: 0 });
    scheduler.stop();
  });

  it('keeps the schedule of an unchanged check when the set is replaced', async () => {
    const { clock, results, scheduler } = setup();
    scheduler.setChecks([check('a')]);
    await clock.advance(10_000);
    const first = results.map((r) => r.at);
    scheduler.setChecks([check('a'), check('b')]);
    scheduler.setChecks([check('a'), check('b')]);
    await clock.advance(10_000);
    const aRuns = results.filter((r) => r.checkId === 'a').map((r) => r.at);
    expect(aRuns).toEqual([first[0], (first[0] ?? 0) + 10_000]);
    scheduler.stop();
  });

  it('reports an invalid assignment as an error result on schedule instead of throwing', async () => {
    const { clock, results, scheduler } = setup({ kinds: { http: http as CheckKind<unknown>, instant: instantKind } });
    scheduler.setChecks([
      check('nokind', { kind: 'smtp' }),
      check('badtarget', { kind: 'http', target: 'ftp://example.nhs.uk' }),
      check('badoptions', { kind: 'http', target: 'https://example.nhs.uk', options: { methd: 'GET' } }),
      check('fine'),
    ]);
    await clock.advance(10_000);
    const byId = new Map(results.map((r) => [r.checkId, r]));
    expect(byId.get('fine')?.ok).toBe(true);
    expect(byId.get('nokind')).toMatchObject({ ok: false, error: 'error', detail: expect.stringContaining('unknown check kind "smtp"') });
    expect(byId.get('badtarget')).toMatchObject({ ok: false, error: 'error', detail: expect.stringContaining('http:// or https://') });
    expect(byId.get('badoptions')).toMatchObject({ ok: false, error: 'error', detail: expect.stringContaining('methd') });
    scheduler.stop();
  });

  it('reports a probe that throws as an error result and keeps scheduling it', async () => {
    const throwing: CheckKind<Record<string, never>> = {
      kind: 'throwing',
      options: z.object({}).strict(),
      validateTarget: () => null,
      run: () => {
        throw new Error('boom');
      },
    };
    const { clock, results, scheduler } = setup({ kinds: { throwing } });
    scheduler.setChecks([check('t', { kind: 'throwing' })]);
    await clock.advance(20_000);
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ ok: false, error: 'error', detail: 'probe failed: boom' });
    scheduler.stop();
  });

  it('leaves no timers pending after stop(), even with runs in flight, and reports nothing more', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ kinds: { held: held.kind, instant: instantKind } });
    scheduler.setChecks([check('a'), check('b', { kind: 'held', timeoutMs: 100_000 }), check('c', { intervalMs: 1_000 })]);
    await clock.advance(10_000);
    expect(clock.pendingTimers).toBeGreaterThan(0);
    const countBefore = results.length;
    scheduler.stop();
    expect(clock.pendingTimers).toBe(0);
    expect(held.runs[0]?.ctx.signal.aborted).toBe(true);
    held.runs[0]?.resolve(ok);
    await clock.advance(60_000);
    expect(results).toHaveLength(countBefore);
    expect(scheduler.stats()).toMatchObject({ checks: 0, running: 0 });
  });
  it('never runs more than perHostConcurrency checks against one host, while other hosts keep their slots', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ concurrency: 5, perHostConcurrency: 2, kinds: { held: held.kind } });
    // One gateway behind several ports and spellings, and a second host.
    const onA = Array.from({ length: 6 }, (_, i) => check(`a${i}`, { kind: 'held', target: `https://GP-A.example.nhs.uk:${8000 + i}/p${i}`, timeoutMs: 100_000 }));
    const onB = Array.from({ length: 3 }, (_, i) => check(`b${i}`, { kind: 'held', target: 'gp-b.example.nhs.uk:443', timeoutMs: 100_000 }));
    scheduler.setChecks([...onA, ...onB]);
    const inFlightOn = (host: string) => held.runs.filter((r) => !r.done && hostOf(r.target) === host).length;
    const bounds = () => {
      expect(inFlightOn('gp-a.example.nhs.uk')).toBeLessThanOrEqual(2);
      expect(inFlightOn('gp-b.example.nhs.uk')).toBeLessThanOrEqual(2);
      expect(scheduler.stats().running).toBeLessThanOrEqual(5);
    };

    await clock.advance(10_000);
    // Host A's waiting runs do not hold up host B: two of each run, one total slot stays free.
    expect(inFlightOn('gp-a.example.nhs.uk')).toBe(2);
    expect(inFlightOn('gp-b.example.nhs.uk')).toBe(2);
    expect(scheduler.stats()).toMatchObject({ running: 4, queued: 5 });

    // A check removed while it waits for its host never runs, and stops counting as queued.
    const waitingOnA = onA.find((c) => !held.runs.some((r) => r.target === c.target));
    expect(waitingOnA).toBeDefined();
    scheduler.setChecks([...onA.filter((c) => c !== waitingOnA), ...onB]);
    expect(scheduler.stats()).toMatchObject({ running: 4, queued: 4 });

    for (let i = 0; results.length < 8; i++) {
      const run = held.runs[i];
      if (!run) throw new Error(`run ${i} never started (${results.length} results)`);
      run.resolve(ok);
      await clock.advance(0);
      bounds();
    }
    expect(new Set(results.map((r) => r.checkId))).toEqual(new Set([...onA, ...onB].filter((c) => c !== waitingOnA).map((c) => c.id)));
    expect(held.runs.some((r) => r.target === waitingOnA?.target)).toBe(false);
    expect(scheduler.stats()).toMatchObject({ running: 0, queued: 0 });
    scheduler.stop();
  });

  it('never starts a run whose check was removed while it waited for a free slot', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ concurrency: 1, kinds: { held: held.kind } });
    const first = check('first', { kind: 'held', target: 'one', timeoutMs: 100_000 });
    const second = check('second', { kind: 'held', target: 'two', timeoutMs: 100_000 });
    scheduler.setChecks([first, second]);
    await clock.advance(9_999);
    expect(scheduler.stats()).toMatchObject({ running: 1, queued: 1 });
    const running = held.runs[0]!;

    scheduler.setChecks(running.target === 'one' ? [first] : [second]);
    expect(scheduler.stats()).toMatchObject({ running: 1, queued: 0 });
    running.resolve(ok);
    await clock.advance(0);
    expect(held.runs).toHaveLength(1);
    expect(results).toHaveLength(1);
    expect(scheduler.stats()).toMatchObject({ running: 0, queued: 0 });
    scheduler.stop();
  });

  it('groups targets by host name: URL or host:port, any case, any port', () => {
    expect(hostOf('https://GP.Example.nhs.uk:8443/status')).toBe('gp.example.nhs.uk');
    expect(hostOf('http://gp.example.nhs.uk/')).toBe('gp.example.nhs.uk');
    expect(hostOf('gp.example.nhs.uk:22')).toBe('gp.example.nhs.uk');
    expect(hostOf('[::1]:3389')).toBe('::1');
    expect(hostOf('http://[::1]:8080/')).toBe('::1');
    expect(hostOf('something odd')).toBe('something odd');
  });

  it('reports the median and 99th percentile start lag of the window, matching the lags the runs actually had', async () => {
    const clock = new FakeClock();
    const delays = new Map<string, number>();
    const sleepy = sleepyKind(clock, delays);
    const { results, scheduler } = setup({ clock, concurrency: 1, kinds: { sleepy: sleepy.kind } });
    // One slot, 60 checks each taking 120 ms per 10 s: 72% busy, so runs queue behind each other by varying amounts.
    const ids = Array.from({ length: 60 }, (_, i) => `q${i}`);
    for (const id of ids) delays.set(id, 120);
    scheduler.setChecks(ids.map((id) => check(id, { kind: 'sleepy', target: id })));
    await clock.advance(30_000);
    expect(results.length).toBeGreaterThan(150);

    const lags = sleepy.starts.map((s) => lagOf(s.target, s.at, 10_000));
    const truth = { p50: percentileOf(lags, 0.5), p99: percentileOf(lags, 0.99), max: Math.max(...lags) };
    expect(truth.p99).toBeGreaterThan(truth.p50);
    expect(truth.p99).toBeGreaterThan(64); // beyond the exact bins: exercises the log-scale ones
    const stats = scheduler.stats();
    // Exact below 64 ms; above, the top of a bin at most 3.2 % wide, never beyond the worst.
    for (const [reported, actual] of [
      [stats.lagP50Ms, truth.p50],
      [stats.lagP99Ms, truth.p99],
    ] as const) {
      expect(reported).toBeGreaterThanOrEqual(actual);
      expect(reported).toBeLessThanOrEqual(Math.ceil(actual * 1.032) + 1);
    }
    expect(stats.lagMs).toBeGreaterThanOrEqual(truth.max);
    expect(stats.lagP99Ms).toBeLessThanOrEqual(stats.lagMs);
    scheduler.stop();
  });

  it('forgets a lag spike once it slides out of the window', async () => {
    const clock = new FakeClock();
    const delays = new Map<string, number>([['blocker', 2_000]]);
    const sleepy = sleepyKind(clock, delays);
    const { scheduler } = setup({ clock, concurrency: 1, lagWindowMs: 10_000, kinds: { sleepy: sleepy.kind } });
    const ids = ['blocker', ...Array.from({ length: 50 }, (_, i) => `f${i}`)];
    scheduler.setChecks(ids.map((id) => check(id, { kind: 'sleepy', target: id })));
    await clock.advance(10_000);
    // Whatever fell due while the blocker held the only slot started late.
    const spike = scheduler.stats();
    expect(spike.lagMs).toBeGreaterThan(500);
    expect(spike.lagP99Ms).toBeGreaterThan(500);
    expect(spike.lagP50Ms).toBeLessThan(spike.lagP99Ms);

    delays.set('blocker', 0);
    await clock.advance(25_000);
    expect(scheduler.stats()).toMatchObject({ lagMs: 0, lagP50Ms: 0, lagP99Ms: 0 });
    scheduler.stop();
  });

  it('keeps one timer for 5,000 checks, whatever is due or in flight, and runs each once per interval', async () => {
    const held = heldKind();
    const { clock, results, scheduler } = setup({ kinds: { instant: instantKind, held: held.kind } });
    const checks = Array.from({ length: 5_000 }, (_, i) => check(`c${i}`, { target: `host-${i % 700}` }));
    scheduler.setChecks([...checks, check('slow', { kind: 'held', target: 'slow-host', timeoutMs: 100_000 })]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(9_999); // each check's first slot falls in [now, now + 10 s)
    expect(held.runs).toHaveLength(1);
    expect(clock.pendingTimers).toBe(1);
    expect(results).toHaveLength(5_000);
    expect(new Set(results.map((r) => r.checkId)).size).toBe(5_000);
    await clock.advance(10_000);
    expect(results).toHaveLength(10_000);
    expect(clock.pendingTimers).toBe(1);
    scheduler.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('with a tick, wakes at most once per tick and starts every run due by then, less than a tick after its slot', async () => {
    class CountingClock extends FakeClock {
      armed = 0;
      override setTimeout(fn: () => void, ms: number) {
        this.armed++;
        return super.setTimeout(fn, ms);
      }
    }
    const clock = new CountingClock();
    const results: RunResult[] = [];
    const scheduler = new Scheduler({ clock, tickMs: 20, kinds: { instant: instantKind }, onResult: (r) => results.push(r) });
    const ids = Array.from({ length: 2_000 }, (_, i) => `t${i}`);
    scheduler.setChecks(ids.map((id) => check(id)));
    await clock.advance(10_019);
    expect(new Set(results.map((r) => r.checkId)).size).toBe(2_000);
    for (const r of results) {
      expect(r.at % 20).toBe(0);
      expect(lagOf(r.checkId, r.at, 10_000)).toBeLessThan(20);
    }
    // 2,000 runs, yet no more wake-ups than ticks in the interval.
    expect(clock.armed).toBeLessThanOrEqual(10_020 / 20 + 1);
    expect(scheduler.stats().lagP99Ms).toBeLessThan(20);
    scheduler.stop();
  });

  it('finds its slots again when the wall clock steps back, instead of waiting the difference out', async () => {
    /** Wall time that can be stepped; timers stay on the monotonic fake time, as real timers do. */
    class SteppingClock extends FakeClock {
      offset = 0;
      override now(): number {
        return super.now() + this.offset;
      }
    }
    const clock = new SteppingClock();
    const held = heldKind();
    const { results, scheduler } = setup({ clock, kinds: { instant: instantKind, held: held.kind } });
    scheduler.setChecks([check('every-second', { intervalMs: 1_000 }), check('slow', { kind: 'held', intervalMs: 60_000, timeoutMs: 5_000 })]);
    await clock.advance(60_000);
    const before = results.filter((r) => r.checkId === 'every-second').length;
    expect(held.runs).toHaveLength(1);

    clock.offset = -3_600_000; // an hour back
    await clock.advance(5_000);
    const after = results.filter((r) => r.checkId === 'every-second');
    expect(after.length - before).toBeGreaterThanOrEqual(4);
    // The run in flight still meets its deadline, not an hour late.
    expect(results.filter((r) => r.checkId === 'slow')).toMatchObject([{ error: 'timeout' }]);
    scheduler.stop();
  });
});

describe('Scheduler catch-up after an assignment (a restarted server or worker)', () => {
  const INTERVAL = 30_000;
  const WINDOW = 0.2 * INTERVAL;

  function catchUpSetup(perHostConcurrency?: number, kinds: Record<string, CheckKind<unknown>> = { instant: instantKind }, clock = new FakeClock()) {
    const results: RunResult[] = [];
    const scheduler = new Scheduler({ clock, catchUpFraction: 0.2, perHostConcurrency, kinds, onResult: (r) => results.push(r) });
    return { clock, results, scheduler };
  }

  it('puts a new check at its slot when that is inside the window, otherwise early in the window and at least a window before its slot', () => {
    const now = 1_000_000_000_123;
    let earlies = 0;
    let previous: { slot: number; at: number } | undefined;
    const points: { slot: number; at: number }[] = [];
    for (let i = 0; i < 2_000; i++) {
      const phase = phaseOf(`c${i}`);
      const slot = nextDueAt(now, INTERVAL, phase);
      const first = firstDueAt(now, INTERVAL, phase, WINDOW);
      expect(first.at).toBeGreaterThanOrEqual(now);
      expect(first.at - now).toBeLessThanOrEqual(WINDOW);
      if (slot - now <= WINDOW) {
        expect(first).toEqual({ at: slot, early: false });
      } else {
        earlies++;
        expect(first.early).toBe(true);
        expect(slot - first.at).toBeGreaterThanOrEqual(WINDOW - 1);
        points.push({ slot, at: first.at });
      }
    }
    // About four in five are caught up, and in the order of their slots.
    expect(earlies).toBeGreaterThan(1_400);
    points.sort((a, b) => a.slot - b.slot);
    for (const p of points) {
      if (previous) expect(p.at).toBeGreaterThanOrEqual(previous.at);
      previous = p;
    }
    // No catch-up: the slot, whatever the wait.
    expect(firstDueAt(now, INTERVAL, 0.5, 0)).toEqual({ at: nextDueAt(now, INTERVAL, 0.5), early: false });
  });

  it('stretches the window for a large assignment to keep first runs under the rate, never past half the interval', () => {
    expect(catchUpWindowMs(INTERVAL, 0.2, 1_000, 2_000)).toBe(6_000);
    expect(catchUpWindowMs(INTERVAL, 0.2, 20_000, 2_000)).toBe(10_000);
    expect(catchUpWindowMs(INTERVAL, 0.2, 50_000, 2_000)).toBe(15_000);
    expect(catchUpWindowMs(INTERVAL, 0.2, 50_000, Infinity)).toBe(6_000);
    expect(catchUpWindowMs(INTERVAL, 0, 50_000, 2_000)).toBe(0);
  });

  it('a large assignment under a rate bound: first runs spread over the longer window, none in a burst above the rate', async () => {
    const clock = new FakeClock();
    const results: RunResult[] = [];
    const scheduler = new Scheduler({ clock, catchUpFraction: 0.2, catchUpRatePerSecond: 200, kinds: { instant: instantKind }, onResult: (r) => results.push(r) });
    const start = clock.now();
    const summary = scheduler.setChecks(Array.from({ length: 2_000 }, (_, i) => check(`big-${i}`, { intervalMs: INTERVAL })));
    // 2,000 at 200 a second: a 10 s window rather than 6 s.
    expect(summary.firstRunsWithinMs).toBeGreaterThan(WINDOW);
    expect(summary.firstRunsWithinMs).toBeLessThanOrEqual(10_000);
    await clock.advance(INTERVAL);
    const first = new Map<string, number>();
    for (const r of results) if (!first.has(r.checkId)) first.set(r.checkId, r.at - start);
    expect(first.size).toBe(2_000);
    const perSecond = new Map<number, number>();
    for (const t of first.values()) perSecond.set(Math.floor(t / 1_000), (perSecond.get(Math.floor(t / 1_000)) ?? 0) + 1);
    expect(Math.max(...first.values())).toBeLessThanOrEqual(10_000);
    // 200 caught up a second, plus the ~67 a second whose own slot falls in the window.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(320);
    scheduler.stop();
  });

  it('runs every check of a fresh worker within the first fifth of the interval, evenly, then at its own slot once per interval', async () => {
    const { clock, results, scheduler } = catchUpSetup();
    const start = clock.now();
    const ids = Array.from({ length: 1_000 }, (_, i) => `fresh-${i}`);
    const summary = scheduler.setChecks(ids.map((id) => check(id, { intervalMs: INTERVAL, target: id })));
    expect(summary.added).toBe(1_000);
    expect(summary.caughtUp).toBeGreaterThan(700);
    expect(summary.firstRunsWithinMs).toBeLessThanOrEqual(WINDOW);
    await clock.advance(4 * INTERVAL);

    const runs = new Map<string, number[]>();
    for (const r of results) runs.set(r.checkId, [...(runs.get(r.checkId) ?? []), r.at]);
    expect(runs.size).toBe(1_000);
    for (const [id, ats] of runs) {
      expect((ats[0] ?? Infinity) - start).toBeLessThanOrEqual(WINDOW);
      // From the second run on, the check is at its slot, one interval apart (unchanged steady state).
      const offset = Math.floor(phaseOf(id) * INTERVAL);
      const settled = ats[0]! % INTERVAL === offset ? ats : ats.slice(1);
      for (const at of settled) expect(at % INTERVAL).toBe(offset);
      for (let i = 1; i < settled.length; i++) expect(settled[i]! - settled[i - 1]!).toBe(INTERVAL);
      // At most one extra run, never closer than a window to the next.
      if (settled !== ats) expect(ats[1]! - ats[0]!).toBeGreaterThanOrEqual(WINDOW - 1);
      expect(ats.length).toBeLessThanOrEqual(5);
    }
    // Evenly over the window: no second of it holds a burst (1,000 first runs over 6 s ≈ 167 a second).
    const firstRuns = [...runs.values()].map((ats) => ats[0]! - start);
    const perSecond = new Map<number, number>();
    for (const t of firstRuns) perSecond.set(Math.floor(t / 1_000), (perSecond.get(Math.floor(t / 1_000)) ?? 0) + 1);
    expect(perSecond.size).toBe(6);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(250);
    // In the steady state, no more runs than checks per interval.
    const late = results.filter((r) => r.at >= start + INTERVAL && r.at < start + 2 * INTERVAL);
    expect(late).toHaveLength(1_000);
    scheduler.stop();
  });

  it('holds the per-host bound while catching up: one host’s checks queue for it, others go on', async () => {
    const clock = new FakeClock();
    let inFlight = new Map<string, number>();
    let worst = 0;
    const slow: CheckKind<Record<string, never>> = {
      kind: 'slow',
      options: z.object({}).strict(),
      validateTarget: () => null,
      run: (target) => {
        const host = hostOf(target);
        inFlight.set(host, (inFlight.get(host) ?? 0) + 1);
        worst = Math.max(worst, inFlight.get(host)!);
        return new Promise<ProbeOutcome>((resolve) =>
          clock.setTimeout(() => {
            inFlight.set(host, inFlight.get(host)! - 1);
            resolve(ok);
          }, 500),
        );
      },
    };
    const { results, scheduler } = catchUpSetup(4, { slow }, clock);
    const start = clock.now();
    // One practice's gateway with 40 checks, and 200 other hosts with one each.
    const gateway = Array.from({ length: 40 }, (_, i) => check(`gw-${i}`, { kind: 'slow', target: `https://gw.example.nhs.uk/${i}`, intervalMs: INTERVAL }));
    const others = Array.from({ length: 200 }, (_, i) => check(`o-${i}`, { kind: 'slow', target: `https://h${i}.example.nhs.uk/`, intervalMs: INTERVAL }));
    scheduler.setChecks([...gateway, ...others]);
    await clock.advance(INTERVAL);
    expect(worst).toBeLessThanOrEqual(4);
    const firstOf = (id: string) => results.find((r) => r.checkId === id)!.at - start;
    for (const c of others) expect(firstOf(c.id)).toBeLessThanOrEqual(WINDOW);
    // 40 runs of 500 ms, 4 at a time: at most 5 s of queueing on top of the window.
    for (const c of gateway) expect(firstOf(c.id)).toBeLessThanOrEqual(WINDOW + 5_000);
    inFlight = new Map();
    scheduler.stop();
  });

  it('catches up only the checks new to it: an unchanged check keeps its slot when the set is replaced', async () => {
    const { clock, results, scheduler } = catchUpSetup();
    const old = Array.from({ length: 100 }, (_, i) => check(`old-${i}`, { intervalMs: INTERVAL }));
    scheduler.setChecks(old);
    await clock.advance(2 * INTERVAL);
    results.length = 0;
    const reassignedAt = clock.now();
    const added = Array.from({ length: 100 }, (_, i) => check(`new-${i}`, { intervalMs: INTERVAL }));
    const summary = scheduler.setChecks([...old, ...added]);
    expect(summary.added).toBe(100);
    expect(summary.firstRunsWithinMs).toBeLessThanOrEqual(WINDOW);
    await clock.advance(INTERVAL);
    for (const r of results.filter((x) => x.checkId.startsWith('old-'))) expect(r.at % INTERVAL).toBe(Math.floor(phaseOf(r.checkId) * INTERVAL));
    expect(results.filter((r) => r.checkId.startsWith('old-'))).toHaveLength(100);
    const firstNew = new Map<string, number>();
    for (const r of results) if (r.checkId.startsWith('new-') && !firstNew.has(r.checkId)) firstNew.set(r.checkId, r.at - reassignedAt);
    expect(firstNew.size).toBe(100);
    for (const t of firstNew.values()) expect(t).toBeLessThanOrEqual(WINDOW);
    // Unchanged set: nothing new, nothing caught up.
    expect(scheduler.setChecks([...old, ...added])).toEqual({ added: 0, caughtUp: 0, firstRunsWithinMs: 0 });
    scheduler.stop();
  });
});
