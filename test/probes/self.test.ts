import { describe, expect, it } from 'vitest';
import type { RunResult, RunTiming } from '../../probes/scheduler';
import { SelfWatch, describeDuration, mergedQuantile, type EventLoopDelaySource } from '../../probes/self';
import { waitFor } from '../helpers/wait';
import { FakeClock } from './fake-clock';

/** Wall time that can leap ahead without firing timers: what a SIGSTOP looks like from inside. */
class PausingClock extends FakeClock {
  private offset = 0;
  override now(): number {
    return super.now() + this.offset;
  }
  pause(ms: number): void {
    this.offset += ms;
  }
}

function fakeDelay(ms = 5): EventLoopDelaySource & { ms: number } {
  return { ms, rotate() {}, p99Ms() { return this.ms; }, close() {} };
}

function setup(options: { windowMs?: number } = {}) {
  const clock = new PausingClock();
  const delay = fakeDelay();
  const watch = new SelfWatch({ clock, eventLoopDelay: delay, windowMs: options.windowMs });
  watch.start();
  return { clock, delay, watch };
}

const onTime: RunTiming = { dueAt: 0, startLagMs: 3 };

function refused(at: number, latencyMs = 2): RunResult {
  return { ok: false, checkId: 'gp-web', at, latencyMs, error: 'refused', detail: 'connection refused' };
}
function timedOut(at: number, latencyMs: number): RunResult {
  return { ok: false, checkId: 'gp-web', at, latencyMs, error: 'timeout', detail: `no result within 1000 ms` };
}

