// Backup mode as the practice page shows it: the API's shapes (docs/backup.md), each action's
// state in words, what the switch form asks for, and the re-entry backlog's order. Pure: the
// page calls the API and renders; every decision about wording and order is here.
import type { PracticeView } from '../../server/live/protocol';
import type { BackupReasonCode } from '../../server/backup/types';
import type { Mode } from '../../server/status/types';
import { dayTime } from '../lib/view';
import { durationInWords, type Tone } from './words';

export interface ActionView {
  key: string;
  kind: 'webhook' | 'notify';
  name: string;
  direction: 'enter' | 'leave';
  state: 'pending' | 'retrying' | 'done' | 'failed';
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  updatedAt: string;
}
export interface ChecklistItem {
  id: string;
  text: string;
  direction: 'enter' | 'leave';
  done: boolean;
  by: string | null;
  at: string | null;
}
export interface ReadinessItem {
  id: string;
  text: string;
  done: boolean;
  checkedAt: string | null;
  by: string | null;
  overdue: boolean;
}
export interface Backlog {
  urgentReferrals: number;
  prescriptions: number;
  consultations: number;
  updatedAt: string;
  updatedBy: string;
}
export interface TransitionView {
  at: string;
  from: string;
  to: string;
  by: string;
  automatic: boolean;
  reasonCode: string;
  reason: string;
  evidence: { status: string; cause: string | null };
  runId: string;
  bulkId: string | null;
}
export interface BackupDetail {
  ods: string;
  name: string;
  mode: Mode;
  since: string;
  runId: string | null;
  enteredBy: string | null;
  reasonCode: string | null;
  reason: string | null;
  plan: string | null;
  policy: { autoEnterAfterMs: number | null; suggestLeaveAfterMs: number | null };
  suggestion: { suggestLeave: boolean; healthyForMs: number };
  actions: ActionView[];
  checklist: ChecklistItem[];
  readiness: ReadinessItem[];
  backlog: Backlog | null;
  costs: unknown[];
  transitions: TransitionView[];
}

/** Which way a switch goes from a mode; null while a switch is still running. */
export function switchDirection(mode: Mode): 'enter' | 'leave' | null {
  if (mode === 'normal') return 'enter';
  if (mode === 'backup') return 'leave';
  return null;
}

/** True while any action of the run is still in flight: the page polls until none is. */
export function actionsInFlight(detail: Pick<BackupDetail, 'mode' | 'actions'>): boolean {
  return detail.mode === 'entering' || detail.mode === 'leaving' || detail.actions.some((a) => a.state === 'pending' || a.state === 'retrying');
}

export interface ActionStateWords {
  label: string;
  tone: Tone;
  /** Further words: attempts, last error, next attempt, or why it failed. */
  detail: string | null;
}

export function actionStateInWords(action: ActionView): ActionStateWords {
  const attempts = `${action.attempts} attempt${action.attempts === 1 ? '' : 's'}`;
  switch (action.state) {
    case 'pending':
      return { label: 'Pending', tone: 'info', detail: null };
    case 'retrying': {
      const parts = [attempts];
      if (action.lastError) parts.push(`last error: ${action.lastError}`);
      if (action.nextAttemptAt) parts.push(`next try ${dayTime(action.nextAttemptAt)}`);
      return { label: 'Retrying', tone: 'warning', detail: parts.join('; ') };
    }
    case 'done':
      return { label: 'Done', tone: 'good', detail: null };
    case 'failed':
      return { label: 'Failed', tone: 'bad', detail: `${action.lastError ?? 'gave up'} (${attempts})` };
  }
}

/** The mode in one sentence, with who, when and why where the API says. */
export function modeInWords(detail: Pick<BackupDetail, 'mode' | 'since' | 'enteredBy'>): string {
  switch (detail.mode) {
    case 'normal':
      return 'Not in backup mode: your practice is working on its usual systems.';
    case 'entering':
      return `Switching to backup mode since ${dayTime(detail.since)}${detail.enteredBy ? `, by ${detail.enteredBy}` : ''}: the continuity actions are running.`;
    case 'backup':
      return `In backup mode since ${dayTime(detail.since)}${detail.enteredBy ? `, switched by ${detail.enteredBy}` : ''}.`;
    case 'leaving':
      return `Leaving backup mode since ${dayTime(detail.since)}: the return actions are running.`;
  }
}

/** "Your practice has been healthy for 20 minutes — leave backup mode?" when the API suggests it. */
export function leaveSuggestion(detail: Pick<BackupDetail, 'mode' | 'suggestion'>): string | null {
  if (detail.mode !== 'backup' || !detail.suggestion.suggestLeave) return null;
  return `Your practice has been healthy for ${durationInWords(detail.suggestion.healthyForMs)} — leave backup mode?`;
}

