// What backup mode asks of persistence. Every change a person (or a policy) makes is written
// with its audit entry in one transaction: a switch writes the transitions, the practices' new
// states, the run's outbox actions and one audit entry together, before any action runs.
import type { AuditEntry, AuditInput } from '../auth/types';
import type { OutboxEnqueue, OutboxStore } from '../store/sqlite/outbox';
import type { BackupTransition, PracticeBackup } from './types';

export interface SwitchBatch {
  steps: { state: PracticeBackup; transition: BackupTransition }[];
  outbox: OutboxEnqueue[];
  /** One entry for the whole act (a bulk switch names every practice); null for a run settling. */
  audit: AuditInput | null;
}

export interface ChecklistTick {
  runId: string;
  ods: string;
  itemId: string;
  done: boolean;
  by: string;
  at: number;
}

export interface ReadinessMark {
  ods: string;
  itemId: string;
  done: boolean;
  by: string;
  at: number;
}

export interface Backlog {
  ods: string;
  urgentReferrals: number;
  prescriptions: number;
  consultations: number;
  updatedAt: number;
  updatedBy: string;
}

export interface CostEntry {
  id: number;
  ods: string;
  at: number;
  by: string;
  description: string;
  amountPence: number;
  incidentId: number | null;
}

export interface BackupStore {
  readonly outbox: OutboxStore;
  /** Every practice that has a record (those never switched have none). */
  states(): Promise<PracticeBackup[]>;
  /** Writes a switch (or a run settling) whole, or nothing; returns the audit entry written. */
  recordSwitch(batch: SwitchBatch): Promise<AuditEntry | null>;
  transitionsOf(ods: string, limit: number): Promise<BackupTransition[]>;
  /** Transitions of every practice in [from, to), oldest first (for review and export). */
  transitionsBetween(from: number, to: number): Promise<BackupTransition[]>;
  tickChecklist(tick: ChecklistTick, audit: AuditInput): Promise<void>;
  /** The latest tick of each item of a run. */
  checklistOf(runId: string): Promise<ChecklistTick[]>;
  /** The latest tick of each item of each run, in one query. */
  checklistOfRuns(runIds: string[]): Promise<ChecklistTick[]>;
  markReadiness(mark: ReadinessMark, audit: AuditInput): Promise<void>;
  readinessOf(ods: string): Promise<ReadinessMark[]>;
  setBacklog(backlog: Backlog, audit: AuditInput): Promise<void>;
  backlogOf(ods: string): Promise<Backlog | null>;
  backlogs(): Promise<Backlog[]>;
  addCost(entry: Omit<CostEntry, 'id'>, audit: AuditInput): Promise<CostEntry>;
  costsOf(ods: string): Promise<CostEntry[]>;
  /** Every cost entry, oldest first; of one incident when `incidentId` is given. */
  costs(incidentId?: number): Promise<CostEntry[]>;
}
