import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { MinuteRollup } from '../../../server/history/rollup';

const T = Date.UTC(2026, 0, 5, 9, 0, 0); // a minute boundary
const ok = (checkId: string, at: number, latencyMs: number): CheckResult => ({ checkId, at, location: 'leeds', ok: true, latencyMs });
const fail = (checkId: string, at: number): CheckResult => ({
  checkId,
  at,
  location: 'leeds',
  ok: false,
  latencyMs: 5_000,
  error: 'timeout',
  detail: 'no reply within 5000 ms',
});

describe('minute rollup', () => {
  it('summarises a minute: count, failures, latency of the passing results only', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T + 1_000, 40));
    r.record(ok('a', T + 31_000, 80));
    r.record(fail('a', T + 59_999));
    expect(r.drain(T + 60_000)).toEqual([
      { checkId: 'a', minute: T, count: 3, failures: 1, latency: { meanMs: 60, maxMs: 80 } },
    ]);
  });

  it('hands out only minutes strictly before the current one, each once', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T + 10_000, 10));
    r.record(ok('a', T + 70_000, 20));
    expect(r.drain(T + 59_999)).toEqual([]);
    expect(r.drain(T + 60_000).map((row) => row.minute)).toEqual([T]);
    expect(r.drain(T + 60_000)).toEqual([]);
    expect(r.drain(T + 120_000).map((row) => row.minute)).toEqual([T + 60_000]);
  });

  it('gives a minute of only failures no latency', () => {
    const r = new MinuteRollup();
    r.record(fail('a', T));
    r.record(fail('a', T + 30_000));
    expect(r.drain(T + 60_000)).toEqual([{ checkId: 'a', minute: T, count: 2, failures: 2, latency: null }]);
  });

  it('counts a late result in its own (past) minute at the next drain', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T + 5_000, 10));
    expect(r.drain(T + 61_000)).toHaveLength(1);
    r.record(ok('a', T + 50_000, 30)); // arrives after its minute was drained
    expect(r.drain(T + 125_000)).toEqual([{ checkId: 'a', minute: T, count: 1, failures: 0, latency: { meanMs: 30, maxMs: 30 } }]);
  });

  it('drainAll includes the current minute, for shutdown', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T + 5_000, 10));
    expect(r.drainAll()).toHaveLength(1);
    expect(r.openMinutes).toBe(0);
  });

  it('restores rows after a failed write, combined with results recorded since', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T + 1_000, 40));
    const rows = r.drain(T + 60_000);
    r.record(ok('a', T + 2_000, 80)); // late, same minute
    r.restore(rows);
    expect(r.drain(T + 60_000)).toEqual([{ checkId: 'a', minute: T, count: 2, failures: 0, latency: { meanMs: 60, maxMs: 80 } }]);
  });

  it('bounds the open minutes per check and counts what it drops', () => {
    const r = new MinuteRollup({ maxMinutesPerCheck: 3 });
    for (let m = 0; m < 5; m++) r.record(ok('a', T + m * 60_000, 10));
    r.record(ok('b', T, 10));
    expect(r.openMinutes).toBe(4);
    expect(r.dropped).toBe(2);
    expect(r.drain(T + 10 * 60_000).filter((row) => row.checkId === 'a').map((row) => row.minute)).toEqual([
      T,
      T + 60_000,
      T + 120_000,
    ]);
  });

  it('forgets a check that has been quiet for a whole drain', () => {
    const r = new MinuteRollup();
    r.record(ok('a', T, 10));
    r.drain(T + 60_000);
    r.drain(T + 120_000);
    expect((r as unknown as { open: Map<string, unknown> }).open.size).toBe(0);
  });
});
