// The audit chain's head, kept outside the audit table: a small JSON file in the data folder
// (written atomically: temp file, then rename) that a running Pulse refreshes with every engine
// state save, and `npm run audit:verify` compares with the table. A hash chain alone cannot show
// that its newest entries were cut off; an anchor the table has fallen behind can.
// Must never decide anything but "does the table still hold what was anchored".
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const AUDIT_ANCHOR_FILE = 'audit-anchor.json';

/** The newest audit entry Pulse saw, and when it saw it. */
export interface AuditAnchor {
  version: 1;
  seq: number;
  hash: string;
  at: number;
}

export type AnchorRead = { kind: 'none' } | { kind: 'ok'; anchor: AuditAnchor } | { kind: 'unreadable'; reason: string };

export function auditAnchorPath(dataDir: string): string {
  return join(dataDir, AUDIT_ANCHOR_FILE);
}

/** Writes the anchor atomically: a reader sees the old file or the new one, never half of one. */
export function writeAuditAnchor(dataDir: string, head: { seq: number; hash: string }, at: number): AuditAnchor {
  const anchor: AuditAnchor = { version: 1, seq: head.seq, hash: head.hash, at };
  const file = auditAnchorPath(dataDir);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(anchor)}\n`, { mode: 0o600 });
  renameSync(temp, file);
  return anchor;
}

export function readAuditAnchor(dataDir: string): AnchorRead {
  const file = auditAnchorPath(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'unreadable', reason: `${file}: ${(e as Error).message}` };
  }
  try {
    const value = JSON.parse(text) as Partial<AuditAnchor>;
    if (
      value.version === 1 &&
      Number.isSafeInteger(value.seq) &&
      (value.seq as number) >= 0 &&
      typeof value.hash === 'string' &&
      /^[0-9a-f]{64}$/.test(value.hash) &&
      Number.isFinite(value.at)
    ) {
      return { kind: 'ok', anchor: value as AuditAnchor };
    }
    return { kind: 'unreadable', reason: `${file}: not an audit anchor (version 1 with seq, hash and at)` };
  } catch {
    return { kind: 'unreadable', reason: `${file}: not valid JSON` };
  }
}

export type AnchorCheck = { ok: true; lag: number } | { ok: false; reason: string };

/**
 * Compares an anchor with the table. The table may be ahead of the anchor (entries written since
 * the last save) as long as the anchored entry is still there with the anchored hash.
 */
export function checkAuditAnchor(
  anchor: AuditAnchor,
  headSeq: number,
  hashAt: (seq: number) => string | undefined,
): AnchorCheck {
  const when = new Date(anchor.at).toISOString();
  const short = anchor.hash.slice(0, 16);
  if (anchor.seq === 0) return { ok: true, lag: headSeq };
  if (headSeq < anchor.seq) {
    const missing = anchor.seq - headSeq;
    return {
      ok: false,
      reason: `audit log ends at sequence ${headSeq.toLocaleString('en-GB')} but Pulse anchored ${anchor.seq.toLocaleString('en-GB')} (hash ${short}…) at ${when}: ${missing.toLocaleString('en-GB')} newest ${missing === 1 ? 'entry is' : 'entries are'} missing`,
    };
  }
  const hash = hashAt(anchor.seq);
  if (hash !== anchor.hash) {
    return {
      ok: false,
      reason: `entry ${anchor.seq.toLocaleString('en-GB')} has hash ${(hash ?? 'none').slice(0, 16)}… but Pulse anchored ${short}… at ${when}: the log was rewritten from there or before`,
    };
  }
  return { ok: true, lag: headSeq - anchor.seq };
}

export type AnchorAdvance = { kind: 'written'; anchor: AuditAnchor } | { kind: 'refused'; reason: string };

/**
 * Moves the anchor forward to `head`, never back: a table found shorter than its anchor, or with
 * another hash at the anchored seq, leaves the file as it is (the evidence) and says why.
 */
export async function advanceAuditAnchor(
  dataDir: string,
  head: { seq: number; hash: string },
  hashAt: (seq: number) => Promise<string | undefined>,
  at: number,
): Promise<AnchorAdvance> {
  const current = readAuditAnchor(dataDir);
  if (current.kind === 'ok') {
    const { seq } = current.anchor;
    const hash = seq > 0 && seq <= head.seq ? await hashAt(seq) : undefined;
    const checked = checkAuditAnchor(current.anchor, head.seq, () => hash);
    if (!checked.ok) return { kind: 'refused', reason: checked.reason };
  }
  return { kind: 'written', anchor: writeAuditAnchor(dataDir, head, at) };
}
