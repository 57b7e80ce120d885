// The Store contract: what the rest of Pulse may ask of persistence. Asynchronous from day
// one (PostgreSQL drops in behind it later). It records and reads; it never decides.
import type { SubjectKey } from '../status/engine';
import type { Cause, StatusLevel } from '../status/types';

export interface StatusTransition {
  subject: SubjectKey;
  from: StatusLevel;
  to: StatusLevel;
  cause: Cause | null;
  /** Epoch ms. */
  at: number;
}

export interface StoredTransition extends StatusTransition {
  id: number;
}

export interface Store {
  /** Appends transitions in one transaction: all are written or none. */
  recordTransitions(transitions: StatusTransition[]): Promise<void>;
  /** The latest transitions of one subject, newest first. */
  transitionsOf(subject: SubjectKey, limit: number): Promise<StoredTransition[]>;
  /** Number of transitions stored (for health and tests). */
  countTransitions(): Promise<number>;
  close(): Promise<void>;
}
