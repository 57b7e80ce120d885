// Token buckets on an injected clock: a burst, then the rate, a Retry-After in whole
// seconds, keys independent, and memory bounded.
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../server/http/rate-limit';

function limiter(maxKeys?: number) {
  let now = 1_000_000;
  const l = new RateLimiter({ now: () => now, maxKeys });
  return { l, advance: (ms: number) => (now += ms) };
}

describe('RateLimiter', () => {
  it('lets a burst through, then refuses with the seconds until a token is back', () => {
    const { l } = limiter();
    const allowance = { perSecond: 0.5, burst: 3 };
    expect([1, 2, 3].map(() => l.take('A81001', allowance).ok)).toEqual([true, true, true]);
    expect(l.take('A81001', allowance)).toEqual({ ok: false, retryAfterSeconds: 2 });
  });

  it('earns tokens back at its rate', () => {
    const { l, advance } = limiter();
    const allowance = { perSecond: 1, burst: 1 };
    expect(l.take('k', allowance).ok).toBe(true);
    expect(l.take('k', allowance).ok).toBe(false);
    advance(999);
    expect(l.take('k', allowance).ok).toBe(false);
    advance(1);
    expect(l.take('k', allowance).ok).toBe(true);
  });

  it('keeps keys apart: one flooding key does not take another’s tokens', () => {
    const { l } = limiter();
    const allowance = { perSecond: 1, burst: 2 };
    for (let i = 0; i < 100; i++) l.take('flood', allowance);
    expect(l.take('flood', allowance).ok).toBe(false);
    expect(l.take('quiet', allowance).ok).toBe(true);
  });

  it('gives room at once when the allowance grows (more agents counted)', () => {
    const { l } = limiter();
    expect(l.take('k', { perSecond: 1, burst: 1 }).ok).toBe(true);
    expect(l.take('k', { perSecond: 1, burst: 1 }).ok).toBe(false);
    expect(l.take('k', { perSecond: 1, burst: 10 }).ok).toBe(true);
  });

  it('holds at most maxKeys buckets, dropping the one idle longest', () => {
    const { l } = limiter(100);
    for (let i = 0; i < 10_000; i++) l.take(`k${i}`, { perSecond: 1, burst: 1 });
    expect(l.size).toBe(100);
    expect(l.take('k9999', { perSecond: 1, burst: 1 }).ok).toBe(false); // recent ones kept
  });
});
