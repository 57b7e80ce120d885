// The incident vocabulary shared by the tracker, the store, the API and the dashboard:
// what an incident is, what its timeline holds, the events that persist it, and the
// validation of what people add to it. Types and input schemas only — no decisions here.
import { z } from 'zod';
import type { SubjectKey } from '../status/engine';
import type { Cause, StatusLevel } from '../status/types';

/** Practices failing on their own checks, starting together across many PCNs: one incident for the estate. */
export const ENDPOINTS_KEY = 'estate:endpoints';
/** Pulse's own monitoring impaired (an overloaded worker, a stalled server): never the estate's outage. */
export const SELF_KEY = 'pulse:self';

/**
 * What one incident is about: a service, a practice failing on its own, a PCN (suspected
 * common cause), practices failing locally across the estate at once, or Pulse itself.
 */
export type IncidentKey = SubjectKey | `pcn:${string}` | typeof ENDPOINTS_KEY | typeof SELF_KEY;
export type IncidentKind = 'service' | 'practice' | 'pcn' | 'endpoints' | 'pulse';
export const INCIDENT_KINDS = ['service', 'practice', 'pcn', 'endpoints', 'pulse'] as const satisfies readonly IncidentKind[];
export type IncidentSeverity = 'down' | 'degraded';

/** `finding`: what Pulse found changed (see `Incident.finding`); the text is the finding itself. */
export const TIMELINE_TYPES = ['opened', 'severity', 'affected', 'finding', 'note', 'reference', 'grouped', 'resolved'] as const;
export type TimelineType = (typeof TIMELINE_TYPES)[number];

export interface TimelineEntry {
  /** Epoch ms. */
  at: number;
  type: TimelineType;
  text: string;
  /** The person who wrote it (notes, references); absent for automatic entries. */
  by?: string;
  /** Practices affected as of this entry; on `opened` and `affected` entries of incidents about practices only. */
  count?: number;
  /**
   * On notes and references: the ICB of the person who wrote it, null for a national one.
   * Absent when not known (written before it was recorded): only national callers see those.
   */
  icb?: string | null;
}

/** The text of a `finding` entry when the finding was withdrawn (nothing stands out any more). */
export const FINDING_WITHDRAWN = 'finding withdrawn: nothing stands out any more';

export const REFERENCE_SYSTEMS = ['service-desk', 'supplier', 'other'] as const;
export type ReferenceSystem = (typeof REFERENCE_SYSTEMS)[number];

/** An IT service desk or supplier incident number recorded against an incident. */
export interface IncidentReference {
  system: ReferenceSystem;
  reference: string;
  by: string;
  at: number;
  /** The ICB of the person who recorded it, null for national; absent when not known (as on TimelineEntry). */
  icb?: string | null;
}

export interface Incident {
  /** From the store's sequence; shown to people as `#<id>`. */
  id: number;
  key: IncidentKey;
  kind: IncidentKind;
  title: string;
  /**
   * What Pulse found beyond the title, in plain words, or null: for practices failing
   * together, the software over-represented among their silent workstations (from the
   * tracker's `describe`); for Pulse's own incident, what impairs it now.
   */
  finding: string | null;
  status: 'open' | 'resolved';
  /** The worst status among its failing subjects. */
  severity: IncidentSeverity;
  openedAt: number;
  resolvedAt: number | null;
  /**
   * ODS codes of the practices in it, sorted. Current while open; a resolved incident keeps
   * the list it had just before it resolved (`peakAffected` and the timeline keep the rest).
   */
  affected: string[];
  peakAffected: number;
  /**
   * The most practices of each ICB affected at once (the estate-wide `peakAffected` counts
   * every ICB's): what a caller scoped to an ICB is shown. Absent when not known (restored from an older store).
   */
  peakByIcb?: Record<string, number>;
  /** Every subject (services and practices) in it, sorted; frozen like `affected` on resolution. */
  subjects: SubjectKey[];
  timeline: TimelineEntry[];
  references: IncidentReference[];
}

/** An incident without its timeline and references: the row the store upserts. */
export type IncidentSummary = Omit<Incident, 'timeline' | 'references'>;

/**
 * What to persist, in order, all in one transaction. Header events carry the incident's
 * complete current summary (an upsert, so replaying is harmless); timeline entries and
 * references are appended at their position `seq` (replaying one already stored is a no-op).
 */
export type IncidentEvent =
  | { type: 'opened'; incident: IncidentSummary }
  | { type: 'updated'; incident: IncidentSummary }
  | { type: 'resolved'; incident: IncidentSummary }
  | { type: 'timeline'; id: number; seq: number; entry: TimelineEntry }
  | { type: 'reference'; id: number; seq: number; reference: IncidentReference };

/** The latest state of one subject, as the tracker is told it. */
export interface SubjectState {
  key: SubjectKey;
  status: StatusLevel;
  cause: Cause | null;
  /** The practice's PCN; null for services. */
  pcn: string | null;
  name: string;
  /**
   * Epoch ms its current spell of failing on its own checks began, when the caller knows it.
   * Read by `restore` only (so a practice in its group wait carries on waiting); `update`
   * takes the time it is told of the failure.
   */
  since?: number;
}

export const NOTE_MAX = 2_000;
export const REFERENCE_MAX = 100;
export const AUTHOR_MAX = 100;

const author = z.string().trim().min(1, 'is required').max(AUTHOR_MAX, `must be at most ${AUTHOR_MAX} characters`);

export const noteInput = z.object({
  by: author,
  text: z.string().trim().min(1, 'is required').max(NOTE_MAX, `must be at most ${NOTE_MAX.toLocaleString('en-GB')} characters`),
});
export type NoteInput = z.input<typeof noteInput>;

export const referenceInput = z.object({
  system: z.enum(REFERENCE_SYSTEMS, { message: `must be one of ${REFERENCE_SYSTEMS.join(', ')}` }),
  reference: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(REFERENCE_MAX, `must be at most ${REFERENCE_MAX} characters`)
    .regex(/^[^\p{Cc}]+$/u, 'must be one line of printable text'),
  by: author,
});
export type ReferenceInput = z.input<typeof referenceInput>;

export type IncidentErrorCode = 'INCIDENT_NOT_FOUND' | 'INCIDENT_RESOLVED' | 'INVALID_NOTE' | 'INVALID_REFERENCE';

export interface IncidentError {
  code: IncidentErrorCode;
  message: string;
  /** The input field at fault, for validation errors. */
  field?: string;
}

export type AnnotateResult = { ok: true; incident: Incident; events: IncidentEvent[] } | { ok: false; error: IncidentError };
