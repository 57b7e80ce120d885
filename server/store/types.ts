// The Store contract: what the rest of Pulse may ask of persistence. Asynchronous from day
// one (PostgreSQL drops in behind it later). It records and reads; it never decides.
import type { AccountStore } from '../auth/types';
import type { BackupStore } from '../backup/store';
import type { MaintenanceWindow } from '../config/estate';
import type { HistoryStore } from '../history/store';
import type { IncidentStore } from '../incidents/store';
import type { PeopleReport, SubjectKey } from '../status/engine';
import type { Cause, StatusLevel } from '../status/types';
import type { StoreUnavailableReason } from './health';

export interface StatusTransition {
  subject: SubjectKey;
  from: StatusLevel;
  to: StatusLevel;
  cause: Cause | null;
  /** Epoch ms. */
  at: number;
}

/** A stored transition: its cause kept as the one-line text. */
export interface StoredTransition extends Omit<StatusTransition, 'cause'> {
  id: number;
  cause: string | null;
}

/** People's reports, API maintenance windows and the engine's restart snapshot. */
export interface SignalStore {
  saveReport(ods: string, report: PeopleReport | null): Promise<void>;
  reports(): Promise<[string, PeopleReport][]>;
  saveMaintenance(window: MaintenanceWindow, createdAt: number): Promise<void>;
  cancelMaintenance(id: string, by: string, at: number): Promise<boolean>;
  maintenanceWindows(now: number): Promise<MaintenanceWindow[]>;
  saveSnapshot(body: string, at: number): Promise<void>;
  loadSnapshot(): Promise<{ body: string; savedAt: number } | null>;
  /** The engine's incremental snapshot: changed rows and the header (see store/sqlite/signals.ts). */
  saveEngineState(save: EngineStateSave): Promise<void>;
  loadEngineState(): Promise<[string, unknown][]>;
}

/** An incremental save of the engine's state: rows by key (null body: delete the row), then the header. */
export interface EngineStateSave {
  /** Taken one slice at a time, as it is written. */
  rows: Iterable<[key: string, body: unknown]>;
  /** The header's JSON (format version 3), loadSnapshot's body from then on. */
  header: string;
  savedAt: number;
}

export interface Store {
  readonly signals: SignalStore;
  readonly incidents: IncidentStore;
  readonly history: HistoryStore;
  readonly accounts: AccountStore;
  /** Backup mode: states, transitions, the action outbox, checklists, readiness, backlog, costs. */
  readonly backup: BackupStore;
  /** Appends transitions in one transaction: all are written or none. */
  recordTransitions(transitions: StatusTransition[]): Promise<void>;
  /** The latest transitions of one subject, newest first. */
  transitionsOf(subject: SubjectKey, limit: number): Promise<StoredTransition[]>;
  /**
   * Every transition of subjects of one type at or after `since`, by subject and oldest first
   * within each. A subject's status at `since` is its first change's `from` (or, with no
   * change since, its status now). For trends.
   */
  transitionsSince(type: 'practice' | 'service', since: number): Promise<StoredTransition[]>;
  /** Fails when the store cannot be used (for /readyz); cheap. */
  ping(): Promise<void>;
  /**
   * Whether an error is the database's own trouble (disk full, read-only, I/O error, cannot
   * open, locked) and which, or null for any other error. The one classifier per engine.
   */
  classifyError(err: unknown): StoreUnavailableReason | null;
  /** A tiny committed write (no new rows): fails while the store cannot take writes. */
  probeWrite(): Promise<void>;
  /** Number of transitions stored (for health and tests). */
  countTransitions(): Promise<number>;
  /** Deletes transitions older than `before`, keeping each subject's newest. */
  pruneTransitions(before: number): Promise<number>;
  close(): Promise<void>;
}
