// The HistoryStore contract: what Pulse keeps of the past beyond transitions — per-minute
// summaries of every check, packed by the hour — and the status timeline availability is
// computed from. Asynchronous like the Store, so PostgreSQL can implement it later; one
// contract, tested against each implementation. It records and reads; it never decides.
import type { SubjectKey } from '../status/engine';
import type { StatusLevel } from '../status/types';
import type { MinuteRow } from './types';

/** A subject's status over [from, to): the status it held at `from`, then each change. */
export interface StatusTimeline {
  subject: SubjectKey;
  from: number;
  to: number;
  /** Status held at `from` (the latest stored transition at or before it); null when none is stored. */
  initial: StatusLevel | null;
  /** Status changes strictly after `from` and before `to`, oldest first. */
  changes: { at: number; status: StatusLevel }[];
}

export interface HistoryStore {
  /**
   * Merges minute rows into the stored hours, all in one transaction: all or none.
   * Merging is by minute slot: a slot already stored is combined with the new row
   * (counts add), other slots are kept, so minutes written before a restart survive it.
   * Each row must be written once (rows from MinuteRollup.drain are); a failed call
   * wrote nothing and may be retried with the same rows.
   */
  writeMinutes(rows: readonly MinuteRow[]): Promise<void>;
  /** A check's minutes with `from ≤ minute < to`, oldest first. */
  minutes(checkId: string, from: number, to: number): Promise<MinuteRow[]>;
  /**
   * Packs (compresses) hours that ended at or before `before`, at most `limit` check-hours
   * per call; returns how many it packed (call again while it returns `limit`). Hours
   * still being written are kept unpacked so each minute's write stays cheap.
   */
  seal(before: number, limit?: number): Promise<number>;
  /** Deletes check-hours that ended at or before `olderThan`; returns how many. */
  prune(olderThan: number): Promise<number>;
  /** The subject's stored status transitions over [from, to), for availability. Read-only. */
  statusTimeline(subject: SubjectKey, from: number, to: number): Promise<StatusTimeline>;
}
