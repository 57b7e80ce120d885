// The backup-mode state machine of one practice: normal → entering → backup → leaving →
// normal. Pure: it decides whether an event is allowed and what to record; it never
// stores, runs actions, reads a clock or makes ids (time comes in the event, ids from the
// injected `newId`).
//
// Contract for callers: every accepted event returns exactly one BackupTransition, and the
// caller must write that transition (with the new PracticeBackup and the run's outbox
// entries, in one batch) BEFORE any action of the run is started. A restart then finds the
// run recorded and resumes it from the outbox: it loses nothing and repeats nothing. A
// rejected event changes nothing and must not be recorded as a transition (STALE_RUN in
// particular is a late or duplicate "settled" signal that callers ignore).
import type {
  BackupEvidence,
  BackupReasonCode,
  BackupState,
  BackupTransition,
  PracticeBackup,
} from './types';
import { REASON_CODES } from './types';

export const REASON_MAX_CHARS = 500;

/** Recorded as `by` for transitions nobody decided (an automatic entry, a run settling). */
export const SYSTEM_ACTOR = 'system';

export type BackupEvent =
  | {
      type: 'enter';
      by: string;
      automatic: boolean;
      reasonCode: BackupReasonCode;
      reason: string;
      evidence: BackupEvidence;
      at: number;
      bulkId?: string | null;
    }
  | {
      /** Every action of run `runId` is done or given up. */
      type: 'actions-settled';
      runId: string;
      at: number;
    }
  | {
      /**
       * Leaving is always a person's decision: the policies only suggest it (see
       * policy.ts), so there is no `automatic` flag here and `by` is always required.
       */
      type: 'leave';
      by: string;
      reasonCode: BackupReasonCode;
      reason: string;
      evidence: BackupEvidence;
      at: number;
      bulkId?: string | null;
    };

export type BackupErrorCode = 'ALREADY_IN_BACKUP' | 'NOT_IN_BACKUP' | 'BUSY' | 'STALE_RUN' | 'INVALID';

export interface BackupError {
  code: BackupErrorCode;
  message: string;
}

export type BackupStep =
  | { ok: true; state: PracticeBackup; transition: BackupTransition }
  | { ok: false; error: BackupError };

export interface MachineDeps {
  /** A fresh, never-repeating run id (e.g. crypto.randomUUID). */
  newId: () => string;
}

const NO_EVIDENCE: BackupEvidence = { status: 'not-assessed', cause: null };

function reject(code: BackupErrorCode, message: string): BackupStep {
  return { ok: false, error: { code, message } };
}

/** Checks what no state makes valid; returns a message, or null when the event is well formed. */
function invalidReason(event: BackupEvent): string | null {
  if (!Number.isFinite(event.at)) return `event time must be a finite epoch ms, got ${String(event.at)}`;
  if (event.type === 'actions-settled') {
    return event.runId.trim() === '' ? 'actions-settled needs the runId of the run that settled' : null;
  }
  if (!(REASON_CODES as readonly string[]).includes(event.reasonCode)) {
    return `unknown reasonCode "${String(event.reasonCode)}"`;
  }
  const reason = event.reason.trim();
  if (reason.length === 0) return `${event.type} needs a reason (1–${REASON_MAX_CHARS} characters)`;
  if (reason.length > REASON_MAX_CHARS) {
    return `${event.type} reason is ${reason.length} characters; at most ${REASON_MAX_CHARS}`;
  }
  const manual = event.type === 'leave' || !event.automatic;
  if (manual && event.by.trim() === '') return `a manual ${event.type} needs the person who decided (by)`;
  return null;
}

/**
 * The next backup record of a practice after `event`, with the transition to record, or
 * the reason the event is refused. Never throws for any input of these types.
 */