/** The reason a person most likely means, from the practice's cause; they may pick another. */
export function suggestedReason(direction: 'enter' | 'leave', practice: Pick<PracticeView, 'ods' | 'cause'> | null, clinicalSystems: ReadonlySet<string>): BackupReasonCode {
  if (direction === 'leave') return 'recovered';
  const cause = practice?.cause ?? '';
  const upstream = /^upstream: (.+)$/.exec(cause);
  if (upstream) return clinicalSystems.has(upstream[1]!) ? 'clinical-system-down' : 'network-down';
  if (/^reported (down|degraded) by /.test(cause)) return 'reported-by-practice';
  if (practice && cause.includes(`check ${practice.ods}-fleet:`)) return 'workstations-down';
  if (practice && cause.includes(`check ${practice.ods}-gateway:`)) return 'network-down';
  return 'other';
}

export const REASON_MAX = 500;

/** What the switch form found wrong, by field; empty when the form may be sent. */
export function switchFormErrors(form: { reasonCode: string | null; reason: string }, codes: readonly string[]): { reasonCode?: string; reason?: string } {
  const errors: { reasonCode?: string; reason?: string } = {};
  if (form.reasonCode === null || !codes.includes(form.reasonCode)) errors.reasonCode = 'Select why you are switching';
  const reason = form.reason.trim();
  if (reason === '') errors.reason = 'Enter what has happened, in a few words';
  else if (reason.length > REASON_MAX) errors.reason = `Reason must be ${REASON_MAX} characters or fewer (it is ${reason.length})`;
  return errors;
}

// ---------------------------------------------------------------------------------------
// The re-entry backlog: what was written on paper and must still be entered, urgent first.

export type BacklogKey = 'urgentReferrals' | 'prescriptions' | 'consultations';

/** Urgent referrals first, then prescriptions, then consultations: the order work is entered in. */
export const BACKLOG_ORDER: readonly { key: BacklogKey; label: string; hint: string }[] = [
  { key: 'urgentReferrals', label: 'Urgent referrals', hint: 'Enter these first: a patient may be waiting on them.' },
  { key: 'prescriptions', label: 'Prescriptions', hint: 'Issued on paper (FP10) during backup mode.' },
  { key: 'consultations', label: 'Consultations', hint: 'Paper consultation notes to add to patient records.' },
];

export type BacklogCounts = Record<BacklogKey, number>;

export function backlogCounts(backlog: Backlog | null): BacklogCounts {
  return {
    urgentReferrals: backlog?.urgentReferrals ?? 0,
    prescriptions: backlog?.prescriptions ?? 0,
    consultations: backlog?.consultations ?? 0,
  };
}

export function backlogTotal(counts: BacklogCounts): number {
  return counts.urgentReferrals + counts.prescriptions + counts.consultations;
}

/** The first kind of work still to enter, in BACKLOG_ORDER; null when everything is entered. */
export function backlogNext(counts: BacklogCounts): BacklogKey | null {
  return BACKLOG_ORDER.find(({ key }) => counts[key] > 0)?.key ?? null;
}

/** One item of `key` entered: its count goes down by one, never below zero. */
export function countDown(counts: BacklogCounts, key: BacklogKey): BacklogCounts {
  return { ...counts, [key]: Math.max(0, counts[key] - 1) };
}

/** The backlog form's text fields as counts (whole numbers ≥ 0, at most 100,000), or what is wrong with each. */
export function parseBacklog(fields: Record<BacklogKey, string>): { ok: true; counts: BacklogCounts } | { ok: false; errors: Partial<Record<BacklogKey, string>> } {
  const errors: Partial<Record<BacklogKey, string>> = {};
  const counts = { urgentReferrals: 0, prescriptions: 0, consultations: 0 };
  for (const { key, label } of BACKLOG_ORDER) {
    const text = fields[key].trim();
    if (!/^\d{1,6}$/.test(text) || Number(text) > 100_000) {
      errors[key] = `${label} must be a whole number from 0 to 100,000`;
      continue;
    }
    counts[key] = Number(text);
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, counts };
}

/** Whether the page shows the backlog: once set, or once the practice has begun leaving backup mode. */
export function showsBacklog(detail: Pick<BackupDetail, 'mode' | 'backlog' | 'transitions'>): boolean {
  if (detail.backlog !== null) return true;
  if (detail.mode === 'leaving') return true;
  return detail.mode === 'normal' && detail.transitions.some((t) => t.to === 'leaving' || t.from === 'leaving');
}

/** How often the page reads the backup detail again while in backup mode with nothing running. */
export const BACKUP_QUIET_REFRESH_MS = 30_000;

/**
 * Whether the page should read the backup detail again now: at every tick while actions run;
 * in backup mode, as soon as the leave suggestion can be due (healthy since + the plan's
 * `suggestLeaveAfter`, which no live event announces), and otherwise now and then.
 */
export function backupRefreshDue(
  backup: Pick<BackupDetail, 'mode' | 'actions' | 'policy' | 'suggestion'>,
  practice: Pick<PracticeView, 'status' | 'since'> | null,
  now: number,
  lastLoadedAt: number,
): boolean {
  if (actionsInFlight(backup)) return true;
  if (backup.mode !== 'backup') return false;
  if (now - lastLoadedAt >= BACKUP_QUIET_REFRESH_MS) return true;
  const after = backup.policy.suggestLeaveAfterMs;
  if (backup.suggestion.suggestLeave || after === null || practice === null || practice.status !== 'up') return false;
  const due = Date.parse(practice.since) + after;
  return now >= due && lastLoadedAt < due;
}