describe('SelfWatch', () => {
  it('a healthy worker judges its failures: nothing tagged, nothing impaired', async () => {
    const { clock, watch } = setup();
    watch.expectCanary();
    for (let i = 0; i < 20; i++) {
      await clock.advance(500);
      const at = clock.now() - 2;
      watch.recordCanary({ ok: true, checkId: 'canary', at, latencyMs: 2, detail: 'status 200' });
      const result = refused(at);
      watch.recordFinished(result);
      expect(watch.judge(result, onTime)).toBeNull();
    }
    expect(watch.health(12)).toEqual({
      lagMs: 12,
      eventLoopDelayMs: 5,
      stalledMs: 0,
      canary: { ok: true, latencyMs: 2, detail: 'status 200' },
      timeoutShare: 0,
      impaired: null,
    });
    watch.stop();
  });

  it('tags a timeout whose deadline passed while the worker was stalled, even when the deadline is judged before the watcher wakes', async () => {
    const { clock, watch } = setup();
    await clock.advance(1_000);
    const startedAt = clock.now();
    await clock.advance(50);
    clock.pause(2_100); // SIGSTOP: no timer fires, wall time moves on
    // The run's deadline fires first on waking: the watcher's own timer has not run yet.
    const late = timedOut(startedAt, clock.now() - startedAt);
    expect(watch.judge(late, onTime)).toMatch(/^stalled for 2\.[12] s$/);
    // A failure that ended before the stall is still evidence.
    expect(watch.judge(refused(startedAt - 500), onTime)).toBeNull();
    // A success is a success, whatever happened meanwhile.
    expect(watch.judge({ ok: true, checkId: 'gp-web', at: startedAt, latencyMs: 2_150 }, onTime)).toBeNull();
    // ...but a degraded one overlapping the stall cannot be judged slow.
    expect(watch.judge({ ok: true, checkId: 'gp-web', at: startedAt, latencyMs: 2_150, degraded: 'slow: 2150 ms' }, onTime)).toMatch(/stalled/);

    const health = watch.health(0);
    expect(health.stalledMs).toBeGreaterThanOrEqual(2_100);
    expect(health.impaired).toMatch(/^stalled for 2\.[12] s$/);
    // The window moves on: healthy again, and later failures count.
    await clock.advance(11_000);
    expect(watch.health(0)).toMatchObject({ stalledMs: 0, impaired: null });
    expect(watch.judge(refused(clock.now() - 2), onTime)).toBeNull();
    watch.stop();
  });

  it('records a gap seen by its own timer as a stall, and ignores gaps below the minimum', async () => {
    const { clock, watch } = setup();
    await clock.advance(1_000);
    clock.pause(300);
    await clock.advance(100);
    expect(watch.stalls()).toEqual([]);
    clock.pause(800);
    await clock.advance(100);
    expect(watch.stalls()).toHaveLength(1);
    const [stall] = watch.stalls();
    expect((stall?.to ?? 0) - (stall?.from ?? 0)).toBe(900);
    expect(watch.health(0).impaired).toBeNull(); // 0.9 s: a stall, but under the 1 s threshold
    watch.stop();
  });

  it('keeps a bounded list of stalls', async () => {
    const { clock, watch } = setup();
    for (let i = 0; i < 400; i++) {
      clock.pause(600);
      await clock.advance(100);
    }
    expect(watch.stalls().length).toBeLessThanOrEqual(256);
    watch.stop();
  });

  it('is not impaired by lag behind busy slots: hanging gateways holding every slot are the outage, not Pulse', () => {
    // The July 2024 day: half the gateways hang until their timeout, runs queue for slots
    // and start seconds late. Their timeouts are true; disbelieving them hid the outage.
    const { clock, watch } = setup();
    expect(watch.health(9_000).impaired).toBeNull();
    expect(watch.health(9_000).lagMs).toBe(9_000);
    const timeout = { ok: false as const, checkId: 'A81001-gateway', at: clock.now() - 2_000, latencyMs: 2_000, error: 'timeout' as const, detail: 'no answer within 2 s' };
    expect(watch.judge(timeout, { dueAt: clock.now() - 11_000, startLagMs: 9_000 })).toBeNull();
    watch.stop();
  });

  it('is impaired while its canary is not answering, and tags the failures that overlapped the outage', async () => {
    const { clock, watch } = setup();
    watch.expectCanary();
    await clock.advance(2_000);
    const outageStart = clock.now() - 1_000;
    watch.recordCanary({ ok: false, checkId: 'canary', at: outageStart, latencyMs: 1_000, error: 'timeout', detail: 'no result within 1000 ms' });
    expect(watch.health(0)).toMatchObject({
      canary: { ok: false, latencyMs: 1_000, detail: 'no result within 1000 ms' },
      impaired: 'its loopback canary is not answering (timeout)',
    });
    const during = timedOut(outageStart + 100, 1_000);
    await clock.advance(2_000);
    watch.recordCanary({ ok: true, checkId: 'canary', at: clock.now() - 3, latencyMs: 3, detail: 'status 200' });
    expect(watch.health(0).impaired).toBeNull();
    // Judged after the canary recovered: it still ran while the canary was failing.
    expect(watch.judge(during, onTime)).toBe('its loopback canary is not answering (timeout)');
    await clock.advance(100);
    expect(watch.judge(refused(clock.now() - 2), onTime)).toBeNull();
    watch.stop();
  });

  it('counts a canary with no answer for too long as not answering', async () => {
    const { clock, watch } = setup();
    watch.expectCanary();
    await clock.advance(5_000);
    expect(watch.health(0).canary).toBeNull();
    await clock.advance(3_000);
    expect(watch.health(0)).toMatchObject({
      canary: { ok: false, detail: 'no answer for 8.0 s' },
      impaired: 'its loopback canary is not answering (no answer for 8.0 s)',
    });
    watch.stop();
  });

  it('is impaired when its event loop runs late past the threshold', () => {
    const { delay, watch } = setup();
    delay.ms = 1_500;
    expect(watch.health(0)).toMatchObject({ eventLoopDelayMs: 1_500, impaired: 'its event loop runs 1.5 s late' });
    watch.stop();
  });

  it('names every reason at once', () => {
    const { clock, delay, watch } = setup();
    delay.ms = 1_200;
    watch.recordCanary({ ok: false, checkId: 'canary', at: clock.now(), latencyMs: 1, error: 'refused', detail: 'refused' });
    expect(watch.health(12_000).impaired).toBe('its event loop runs 1.2 s late; its loopback canary is not answering (refused)');
    watch.stop();
  });

  it('reports the share of finished checks that timed out over the window', async () => {
    const { clock, watch } = setup();
    for (let i = 0; i < 3; i++) watch.recordFinished(timedOut(clock.now(), 1_000));
    watch.recordFinished(refused(clock.now()));
    expect(watch.health(0).timeoutShare).toBe(0.75);
    await clock.advance(12_000);
    expect(watch.health(0).timeoutShare).toBe(0);
    watch.stop();
  });

  it('stops its timer', async () => {
    const { clock, watch } = setup();
    expect(clock.pendingTimers).toBe(1);
    watch.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('on the real clock, sees its own event loop blocked as a stall', async () => {
    const watch = new SelfWatch();
    watch.start();
    const blockedFrom = Date.now();
    while (Date.now() - blockedFrom < 700) {
      // Busy: the watcher's timer cannot run.
    }
    const stall = await waitFor('the watcher to record the stall', () => watch.stalls()[0], 5_000, 20);
    expect(stall.to - stall.from).toBeGreaterThanOrEqual(600);
    expect(watch.health(0).eventLoopDelayMs).toBeGreaterThanOrEqual(0);
    watch.stop();
  });
});

describe('event-loop delay over a window', () => {
  it('merges seconds by their sample counts', () => {
    const quiet = { count: 99, percentiles: [[0, 1], [50, 1], [100, 2]] as const };
    const spike = { count: 1, percentiles: [[0, 1_500], [100, 1_500]] as const };
    // 1 sample in 100 is 1.5 s: the p99 is the quiet seconds' top, the max is the spike.
    expect(mergedQuantile([quiet, spike], 0.99)).toBe(2);
    expect(mergedQuantile([quiet, spike], 1)).toBe(1_500);
    const busy = { count: 50, percentiles: [[0, 900], [50, 1_100], [100, 1_300]] as const };
    expect(mergedQuantile([quiet, busy], 0.99)).toBe(1_300);
    expect(mergedQuantile([], 0.99)).toBe(0);
  });

  it('words durations as an operator reads them', () => {
    expect(describeDuration(4_600)).toBe('4.6 s');
    expect(describeDuration(40_000)).toBe('40 s');
    expect(describeDuration(200_000)).toBe('3 min 20 s');
  });
});
