// How the console puts backup mode into words: who is in it and how far each practice has
// got (the "Backup mode" panel), and the ICB's cost log (pounds typed by a person, pence on the
// wire). Pure functions only: no fetch, no timers, no DOM; what a practice's mode or progress
// *is* comes from the server, this only says it.
import type { PracticeView } from '../../server/live/protocol';
import type { Mode } from '../../server/status/types';
import { MODE_ICON } from '../lib/view';

/** One row of `GET /api/backup` (see docs/backup.md). */
export interface BackupSummary {
  ods: string;
  name: string;
  mode: Mode;
  /** The latest transition; null when the practice has never changed mode. */
  since: string | null;
  actions: { pending: number; retrying: number; done: number; failed: number };
  checklist: { done: number; total: number };
  suggestLeave: boolean;
  /** Items still to enter after leaving. */
  backlog: number;
}

/** One entry of `GET /api/backup/costs`. */
export interface CostLine {
  id: number;
  ods: string;
  at: string;
  by: string;
  description: string;
  amountPence: number;
  incidentId: number | null;
}

export interface CostLog {
  costs: CostLine[];
  totalPence: number;
}

/** A shape for every mode in the panel (a row back to normal is there for its backlog). */
export const PANEL_MODE_ICON: Record<Mode, string> = { ...MODE_ICON, normal: '✓' };

/** How far a practice's actions have got, in parts so the failed count can stand out. */
export interface ActionsProgress {
  /** "3 of 4 actions done"; "No actions" when the plan has none. */
  done: string;
  /** "1 retrying"; null when none. */
  retrying: string | null;
  /** "1 failed"; null when none. */
  failed: string | null;
  /** Some action is still being sent (pending or retrying). */
  inFlight: boolean;
}

export function actionsProgress(a: BackupSummary['actions']): ActionsProgress {
  const total = a.pending + a.retrying + a.done + a.failed;
  return {
    done: total === 0 ? 'No actions' : `${a.done} of ${total} ${total === 1 ? 'action' : 'actions'} done`,
    retrying: a.retrying > 0 ? `${a.retrying} retrying` : null,
    failed: a.failed > 0 ? `${a.failed} failed` : null,
    inFlight: a.pending + a.retrying > 0,
  };
}

/** "2 of 4 steps"; "No checklist" when the plan has no steps for this direction. */
export function checklistProgress(c: BackupSummary['checklist']): string {
  if (c.total === 0) return 'No checklist';
  return `${c.done} of ${c.total} ${c.total === 1 ? 'step' : 'steps'}`;
}

/** "1 item to re-enter" / "1,204 items to re-enter"; null when nothing is left. */
export function backlogText(items: number): string | null {
  if (items <= 0) return null;
  return `${items.toLocaleString('en-GB')} ${items === 1 ? 'item' : 'items'} to re-enter`;
}

/** True while any row still has actions being sent: the panel asks again until they settle. */
export function anyInFlight(rows: readonly BackupSummary[]): boolean {
  return rows.some((r) => r.actions.pending + r.actions.retrying > 0);
}

/**
 * The panel at a glance: "40 in backup mode · 2 entering · 1 with failed actions · 3 with a
 * backlog". Only the parts that are not zero.
 */
export function panelSummary(rows: readonly BackupSummary[]): string {
  const count = (mode: Mode) => rows.filter((r) => r.mode === mode).length;
  const failed = rows.filter((r) => r.actions.failed > 0).length;
  const leave = rows.filter((r) => r.suggestLeave).length;
  const backlog = rows.filter((r) => r.backlog > 0).length;
  const parts = [
    [count('backup'), 'in backup mode'],
    [count('entering'), 'entering'],
    [count('leaving'), 'leaving'],
    [failed, 'with failed actions'],
    [leave, 'healthy, leave suggested'],
    [backlog, 'with a backlog'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n.toLocaleString('en-GB')} ${what}`)
    .join(' · ');
}

const MODE_RANK: Record<Mode, number> = { entering: 0, leaving: 1, backup: 2, normal: 3 };

/** Failed actions first (someone must act), then entering, leaving, in backup, back to normal; then by name. */
export function sortBackupRows(rows: readonly BackupSummary[]): BackupSummary[] {
  return [...rows].sort(
    (a, b) =>
      Number(b.actions.failed > 0) - Number(a.actions.failed > 0) ||
      MODE_RANK[a.mode] - MODE_RANK[b.mode] ||
      a.name.localeCompare(b.name, 'en-GB') ||
      a.ods.localeCompare(b.ods),
  );
}

/**
 * The practices not in normal mode, as one string that changes exactly when some practice's
 * mode changes: the panel asks the server again then. A live delta that changes only statuses
 * leaves it the same.
 */
export function modeSignature(practices: Readonly<Record<string, PracticeView>> | null): string {
  if (practices === null) return '';
  const parts: string[] = [];
  for (const p of Object.values(practices)) if (p.mode !== 'normal') parts.push(`${p.ods}:${p.mode}`);
  return parts.sort().join(',');
}

/** The server's limit on one cost entry (pence). */
export const MAX_COST_PENCE = 100_000_000;

/** £1,234.50 — exact: whole pence, integer arithmetic. */
export function pounds(pence: number): string {
  const sign = pence < 0 ? '−' : '';
  const abs = Math.abs(Math.trunc(pence));
  const whole = Math.floor(abs / 100);
  const rest = abs % 100;
  return `${sign}£${whole.toLocaleString('en-GB')}.${String(rest).padStart(2, '0')}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Pounds as a person types them ("360", "360.00", "£1,250.5") into whole pence, exactly: the
 * text is read digit by digit, never through a float. Refuses anything else saying what is wrong.
 */
export function parsePounds(input: string): Parsed<number> {
  const text = input.trim().replace(/^£\s*/, '');
  if (text === '') return { ok: false, error: 'Enter the amount in pounds, like 360.00' };
  if (text.startsWith('-') || text.startsWith('−')) return { ok: false, error: 'The amount cannot be negative' };
  const match = /^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) {
    if (/^[\d,]+(\.\d*)?$/.test(text)) return { ok: false, error: 'Put commas only between thousands, like 1,250.00' };
    return { ok: false, error: `Enter the amount in pounds and pence using numbers only, like 360.00 (not “${input.trim()}”)` };
  }
  const whole = match[1]!.replace(/,/g, '');
  const pence = match[2] ?? '';
  if (pence.length > 2) return { ok: false, error: 'Enter pence with at most two digits after the point, like 360.50' };
  if (whole.replace(/^0+/, '').length > 7) return { ok: false, error: `The amount must be ${pounds(MAX_COST_PENCE)} or less` };
  const value = Number(whole) * 100 + Number(pence.padEnd(2, '0'));
  if (value === 0) return { ok: false, error: 'The amount must be more than £0.00' };
  if (value > MAX_COST_PENCE) return { ok: false, error: `The amount must be ${pounds(MAX_COST_PENCE)} or less` };
  return { ok: true, value };
}

/** What a cost entry's description must be (the server's rule, said before sending). */
export function checkDescription(input: string): Parsed<string> {
  const text = input.trim();
  if (text === '') return { ok: false, error: 'Describe the cost, like “Locum GP cover, 2 sessions”' };
  if (text.length > 300) return { ok: false, error: `The description must be 300 characters or fewer (it is ${text.length})` };
  return { ok: true, value: text };
}
