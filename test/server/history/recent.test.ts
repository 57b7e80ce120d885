import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { RecentResults } from '../../../server/history/recent';

const ok = (checkId: string, at: number, extra: Partial<CheckResult> = {}): CheckResult =>
  ({ checkId, at, location: 'leeds', ok: true, latencyMs: at % 1000, ...extra }) as CheckResult;

describe('recent results', () => {
  it('keeps the last N results of a check, oldest first', () => {
    const ring = new RecentResults({ perCheck: 3 });
    for (let i = 1; i <= 5; i++) ring.push(ok('a', i * 1000 + i));
    expect(ring.recent('a').map((r) => r.at)).toEqual([3003, 4004, 5005]);
    expect(ring.recent('a')[0]).toEqual({ checkId: 'a', at: 3003, location: 'leeds', ok: true, latencyMs: 3 });
  });

  it('keeps checks apart and answers empty for a check never seen', () => {
    const ring = new RecentResults({ perCheck: 2 });
    ring.push(ok('a', 1));
    ring.push(ok('b', 2));
    ring.push(ok('a', 3));
    expect(ring.recent('a').map((r) => r.at)).toEqual([1, 3]);
    expect(ring.recent('b').map((r) => r.at)).toEqual([2]);
    expect(ring.recent('zzz')).toEqual([]);
  });

  it('keeps a failure with its error class, detail and location, and a degraded reason', () => {
    const ring = new RecentResults();
    ring.push({ checkId: 'a', at: 1, location: 'york', ok: false, latencyMs: 5000, error: 'status', detail: 'status 503, expected 200' });
    ring.push(ok('a', 2, { degraded: 'slow: 2400 ms > 2000 ms', detail: '200 OK' } as Partial<CheckResult>));
    ring.push(ok('a', 3, { detail: '200 OK' } as Partial<CheckResult>));
    expect(ring.recent('a')).toEqual([
      { checkId: 'a', at: 1, location: 'york', ok: false, latencyMs: 5000, error: 'status', detail: 'status 503, expected 200' },
      { checkId: 'a', at: 2, location: 'leeds', ok: true, latencyMs: 2, degraded: 'slow: 2400 ms > 2000 ms' },
      { checkId: 'a', at: 3, location: 'leeds', ok: true, latencyMs: 3 },
    ]);
  });

  it('grows past its first capacity without losing what it holds', () => {
    const ring = new RecentResults({ perCheck: 2, initialChecks: 1 });
    for (let c = 0; c < 200; c++) ring.push(ok(`c${c}`, c));
    for (let c = 0; c < 200; c++) ring.push(ok(`c${c}`, 1000 + c));
    expect(ring.size).toBe(200);
    expect(ring.recent('c0').map((r) => r.at)).toEqual([0, 1000]);
    expect(ring.recent('c199').map((r) => r.at)).toEqual([199, 1199]);
  });

  it('reuses a forgotten check’s slots, starting empty', () => {
    const ring = new RecentResults({ perCheck: 2, initialChecks: 1, maxChecks: 1 });
    ring.push(ok('a', 1));
    ring.push(ok('b', 2));
    expect(ring.dropped).toBe(1);
    ring.forget('a');
    ring.push(ok('b', 3));
    expect(ring.recent('a')).toEqual([]);
    expect(ring.recent('b').map((r) => r.at)).toEqual([3]);
  });

  it('has a fixed size per check however many results arrive', () => {
    const ring = new RecentResults({ perCheck: 60, initialChecks: 1000 });
    const before = ring.bytes;
    for (let i = 0; i < 100_000; i++) ring.push(ok(`c${i % 1000}`, i));
    expect(ring.bytes).toBe(before);
  });
});
