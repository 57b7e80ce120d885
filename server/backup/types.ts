// Backup-mode vocabulary shared by the state machine, the policies, the outbox that runs
// actions, the store and the API. Types only: no behaviour lives here.

/**
 * Where a practice is in its failover cycle. `entering` and `leaving` last while the
 * actions of one run (webhooks, notifications, checklist) are in flight; the practice only
 * reaches `backup` or `normal` once every action of that run is done or given up.
 */
export type BackupState = 'normal' | 'entering' | 'backup' | 'leaving';

export const BACKUP_STATES = ['normal', 'entering', 'backup', 'leaving'] as const satisfies readonly BackupState[];

export const REASON_CODES = [
  'clinical-system-down',
  'workstations-down',
  'network-down',
  'reported-by-practice',
  'planned',
  'recovered',
  'other',
] as const;
export type BackupReasonCode = (typeof REASON_CODES)[number];

/** What the dashboard showed when the decision was taken, kept with the decision. */
export interface BackupEvidence {
  status: string;
  cause: string | null;
}

/**
 * One recorded change of a practice's backup state: who, when, why, automatic or manual.
 * Written (append-only) before any action of its run is started.
 */
export interface BackupTransition {
  ods: string;
  from: BackupState;
  to: BackupState;
  /** Epoch ms. */
  at: number;
  by: string;
  automatic: boolean;
  reasonCode: BackupReasonCode;
  reason: string;
  evidence: BackupEvidence;
  /** The run whose actions this transition starts (enter/leave) or completes (settled). */
  runId: string;
  /** Set when the transition is part of one bulk act (every practice of one incident). */
  bulkId: string | null;
}

/** One action to run when a practice enters or leaves backup mode. */
export interface ActionPlan {
  kind: 'webhook' | 'notify' | 'checklist';
  name: string;
  direction: 'enter' | 'leave';
}

/**
 * The current backup-mode record of one practice: what the state machine reads and
 * returns. `runId` is the run in flight (entering/leaving) or the run that put the practice
 * in backup; null in `normal`. `enteredBy`, `reasonCode` and `reason` describe the latest
 * decision (enter or leave); `enteredBy` is who entered and is kept until back to normal.
 */
export interface PracticeBackup {
  ods: string;
  state: BackupState;
  /** Epoch ms of the latest accepted transition (or of record creation). */
  since: number;
  runId: string | null;
  enteredBy: string | null;
  reasonCode: BackupReasonCode | null;
  reason: string | null;
}

/** A practice that has never been in backup mode. */
export function initialPracticeBackup(ods: string, since: number): PracticeBackup {
  return { ods, state: 'normal', since, runId: null, enteredBy: null, reasonCode: null, reason: null };
}
