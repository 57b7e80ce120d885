// The audit log as a file for incident review: CSV for a spreadsheet, JSON for tools. Pure
// functions of the entries; the route (`GET /api/audit?format=`) and the CLI
// (`npm run users -- audit-export`) read the log and hand it here.
//
// Both are oldest first with ISO 8601 times. JSON keeps every field exactly (`at` as ISO with
// milliseconds, so the chain can be re-verified from the file: see auditHash). CSV is for
// reading, and defends the reader: a cell a spreadsheet would run as a formula (starting with
// = + - @, a tab or a carriage return) gets a leading `'` (OWASP's CSV-injection advice), so a
// crafted username or reason in the log cannot run anything on the reviewer's machine. That
// changes those cells' text: re-verify the chain from JSON, never from CSV.
//
// Must never: drop, reorder within a seq, or alter an entry's content in JSON.
import { canonicalJson } from '../store/sqlite/accounts';
import type { AuditEntry } from './types';

export const AUDIT_CSV_COLUMNS = ['seq', 'at', 'actor', 'action', 'subject', 'detail', 'prev_hash', 'hash'] as const;
export const AUDIT_EXPORT_FORMATS = ['csv', 'json'] as const;
export type AuditExportFormat = (typeof AUDIT_EXPORT_FORMATS)[number];

const oldestFirst = (entries: readonly AuditEntry[]) => [...entries].sort((a, b) => a.seq - b.seq);

/** A cell a spreadsheet might evaluate gets a leading `'`. */
export function defuseFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** RFC 4180: quoted (with `"` doubled) when it holds a quote, a comma, CR or LF. */
export function csvCell(text: string): string {
  const cell = defuseFormula(text);
  return /[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

/** The whole log as RFC 4180 CSV (header row, CRLF line ends), oldest first. */
export function auditToCsv(entries: readonly AuditEntry[]): string {
  const rows = [AUDIT_CSV_COLUMNS.join(',')];
  for (const e of oldestFirst(entries)) {
    rows.push(
      [String(e.seq), new Date(e.at).toISOString(), e.actor, e.action, e.subject ?? '', canonicalJson(e.detail), e.prevHash, e.hash]
        .map(csvCell)
        .join(','),
    );
  }
  return `${rows.join('\r\n')}\r\n`;
}

export interface AuditExportEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export function toExportEntry(e: AuditEntry): AuditExportEntry {
  return { seq: e.seq, at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, subject: e.subject, detail: e.detail, prevHash: e.prevHash, hash: e.hash };
}

/** The whole log as a JSON array, oldest first, pretty-printed (2-space indent). */
export function auditToJson(entries: readonly AuditEntry[]): string {
  return `${JSON.stringify(oldestFirst(entries).map(toExportEntry), null, 2)}\n`;
}

export function auditExport(format: AuditExportFormat, entries: readonly AuditEntry[]): { body: string; contentType: string } {
  return format === 'csv'
    ? { body: auditToCsv(entries), contentType: 'text/csv; charset=utf-8' }
    : { body: auditToJson(entries), contentType: 'application/json; charset=utf-8' };
}

/** `pulse-audit-2026-11-27.csv`: the UTC date of the export. */
export function auditExportFilename(format: AuditExportFormat, nowMs: number): string {
  return `pulse-audit-${new Date(nowMs).toISOString().slice(0, 10)}.${format}`;
}

/**
 * Every entry, oldest first, read in pages through `auditEntries` (newest first). An entry
 * appended while reading lands before the first page and only shifts later pages by one, so
 * entries are de-duplicated by seq and none is skipped: the result is the log as it stood when
 * the first page was read.
 */
export async function readWholeAuditLog(
  auditEntries: (limit: number, offset: number) => Promise<AuditEntry[]>,
  pageSize = 1_000,
): Promise<AuditEntry[]> {
  const bySeq = new Map<number, AuditEntry>();
  for (let offset = 0; ; offset += pageSize) {
    const page = await auditEntries(pageSize, offset);
    for (const e of page) bySeq.set(e.seq, e);
    if (page.length < pageSize) break;
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