export function next(practice: PracticeBackup, event: BackupEvent, deps: MachineDeps): BackupStep {
  const invalid = invalidReason(event);
  if (invalid) return reject('INVALID', `${practice.ods}: ${invalid}`);
  const { ods, state } = practice;

  switch (event.type) {
    case 'enter': {
      if (state === 'entering' || state === 'backup') {
        return reject('ALREADY_IN_BACKUP', `${ods} is already ${state === 'backup' ? 'in' : 'entering'} backup mode`);
      }
      // Entering while the leave actions still run would interleave two runs' webhooks
      // and checklists; the person waits for the leave to settle, then enters again.
      if (state === 'leaving') return reject('BUSY', `${ods} is still leaving backup mode; wait for its actions to finish`);
      const runId = deps.newId();
      const by = event.by.trim() || SYSTEM_ACTOR;
      const reason = event.reason.trim();
      return accept(practice, 'entering', event.at, runId, {
        by,
        automatic: event.automatic,
        reasonCode: event.reasonCode,
        reason,
        evidence: event.evidence,
        bulkId: event.bulkId ?? null,
      }, { enteredBy: by, reasonCode: event.reasonCode, reason });
    }

    case 'leave': {
      if (state === 'normal' || state === 'leaving') {
        return reject('NOT_IN_BACKUP', `${ods} is not in backup mode${state === 'leaving' ? ' (already leaving)' : ''}`);
      }
      // Leave while entering is refused rather than queued or cancelling the entry: the
      // enter actions (phone message, website notice, paused booking) are in flight, and a
      // leave run started now could finish before them and leave patients told the practice
      // is in backup when it is not. Wait for the entry to settle, then leave.
      if (state === 'entering') return reject('BUSY', `${ods} is still entering backup mode; wait for its actions to finish`);
      const runId = deps.newId();
      const reason = event.reason.trim();
      return accept(practice, 'leaving', event.at, runId, {
        by: event.by.trim(),
        automatic: false,
        reasonCode: event.reasonCode,
        reason,
        evidence: event.evidence,
        bulkId: event.bulkId ?? null,
      }, { enteredBy: practice.enteredBy, reasonCode: event.reasonCode, reason });
    }

    case 'actions-settled': {
      if ((state !== 'entering' && state !== 'leaving') || practice.runId !== event.runId) {
        return reject('STALE_RUN', `${ods}: run ${event.runId} is not the run in progress (${practice.runId ?? 'none'}, ${state})`);
      }
      const to: BackupState = state === 'entering' ? 'backup' : 'normal';
      const reasonCode = practice.reasonCode ?? 'other';
      const reason = `actions of run ${event.runId} settled`;
      const leftBackup = to === 'normal';
      return accept(practice, to, event.at, event.runId, {
        by: SYSTEM_ACTOR,
        automatic: true,
        reasonCode,
        reason,
        evidence: NO_EVIDENCE,
        bulkId: null,
      }, leftBackup
        ? { enteredBy: null, reasonCode: practice.reasonCode, reason: practice.reason }
        : { enteredBy: practice.enteredBy, reasonCode: practice.reasonCode, reason: practice.reason });
    }
  }
}

function accept(
  practice: PracticeBackup,
  to: BackupState,
  at: number,
  runId: string,
  record: Pick<BackupTransition, 'by' | 'automatic' | 'reasonCode' | 'reason' | 'evidence' | 'bulkId'>,
  decision: Pick<PracticeBackup, 'enteredBy' | 'reasonCode' | 'reason'>,
): BackupStep {
  // Back in normal there is no run: the next entry starts a new one.
  const kept = to === 'normal' ? null : runId;
  const state: PracticeBackup = { ods: practice.ods, state: to, since: at, runId: kept, ...decision };
  const transition: BackupTransition = {
    ods: practice.ods,
    from: practice.state,
    to,
    at,
    ...record,
    evidence: { status: record.evidence.status, cause: record.evidence.cause },
    runId,
  };
  return { ok: true, state, transition };
}
