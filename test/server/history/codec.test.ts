import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR_FORMAT_VERSION, isDeflated, packHour, unpackHour } from '../../../server/history/codec';
import { HistoryError, emptyHour, type MinuteSummary } from '../../../server/history/types';

/** A summary as the codec stores it: whole milliseconds. */
const summary: fc.Arbitrary<MinuteSummary> = fc
  .record({ count: fc.integer({ min: 1, max: 100_000 }), failRatio: fc.double({ min: 0, max: 1, noNaN: true }) })
  .chain(({ count, failRatio }) => {
    const failures = Math.min(count, Math.floor(failRatio * (count + 1)));
    const latency =
      failures < count
        ? fc
            .record({ meanMs: fc.integer({ min: 0, max: 600_000 }), spread: fc.integer({ min: 0, max: 600_000 }) })
            .map(({ meanMs, spread }) => ({ meanMs, maxMs: meanMs + spread }))
        : fc.constant(null);
    return latency.map((l) => ({ count, failures, latency: l }));
  });

const hour = fc.array(fc.option(summary, { freq: 3 }), { minLength: 60, maxLength: 60 });

describe('hour codec', () => {
  it('round-trips any hour of whole-millisecond summaries, deflated or not', () => {
    fc.assert(
      fc.property(hour, fc.boolean(), (slots, deflate) => {
        const blob = packHour(slots, { deflate });
        expect(blob[0]).toBe(HOUR_FORMAT_VERSION);
        expect(unpackHour(blob)).toEqual(slots);
      }),
      { numRuns: 500 },
    );
  });

  it('rounds latencies to whole milliseconds and never stores a max below the mean', () => {
    const slots = emptyHour();
    slots[7] = { count: 3, failures: 1, latency: { meanMs: 41.6, maxMs: 41.4 } };
    expect(unpackHour(packHour(slots, { deflate: false }))[7]).toEqual({ count: 3, failures: 1, latency: { meanMs: 42, maxMs: 42 } });
  });

  it('packs an hour of a 30 s check with noisy latency into under 180 bytes when deflated', () => {
    let seed = 1;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 30;
    const slots = emptyHour().map(() => {
      const a = 120 + noise();
      const b = 120 + noise();
      return { count: 2, failures: 0, latency: { meanMs: (a + b) / 2, maxMs: Math.max(a, b) } };
    });
    const raw = packHour(slots, { deflate: false });
    const packed = packHour(slots, { deflate: true });
    expect(isDeflated(packed)).toBe(true);
    expect(packed.length).toBeLessThan(180);
    expect(packed.length).toBeLessThan(raw.length);
    expect(unpackHour(packed)).toEqual(unpackHour(raw));
  });

  it('keeps an empty hour to its header and bitmap at most', () => {
    for (const deflate of [false, true]) {
      const blob = packHour(emptyHour(), { deflate });
      expect(blob.length).toBeLessThanOrEqual(10);
      expect(unpackHour(blob)).toEqual(emptyHour());
    }
  });

  it('compresses only when that makes the hour smaller', () => {
    const one = emptyHour();
    one[59] = { count: 1, failures: 0, latency: { meanMs: 5, maxMs: 5 } };
    const blob = packHour(one, { deflate: true });
    expect(blob.length).toBeLessThanOrEqual(packHour(one, { deflate: false }).length);
    expect(unpackHour(blob)).toEqual(one);
  });

  it('rejects blobs it did not write, with BAD_HOUR_BLOB', () => {
    const good = packHour(emptyHour().map((_, i) => (i % 2 ? { count: 2, failures: 2, latency: null } : null)), { deflate: false });
    const cases: Buffer[] = [
      Buffer.from([]),
      Buffer.from([9, 0, ...good.subarray(2)]), // unknown version
      Buffer.from([1, 4, ...good.subarray(2)]), // unknown flag
      Buffer.from([1, 1, 1, 2, 3]), // not DEFLATE
      good.subarray(0, good.length - 1), // truncated
      Buffer.concat([good, Buffer.from([0])]), // trailing byte
    ];
    for (const blob of cases) {
      expect(() => unpackHour(blob)).toThrow(HistoryError);
      try {
        unpackHour(blob);
      } catch (err) {
        expect((err as HistoryError).code).toBe('BAD_HOUR_BLOB');
      }
    }
  });

  it('refuses to pack anything but 60 slots', () => {
    expect(() => packHour([null], { deflate: false })).toThrow(/60 slots/);
  });
});
