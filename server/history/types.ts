// The vocabulary of check history: a minute's summary of one check's results, and how two
// summaries of the same minute combine. Pure; shared by the accumulator, the codec and the
// stores. Never does I/O.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const SLOTS_PER_HOUR = 60;

/** Latency of the passing results of one minute, in ms. Failures are left out: a timeout is not a latency. */
export interface LatencySummary {
  meanMs: number;
  maxMs: number;
}

/** One check's results in one minute, from every probe location together. */
export interface MinuteSummary {
  /** Results in the minute (≥ 1). */
  count: number;
  /** Of those, how many failed (0 … count). */
  failures: number;
  /** Over the `count − failures` passing results; null when none passed. */
  latency: LatencySummary | null;
}

export interface MinuteRow extends MinuteSummary {
  checkId: string;
  /** Epoch ms of the minute's start: a multiple of 60,000. */
  minute: number;
}

export function minuteOf(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

/** Hours since the Unix epoch: the key an hour of minute slots is stored under. */
export function hourOf(at: number): number {
  return Math.floor(at / HOUR_MS);
}

/**
 * Two summaries of the same minute made from disjoint sets of results (e.g. before and
 * after a restart, or a result that arrived late) as one. Counts add; the mean is weighted
 * by the passing results behind each side; the max is the larger.
 */
export function combine(a: MinuteSummary, b: MinuteSummary): MinuteSummary {
  const okA = a.count - a.failures;
  const okB = b.count - b.failures;
  let latency: LatencySummary | null = a.latency ?? b.latency;
  if (a.latency && b.latency && okA + okB > 0) {
    latency = {
      meanMs: (a.latency.meanMs * okA + b.latency.meanMs * okB) / (okA + okB),
      maxMs: Math.max(a.latency.maxMs, b.latency.maxMs),
    };
  }
  return { count: a.count + b.count, failures: a.failures + b.failures, latency };
}

/** Minute slots 0…59 of one hour; null where the check had no result. */
export type HourSlots = (MinuteSummary | null)[];

export function emptyHour(): HourSlots {
  return new Array<MinuteSummary | null>(SLOTS_PER_HOUR).fill(null);
}

/** Combines `incoming` into `into`, slot by slot (see `combine`); returns `into`. */
export function mergeHour(into: HourSlots, incoming: readonly (MinuteSummary | null)[]): HourSlots {
  for (let i = 0; i < SLOTS_PER_HOUR; i++) {
    const add = incoming[i];
    if (!add) continue;
    const have = into[i];
    into[i] = have ? combine(have, add) : add;
  }
  return into;
}

/** Rows grouped by check, then by hour (hours since the epoch), duplicates combined. */
export function groupByHour(rows: readonly MinuteRow[]): Map<string, Map<number, HourSlots>> {
  const out = new Map<string, Map<number, HourSlots>>();
  for (const row of rows) {
    let hours = out.get(row.checkId);
    if (!hours) out.set(row.checkId, (hours = new Map()));
    const hour = hourOf(row.minute);
    let slots = hours.get(hour);
    if (!slots) hours.set(hour, (slots = emptyHour()));
    const slot = (row.minute - hour * HOUR_MS) / MINUTE_MS;
    const summary: MinuteSummary = { count: row.count, failures: row.failures, latency: row.latency };
    const have = slots[slot];
    slots[slot] = have ? combine(have, summary) : summary;
  }
  return out;
}

/** The rows of one stored hour whose minute lies in [from, to). */
export function rowsOfHour(checkId: string, hour: number, slots: HourSlots, from: number, to: number): MinuteRow[] {
  const rows: MinuteRow[] = [];
  slots.forEach((s, i) => {
    const minute = hour * HOUR_MS + i * MINUTE_MS;
    if (s && minute >= from && minute < to) rows.push({ checkId, minute, ...s });
  });
  return rows;
}

/** A reason a row cannot be stored; null when it is well formed. */
export function invalidRow(row: MinuteRow): string | null {
  if (typeof row.checkId !== 'string' || row.checkId.length === 0) return 'no check id';
  if (!Number.isSafeInteger(row.minute) || row.minute < 0 || row.minute % MINUTE_MS !== 0) {
    return `minute ${row.minute} is not the start of a minute (epoch ms, a multiple of 60,000)`;
  }
  return invalidSummary(row);
}

/** A reason a summary cannot be stored; null when it is well formed. */
export function invalidSummary(s: MinuteSummary): string | null {
  if (!Number.isSafeInteger(s.count) || s.count < 1) return `count ${s.count} is not a positive integer`;
  if (!Number.isSafeInteger(s.failures) || s.failures < 0 || s.failures > s.count) {
    return `failures ${s.failures} is not an integer between 0 and count ${s.count}`;
  }
  const passed = s.count - s.failures;
  if (passed > 0 && !s.latency) return `${passed} passing result(s) but no latency`;
  if (passed === 0 && s.latency) return 'a latency but no passing result';
  if (s.latency) {
    const { meanMs, maxMs } = s.latency;
    if (!(Number.isFinite(meanMs) && meanMs >= 0 && Number.isFinite(maxMs) && maxMs >= meanMs - 0.5)) {
      return `latency mean ${meanMs} / max ${maxMs} is not 0 ≤ mean ≤ max`;
    }
  }
  return null;
}

export class HistoryError extends Error {
  constructor(
    readonly code: 'BAD_MINUTE_ROW' | 'BAD_HOUR_BLOB' | 'BAD_RETENTION',
    message: string,
  ) {
    super(message);
    this.name = 'HistoryError';
  }
}
