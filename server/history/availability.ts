// Availability and time in each status from a subject's status timeline. Pure: the
// timeline comes in, numbers come out; the clock is a parameter.
//
// What counts, exactly:
//   available    = time `up` + time `degraded` (degraded still works, slowly or partly)
//   counted      = window − time `maintenance` − time `unknown`
//   availability = available ÷ counted, or null when counted is 0 (nothing known)
// So `down`, `suspected` (failing, not yet confirmed) and `recovering` (passing again,
// not yet confirmed) count against availability; planned maintenance and time without
// fresh data count neither way. Time before the first stored transition of a subject
// (Pulse was not watching it yet, or retention removed it) is `unknown`.
import { STATUS_LEVELS, type StatusLevel } from '../status/types';
import type { StatusTimeline } from './store';

const DAY_MS = 86_400_000;

export const AVAILABILITY_WINDOWS = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS } as const;
export type AvailabilityWindow = keyof typeof AVAILABILITY_WINDOWS;

export type TimeInStatus = Record<StatusLevel, number>;

export interface Availability {
  from: number;
  to: number;
  /** Milliseconds spent in each status within [from, to). */
  time: TimeInStatus;
  /** up + degraded, ms. */
  availableMs: number;
  /** window − maintenance − unknown, ms. */
  countedMs: number;
  /** availableMs ÷ countedMs, 0…1; null when no time is counted. */
  availability: number | null;
}

export function availability(timeline: Pick<StatusTimeline, 'from' | 'to' | 'initial' | 'changes'>): Availability {
  const { from, to } = timeline;
  const time = Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as TimeInStatus;
  let status: StatusLevel = timeline.initial ?? 'unknown';
  let since = from;
  for (const change of timeline.changes) {
    // Clamped, so a change outside the window (or out of order) never adds negative time.
    const at = Math.min(Math.max(change.at, since), to);
    time[status] += at - since;
    status = change.status;
    since = at;
  }
  if (to > since) time[status] += to - since;
  const availableMs = time.up + time.degraded;
  const countedMs = Math.max(0, to - from) - time.maintenance - time.unknown;
  return { from, to, time, availableMs, countedMs, availability: countedMs > 0 ? availableMs / countedMs : null };
}

/** The same timeline from a later start: changes up to `from` fold into the initial status. */
export function sliceTimeline<T extends Pick<StatusTimeline, 'from' | 'to' | 'initial' | 'changes'>>(timeline: T, from: number): T {
  if (from <= timeline.from) return timeline;
  let initial = timeline.initial;
  const changes: StatusTimeline['changes'] = [];
  for (const c of timeline.changes) {
    if (c.at <= from) initial = c.status;
    else changes.push(c);
  }
  return { ...timeline, from: Math.min(from, timeline.to), initial, changes };
}

/** [from, to) of a window ending now. */
export function windowBounds(window: AvailabilityWindow, now: number): { from: number; to: number } {
  return { from: now - AVAILABILITY_WINDOWS[window], to: now };
}

/**
 * Availability over 24 h, 7 d and 30 d from one timeline covering at least the last 30
 * days up to `now` (one read of the store serves all three windows).
 */
export function availabilityWindows(
  timeline: Pick<StatusTimeline, 'from' | 'to' | 'initial' | 'changes'>,
  now: number,
): Record<AvailabilityWindow, Availability> {
  const longest = windowBounds('30d', now);
  if (timeline.from > longest.from || timeline.to < now) {
    throw new RangeError('the timeline must cover the last 30 days up to now');
  }
  const whole = { ...timeline, to: now };
  const out = {} as Record<AvailabilityWindow, Availability>;
  for (const window of Object.keys(AVAILABILITY_WINDOWS) as AvailabilityWindow[]) {
    out[window] = availability(sliceTimeline(whole, windowBounds(window, now).from));
  }
  return out;
}

/** Share of a check's results that passed, from its minute rows; null with no results. */
export function passRate(rows: readonly { count: number; failures: number }[]): number | null {
  let count = 0;
  let failures = 0;
  for (const r of rows) {
    count += r.count;
    failures += r.failures;
  }
  return count > 0 ? (count - failures) / count : null;
}
