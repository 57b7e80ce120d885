// Folds check results into per-check, per-minute summaries in memory and hands completed
// minutes over for storage. Decides nothing about status and never touches the store: its
// caller drains it and writes what it drains. Memory is bounded: per check at most
// `maxMinutesPerCheck` minutes are open at once; results beyond that are dropped and counted.
import type { CheckResult } from '../../probes/types';
import { MINUTE_MS, combine, minuteOf, type MinuteRow } from './types';

interface OpenMinute {
  minute: number;
  count: number;
  failures: number;
  latencySumMs: number;
  latencyMaxMs: number;
}

export interface MinuteRollupOptions {
  /**
   * Open minutes one check may hold; default 10. Normally one or two (the current minute
   * and the one just finished); more only when results arrive late or a drain fails.
   */
  maxMinutesPerCheck?: number;
}

export class MinuteRollup {
  private readonly open = new Map<string, OpenMinute[]>();
  private readonly maxMinutes: number;
  private droppedResults = 0;

  constructor(opts: MinuteRollupOptions = {}) {
    this.maxMinutes = opts.maxMinutesPerCheck ?? 10;
  }

  /** Results dropped because their check already had too many open minutes. */
  get dropped(): number {
    return this.droppedResults;
  }

  /** Open minutes held, over all checks. */
  get openMinutes(): number {
    let n = 0;
    for (const list of this.open.values()) n += list.length;
    return n;
  }

  /** Counts one result in the minute it started in (`result.at`), whichever location ran it. */
  record(result: CheckResult): void {
    const entry = this.entry(result.checkId, minuteOf(result.at));
    if (!entry) return;
    entry.count++;
    if (!result.ok) {
      entry.failures++;
      return;
    }
    const latency = Number.isFinite(result.latencyMs) && result.latencyMs > 0 ? result.latencyMs : 0;
    entry.latencySumMs += latency;
    if (latency > entry.latencyMaxMs) entry.latencyMaxMs = latency;
  }

  /**
   * Removes and returns every minute that ended at or before `now` (minutes strictly
   * before the current one), oldest first within a check. Each result is handed out once.
   */
  drain(now: number): MinuteRow[] {
    return this.take((minute) => minute + MINUTE_MS <= now);
  }

  /** Removes and returns everything, the current minute included (for shutdown). */
  drainAll(): MinuteRow[] {
    return this.take(() => true);
  }

  /**
   * `drain` (or with `all`, `drainAll`) a batch of at most `size` rows at a time: each batch is
   * taken from memory only when asked for, so a caller can write one and yield before the next,
   * and what it never asks for (after a failed write) stays here for the next drain.
   */
  *drainBatches(now: number, size: number, all = false): Generator<MinuteRow[]> {
    const done = all ? () => true : (minute: number) => minute + MINUTE_MS <= now;
    let batch: MinuteRow[] = [];
    for (const [checkId, list] of this.open) {
      batch.push(...this.takeOne(checkId, list, done));
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * Puts drained rows back (after a failed write), combining them with anything recorded
   * since, so the next drain hands them out again. Subject to the same bound as `record`.
   */
  restore(rows: readonly MinuteRow[]): void {
    for (const row of rows) {
      const entry = this.entry(row.checkId, row.minute);
      if (!entry) continue;
      const merged = combine(toSummary(entry), row);
      entry.count = merged.count;
      entry.failures = merged.failures;
      const passed = merged.count - merged.failures;
      entry.latencySumMs = merged.latency ? merged.latency.meanMs * passed : 0;
      entry.latencyMaxMs = merged.latency ? merged.latency.maxMs : 0;
    }
  }

  private entry(checkId: string, minute: number): OpenMinute | null {
    let list = this.open.get(checkId);
    if (!list) {
      list = [];
      this.open.set(checkId, list);
    }
    for (const e of list) if (e.minute === minute) return e;
    if (list.length >= this.maxMinutes) {
      this.droppedResults++;
      return null;
    }
    const e: OpenMinute = { minute, count: 0, failures: 0, latencySumMs: 0, latencyMaxMs: 0 };
    list.push(e);
    return e;
  }

  private take(done: (minute: number) => boolean): MinuteRow[] {
    const rows: MinuteRow[] = [];
    for (const [checkId, list] of this.open) rows.push(...this.takeOne(checkId, list, done));
    return rows;
  }

  /** One check's finished minutes, oldest first, removed from memory. */
  private takeOne(checkId: string, list: OpenMinute[], done: (minute: number) => boolean): MinuteRow[] {
    if (list.length === 0) {
      // A check that has gone quiet for a whole drain is forgotten, so removed checks free their memory.
      this.open.delete(checkId);
      return [];
    }
    let kept = 0;
    const taken: OpenMinute[] = [];
    for (const e of list) {
      if (done(e.minute)) taken.push(e);
      else list[kept++] = e;
    }
    list.length = kept;
    if (taken.length > 1) taken.sort((a, b) => a.minute - b.minute);
    const rows: MinuteRow[] = [];
    for (const e of taken) if (e.count > 0) rows.push({ checkId, minute: e.minute, ...toSummary(e) });
    return rows;
  }
}

function toSummary(e: OpenMinute): Omit<MinuteRow, 'checkId' | 'minute'> {
  const passed = e.count - e.failures;
  return {
    count: e.count,
    failures: e.failures,
    latency: passed > 0 ? { meanMs: e.latencySumMs / passed, maxMs: e.latencyMaxMs } : null,
  };
}
