// Wires check history into the server with four calls: `record` per batch of results,
// `flush` every tick (it acts once a minute), `close` at shutdown, and `pruneOnce` (in
// retention.ts) hourly. Owns the in-memory parts (recent results, open minutes) and hands
// completed minutes to a HistoryStore in small transactions, yielding between them so a
// large estate's minute write never holds up the live feed. Decides no status.
import type { CheckResult } from '../../probes/types';
import type { Logger } from '../log';
import { RecentResults, type RecentResultsOptions } from './recent';
import { MinuteRollup, type MinuteRollupOptions } from './rollup';
import type { HistoryStore } from './store';
import { HOUR_MS, MINUTE_MS, minuteOf, type MinuteRow } from './types';

export interface HistoryRecorderOptions {
  store: HistoryStore;
  recent?: RecentResultsOptions;
  rollup?: MinuteRollupOptions;
  /**
   * Rows per `writeMinutes` call (one transaction each); default 500. A transaction holds
   * SQLite's write lock while it runs (a few ms for 500 rows), and the server's own writes
   * wait for it, so it is kept short even when the writing is on another thread.
   */
  batchRows?: number;
  /** Check-hours per `seal` call (one transaction each: packing one is ~60–90 µs, the costlier work); default 100 (or batchRows if that is given). */
  sealRows?: number;
  /** An hour is packed this long after it ends, leaving room for late results; default 5 min. */
  sealAfterMs?: number;
  log?: Logger;
}

export interface FlushResult {
  /** Minute rows written. */
  rows: number;
  /** Check-hours packed. */
  sealed: number;
}

export class HistoryRecorder {
  readonly recent: RecentResults;
  readonly rollup: MinuteRollup;
  private readonly store: HistoryStore;
  private readonly batchRows: number;
  private readonly sealRows: number;
  private readonly sealAfterMs: number;
  private readonly log: Logger;
  private lastDrainMinute = -1;
  private lastSealHour = -1;
  private running: Promise<FlushResult> | null = null;

  constructor(opts: HistoryRecorderOptions) {
    this.store = opts.store;
    this.recent = new RecentResults(opts.recent);
    this.rollup = new MinuteRollup(opts.rollup);
    this.batchRows = opts.batchRows ?? 500;
    this.sealRows = opts.sealRows ?? opts.batchRows ?? 100;
    this.sealAfterMs = opts.sealAfterMs ?? 5 * MINUTE_MS;
    this.log = opts.log ?? (() => {});
  }

  /** Call with every batch of results the engine accepted. Memory only; never blocks on I/O. */
  record(results: readonly CheckResult[]): void {
    for (const r of results) {
      this.recent.push(r);
      this.rollup.record(r);
    }
  }

  /**
   * Call every tick: once a minute it writes the minutes that have ended, and once an hour
   * it packs the hours that ended `sealAfterMs` ago. A call while one is running returns at once.
   * A failed write is logged and its rows kept for the next minute; it never throws.
   */
  flush(now: number): Promise<FlushResult> {
    if (this.running) return Promise.resolve({ rows: 0, sealed: 0 });
    const minute = minuteOf(now);
    const sealHour = Math.floor((now - this.sealAfterMs) / HOUR_MS);
    if (minute === this.lastDrainMinute && sealHour === this.lastSealHour) return Promise.resolve({ rows: 0, sealed: 0 });
    this.running = (async () => {
      let rows = 0;
      let sealed = 0;
      if (minute !== this.lastDrainMinute) {
        this.lastDrainMinute = minute;
        rows = await this.write(this.rollup.drainBatches(now, this.batchRows));
      }
      if (sealHour !== this.lastSealHour) {
        // Marked done even on failure: the next hour's pass packs every earlier hour too.
        this.lastSealHour = sealHour;
        try {
          sealed = await this.sealBefore(sealHour * HOUR_MS);
        } catch (err) {
          this.log('error', 'could not pack finished hours of check history; retrying next hour', { error: String(err) });
        }
      }
      return { rows, sealed };
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** At shutdown, after the last results are recorded: writes every open minute, the current one too. */
  async close(): Promise<number> {
    await this.running;
    return this.write(this.rollup.drainBatches(Infinity, this.batchRows, true));
  }

  /**
   * Writes batch after batch, yielding to the event loop between them; each batch is taken
   * from the rollup only then, so no one slice of the main thread drains a whole minute.
   */
  private async write(batches: Iterable<MinuteRow[]>): Promise<number> {
    let written = 0;
    let first = true;
    for (const batch of batches) {
      if (!first) await yieldToEventLoop();
      first = false;
      try {
        await this.store.writeMinutes(batch);
        written += batch.length;
      } catch (err) {
        // Nothing of a failed batch was written: keep it for the next flush; the batches not yet
        // taken are still in the rollup.
        this.rollup.restore(batch);
        this.log('error', 'could not store check minutes; keeping them for the next minute', {
          rows: batch.length,
          held: this.rollup.openMinutes,
          error: String(err),
        });
        break;
      }
    }
    return written;
  }

  private async sealBefore(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.store.seal(before, this.sealRows);
      total += n;
      if (n < this.sealRows) return total;
      await yieldToEventLoop();
    }
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
