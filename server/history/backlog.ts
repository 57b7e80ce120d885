// Status transitions the store could not take yet (disk full, read-only, I/O error): kept in
// memory, bounded, in order, and written first when the store takes writes again, so history
// catches up. Past the bound the oldest are dropped, and exactly what was dropped (how many,
// from when to when) is kept for one gap record. Never decides status; never throws on push.
import type { StatusTransition } from '../store/types';

export interface TransitionGap {
  dropped: number;
  /** Time of the first and the last dropped transition (epoch ms). */
  from: number;
  to: number;
}

export class TransitionBacklog {
  private rows: StatusTransition[] = [];
  private gap: TransitionGap | null = null;
  /** Transitions dropped since start, for pulse_history_transitions_dropped_total. */
  droppedTotal = 0;

  constructor(private readonly limit = 100_000) {}

  get size(): number {
    return this.rows.length;
  }

  /** What was dropped and not yet recorded as a gap, or null. */
  get pendingGap(): TransitionGap | null {
    return this.gap;
  }

  push(changes: readonly StatusTransition[]): void {
    for (const t of changes) this.rows.push(t);
    const over = this.rows.length - this.limit;
    if (over <= 0) return;
    const dropped = this.rows.splice(0, over);
    const from = dropped[0]!.at;
    const to = dropped[dropped.length - 1]!.at;
    this.gap = this.gap
      ? { dropped: this.gap.dropped + over, from: Math.min(this.gap.from, from), to: Math.max(this.gap.to, to) }
      : { dropped: over, from, to };
    this.droppedTotal += over;
  }

  /**
   * Writes everything held, oldest first, in one call; on success the backlog is empty and the
   * gap (if any) is handed to `recordGap`. On failure nothing is removed and the error is thrown.
   */
  async flush(
    write: (rows: StatusTransition[]) => Promise<void>,
    recordGap: (gap: TransitionGap) => Promise<void>,
  ): Promise<number> {
    const rows = this.rows;
    if (rows.length > 0) {
      await write(rows);
      // Only what was written: rows pushed meanwhile stay for the next flush.
      this.rows = this.rows.slice(rows.length);
    }
    if (this.gap) {
      const gap = this.gap;
      await recordGap(gap);
      if (this.gap === gap) this.gap = null;
    }
    return rows.length;
  }
}
