// The estate's trend over a window (the wall display's "practices down over 24 h" chart):
// stored practice transitions folded into fixed buckets of counts by status. Pure: no store,
// no clock; the caller passes the transitions, each practice's status now and the window.
//
// A practice is counted once per bucket, at the WORST status it held at any moment of that
// bucket, so a two-minute outage still shows in a five-minute bucket and every bucket adds up
// to the number of practices. It never decides a status: it replays the ones recorded.
import { STATUS_LEVELS, type StatusLevel } from '../status/types';

export type StatusCounts = Record<StatusLevel, number>;

/** One practice's recorded change (from the `status_events` table), `at` in epoch ms. */
export interface PracticeChange {
  ods: string;
  from: StatusLevel;
  to: StatusLevel;
  at: number;
}

export interface TrendInput {
  /** Window start and end, epoch ms; `to` > `from`. */
  from: number;
  to: number;
  bucketMs: number;
  /**
   * Every practice to count, with its status now. Changes of practices not listed here are
   * ignored (out of the caller's scope, or no longer in the estate).
   */
  current: ReadonlyMap<string, StatusLevel>;
  /**
   * Recorded changes, each practice's oldest first (ties in storage order; practices may be
   * interleaved or not). May include changes before `from`: the latest of those gives a
   * practice's status at the window start.
   */
  changes: readonly PracticeChange[];
}

export interface TrendBucket {
  /** Bucket start, epoch ms; the bucket covers [start, start + bucketMs). */
  start: number;
  counts: StatusCounts;
}

/** Worst first, the same order as the status engine's levels. */
const RANK: Record<StatusLevel, number> = Object.fromEntries(STATUS_LEVELS.map((s, i) => [s, i])) as Record<StatusLevel, number>;

export function emptyCounts(): StatusCounts {
  return Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as StatusCounts;
}

/** The bucket boundaries for a window: aligned to `bucketMs` so refetches line up. */
export function bucketStarts(from: number, to: number, bucketMs: number): number[] {
  if (!(bucketMs > 0) || !Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
    throw new RangeError(`trend: need to > from and bucketMs > 0 (got from ${from}, to ${to}, bucketMs ${bucketMs})`);
  }
  const first = Math.floor(from / bucketMs) * bucketMs;
  const starts: number[] = [];
  for (let t = first; t < to; t += bucketMs) starts.push(t);
  return starts;
}

/**
 * Folds the changes into buckets. Cost is O(changes + buckets × statuses), whatever the
 * number of practices: a practice's stretches without change are added as ranges through a
 * difference array, never bucket by bucket.
 */
export function trendBuckets(input: TrendInput): TrendBucket[] {
  const { current, bucketMs } = input;
  const starts = bucketStarts(input.from, input.to, bucketMs);
  const n = starts.length;
  const first = starts[0]!;
  const indexOf = (at: number) => Math.floor((at - first) / bucketMs);

  // Per status, a difference array over buckets: +1 at a range start, −1 after its end.
  const diff = new Map<StatusLevel, Int32Array>(STATUS_LEVELS.map((s) => [s, new Int32Array(n + 1)]));
  const addRange = (status: StatusLevel, lo: number, hi: number) => {
    if (lo > hi) return;
    const d = diff.get(status)!;
    d[lo]! += 1;
    d[hi + 1]! -= 1;
  };

  // Status at the window start: the latest change before it, else the first later change's
  // `from`, else (no change recorded at all) the status now.
  const before = new Map<string, StatusLevel>();
  const within = new Map<string, PracticeChange[]>();
  const after = new Map<string, StatusLevel>();
  for (const change of input.changes) {
    if (!current.has(change.ods)) continue;
    if (change.at < first) before.set(change.ods, change.to);
    else if (change.at < input.to) {
      const list = within.get(change.ods);
      if (list) list.push(change);
      else within.set(change.ods, [change]);
    } else if (!after.has(change.ods)) after.set(change.ods, change.from);
  }

  for (const [ods, now] of current) {
    const changes = within.get(ods);
    if (!changes) {
      addRange(before.get(ods) ?? after.get(ods) ?? now, 0, n - 1);
      continue;
    }
    let status = before.get(ods) ?? changes[0]!.from;
    let bucket = 0;
    let worst = status;
    for (const change of changes) {
      const at = indexOf(change.at);
      if (at > bucket) {
        // Close the bucket in progress, then the untouched buckets between, at `status`.
        addRange(worst, bucket, bucket);
        addRange(status, bucket + 1, at - 1);
        bucket = at;
        worst = status;
      }
      status = change.to;
      if (RANK[status] < RANK[worst]) worst = status;
    }
    addRange(worst, bucket, bucket);
    addRange(status, bucket + 1, n - 1);
  }

  const running = emptyCounts();
  return starts.map((start, i) => {
    const counts = emptyCounts();
    for (const s of STATUS_LEVELS) {
      running[s] += diff.get(s)![i]!;
      counts[s] = running[s];
    }
    return { start, counts };
  });
}
