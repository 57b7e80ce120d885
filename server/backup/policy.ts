// Backup-mode policies: when to enter automatically, when to suggest leaving. Pure and
// clock-injected (`now` is passed in). They only answer questions; they never change state
// or run anything — the caller turns a due auto-entry into an `enter` event for machine.ts.
// Leaving is never automatic: a suggestion is shown, and a person confirms it.
import type { StatusLevel } from '../status/types';
import type { PracticeBackup } from './types';

export interface PracticeStatusView {
  status: StatusLevel;
  /** Epoch ms since which the practice has had `status` without interruption. */
  statusSince: number;
  backup: PracticeBackup;
}

export interface AutoEnterPolicy {
  /** Enter backup after this long `down`; null (the default) means a person always decides. */
  autoEnterAfterMs: number | null;
}

export interface LeavePolicy {
  /** Suggest leaving after this long `up`; null means never suggest. */
  suggestLeaveAfterMs: number | null;
}

export interface LeaveSuggestion {
  suggest: boolean;
  /** How long the practice has been `up` without interruption (0 when it is not up). */
  healthyForMs: number;
}

function isDuration(ms: number | null): ms is number {
  return ms !== null && Number.isFinite(ms) && ms >= 0;
}

/**
 * True when the policy is set, the practice is in `normal` and has been `down` for at least
 * `autoEnterAfterMs`. The time counts from the later of the status change and the return
 * to normal, so a person who just took a still-down practice out of backup is not
 * overruled a moment later.
 */
export function autoEnterDue(now: number, practice: PracticeStatusView, policy: AutoEnterPolicy): boolean {
  if (!isDuration(policy.autoEnterAfterMs)) return false;
  if (practice.status !== 'down' || practice.backup.state !== 'normal') return false;
  const from = Math.max(practice.statusSince, practice.backup.since);
  return now - from >= policy.autoEnterAfterMs;
}

/**
 * Suggests leaving once a practice in `backup` has been `up` (not degraded, recovering or
 * unknown) for at least `suggestLeaveAfterMs`, counted from the later of the status change
 * and the entry into backup (an entry reported by the practice while probes said up must
 * not be suggested back out at once). `healthyForMs` is the plain time up, for display.
 */
export function leaveSuggestion(now: number, practice: PracticeStatusView, policy: LeavePolicy): LeaveSuggestion {
  const healthyForMs = practice.status === 'up' ? Math.max(0, now - practice.statusSince) : 0;
  if (!isDuration(policy.suggestLeaveAfterMs) || practice.status !== 'up' || practice.backup.state !== 'backup') {
    return { suggest: false, healthyForMs };
  }
  const from = Math.max(practice.statusSince, practice.backup.since);
  return { suggest: now - from >= policy.suggestLeaveAfterMs, healthyForMs };
}
