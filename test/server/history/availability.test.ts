import { describe, expect, it } from 'vitest';
import { availability, availabilityWindows, passRate, sliceTimeline } from '../../../server/history/availability';

const H = 3_600_000;
const DAY = 24 * H;

describe('availability', () => {
  it('is 100% for a subject up the whole window with no transitions in it', () => {
    const a = availability({ from: 0, to: DAY, initial: 'up', changes: [] });
    expect(a.time.up).toBe(DAY);
    expect(a.availability).toBe(1);
  });

  it('counts down, suspected and recovering against it; degraded for it', () => {
    const a = availability({
      from: 0,
      to: 10 * H,
      initial: 'up',
      changes: [
        { at: 1 * H, status: 'degraded' },
        { at: 2 * H, status: 'suspected' },
        { at: 3 * H, status: 'down' },
        { at: 4 * H, status: 'recovering' },
        { at: 5 * H, status: 'up' },
      ],
    });
    expect(a.time).toMatchObject({ up: 6 * H, degraded: H, suspected: H, down: H, recovering: H });
    expect(a.availableMs).toBe(7 * H);
    expect(a.availability).toBeCloseTo(0.7);
  });

  it('leaves maintenance and unknown time out of the sum entirely', () => {
    const a = availability({
      from: 0,
      to: 10 * H,
      initial: 'unknown',
      changes: [
        { at: 2 * H, status: 'up' },
        { at: 4 * H, status: 'maintenance' },
        { at: 6 * H, status: 'down' },
        { at: 7 * H, status: 'up' },
      ],
    });
    expect(a.countedMs).toBe(6 * H);
    expect(a.availability).toBeCloseTo(5 / 6);
  });

  it('treats time before the first known status as unknown', () => {
    const a = availability({ from: 0, to: 4 * H, initial: null, changes: [{ at: 3 * H, status: 'up' }] });
    expect(a.time.unknown).toBe(3 * H);
    expect(a.availability).toBe(1);
  });

  it('returns null, not 0 or 1, when nothing is known', () => {
    expect(availability({ from: 0, to: DAY, initial: null, changes: [] }).availability).toBeNull();
    expect(availability({ from: 0, to: DAY, initial: 'unknown', changes: [] }).availability).toBeNull();
    expect(availability({ from: 0, to: DAY, initial: 'maintenance', changes: [] }).availability).toBeNull();
    expect(availability({ from: 5, to: 5, initial: 'up', changes: [] }).availability).toBeNull();
  });

  it('gives no time to a transition exactly at the window edges', () => {
    const a = availability({
      from: 0,
      to: 2 * H,
      initial: 'up',
      changes: [
        { at: 0, status: 'down' },
        { at: 2 * H, status: 'up' },
      ],
    });
    expect(a.time.down).toBe(2 * H);
    expect(a.time.up).toBe(0);
    expect(a.availability).toBe(0);
  });

  it('runs a still-ongoing status to the end of the window', () => {
    const a = availability({ from: 0, to: 3 * H, initial: 'up', changes: [{ at: 2 * H, status: 'down' }] });
    expect(a.time.down).toBe(H);
    expect(a.availability).toBeCloseTo(2 / 3);
  });

  it('never counts negative time for out-of-window or out-of-order changes', () => {
    const a = availability({
      from: H,
      to: 3 * H,
      initial: 'up',
      changes: [
        { at: 0, status: 'down' },
        { at: 2 * H, status: 'up' },
        { at: 1.5 * H, status: 'down' },
        { at: 9 * H, status: 'up' },
      ],
    });
    for (const ms of Object.values(a.time)) expect(ms).toBeGreaterThanOrEqual(0);
    expect(Object.values(a.time).reduce((x, y) => x + y, 0)).toBe(2 * H);
  });
});

describe('availability windows', () => {
  it('computes 24 h, 7 d and 30 d from one 30-day timeline', () => {
    const now = 100 * DAY;
    const timeline = {
      from: now - 30 * DAY,
      to: now,
      initial: 'up' as const,
      changes: [
        { at: now - 20 * DAY, status: 'down' as const }, // 1 day down, 20 days ago
        { at: now - 19 * DAY, status: 'up' as const },
        { at: now - 2 * H, status: 'down' as const }, // down for the last hour of the day so far
        { at: now - H, status: 'up' as const },
      ],
    };
    const w = availabilityWindows(timeline, now);
    expect(w['24h'].availability).toBeCloseTo(23 / 24);
    expect(w['7d'].availability).toBeCloseTo(1 - 1 / (7 * 24));
    expect(w['30d'].availability).toBeCloseTo(1 - 25 / (30 * 24));
    expect(w['24h'].from).toBe(now - DAY);
  });

  it('folds changes before a later start into the initial status', () => {
    const s = sliceTimeline({ from: 0, to: 10, initial: null, changes: [{ at: 2, status: 'down' }, { at: 5, status: 'up' }, { at: 8, status: 'down' }] }, 5);
    expect(s).toEqual({ from: 5, to: 10, initial: 'up', changes: [{ at: 8, status: 'down' }] });
  });

  it('refuses a timeline that does not cover 30 days', () => {
    expect(() => availabilityWindows({ from: 0, to: DAY, initial: 'up', changes: [] }, DAY)).toThrow(RangeError);
  });
});

describe('pass rate from minute rows', () => {
  it('is passing results over all results, null with none', () => {
    expect(passRate([{ count: 2, failures: 0 }, { count: 2, failures: 1 }])).toBe(0.75);
    expect(passRate([])).toBeNull();
  });
});
