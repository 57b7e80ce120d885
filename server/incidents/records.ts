// Small pure helpers the tracker keeps its incidents with: kinds of keys, copies handed
// out (callers never hold the tracker's own objects), the row a store upserts, and the
// error results of annotating.
import type { StatusLevel } from '../status/types';
import {
  ENDPOINTS_KEY,
  SELF_KEY,
  type AnnotateResult,
  type Incident,
  type IncidentErrorCode,
  type IncidentKey,
  type IncidentKind,
  type IncidentSummary,
  type ReferenceSystem,
} from './types';

export function kindOf(key: IncidentKey): IncidentKind {
  if (key === ENDPOINTS_KEY) return 'endpoints';
  if (key === SELF_KEY) return 'pulse';
  return key.startsWith('pcn:') ? 'pcn' : key.startsWith('service:') ? 'service' : 'practice';
}

/** Kinds whose members are practices failing on their own checks. */
export function isLocalKind(kind: IncidentKind): boolean {
  return kind === 'practice' || kind === 'pcn' || kind === 'endpoints';
}

/** Statuses that keep a subject in the incident it is in, but never put it in one. */
export function isHeld(status: StatusLevel): boolean {
  return status === 'recovering' || status === 'suspected' || status === 'unknown';
}

/** What, when changed, makes a header event (`updated`). */
export function signatureOf(i: Incident): string {
  return [i.title, i.finding ?? '', i.severity, i.status, i.peakAffected, i.affected.join(','), i.subjects.join(',')].join('|');
}

export function summary(i: Incident): IncidentSummary {
  const { timeline: _t, references: _r, ...rest } = i;
  return { ...rest, affected: [...i.affected], subjects: [...i.subjects], ...(i.peakByIcb ? { peakByIcb: { ...i.peakByIcb } } : {}) };
}

export function copy(i: Incident): Incident {
  return {
    ...summary(i),
    timeline: i.timeline.map((e) => ({ ...e })),
    references: i.references.map((r) => ({ ...r })),
  };
}

export const SYSTEM_LABEL: Record<ReferenceSystem, string> = {
  'service-desk': 'IT service desk',
  supplier: 'Supplier',
  other: 'Other',
};

export function notFound(id: number): string {
  return `incident #${id} not found (an older resolved incident must be loaded from the store and passed to remember() first)`;
}

export function fail(code: IncidentErrorCode, message: string): AnnotateResult {
  return { ok: false, error: { code, message } };
}

export function invalid(code: IncidentErrorCode, what: string, issue: { path: PropertyKey[]; message: string }): AnnotateResult {
  const field = issue.path.map(String).join('.') || what;
  return { ok: false, error: { code, field, message: `${what} ${field}: ${issue.message}` } };
}
