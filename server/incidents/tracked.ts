// One incident as the tracker holds it — its members, what its timeline last said about the
// count and the finding, what `describe` last said — and the record of what one pass touched.
// Also the coalesced timeline logs: at most one `affected` and one `finding` entry per
// incident per interval, each with the latest value. No grouping decisions here.
import type { SubjectKey } from '../status/engine';
import { FINDING_WITHDRAWN, type Incident, type IncidentSeverity } from './types';
import { plural } from './wording';

export interface Tracked {
  incident: Incident;
  members: Set<SubjectKey>;
  /** The count in the latest `opened`/`affected` entry, and when it was written. */
  loggedCount: number;
  loggedAt: number;
  /** The finding as of the latest `finding` entry (null: none yet, or withdrawn), and when. */
  loggedFinding: string | null;
  findingAt: number;
  /** The title `describe` gave, and when it was last asked. */
  describedTitle: string | undefined;
  describedAt: number;
}

export function newTracked(incident: Incident, at: number): Tracked {
  return {
    incident,
    members: new Set(),
    loggedCount: 0,
    loggedAt: at,
    loggedFinding: null,
    findingAt: at,
    describedTitle: undefined,
    describedAt: Number.NEGATIVE_INFINITY,
  };
}

/** A stored open incident taken back after a restart: what its timeline last said is read from the timeline. */
export function restoredTracked(incident: Incident): Tracked {
  const t = newTracked(incident, incident.openedAt);
  const counted = incident.timeline.findLast((e) => e.count !== undefined);
  const found = incident.timeline.findLast((e) => e.type === 'finding');
  t.loggedCount = counted?.count ?? incident.affected.length;
  t.loggedAt = counted?.at ?? incident.openedAt;
  t.loggedFinding = found === undefined || found.text === FINDING_WITHDRAWN ? null : found.text;
  t.findingAt = found?.at ?? incident.openedAt;
  return t;
}

/** A value the timeline records coalesced: differs from what was last written, when, and how to write it. */
export interface CoalescedLog {
  differs(t: Tracked): boolean;
  lastAt(t: Tracked): number;
  write(t: Tracked, now: number): void;
}

export const affectedLog: CoalescedLog = {
  differs: (t) => t.incident.affected.length !== t.loggedCount,
  lastAt: (t) => t.loggedAt,
  write(t, now) {
    const count = t.incident.affected.length;
    t.incident.timeline.push({ at: now, type: 'affected', text: `${plural(count, 'practice')} affected (was ${t.loggedCount})`, count });
    t.loggedCount = count;
    t.loggedAt = now;
  },
};

export const findingLog: CoalescedLog = {
  differs: (t) => t.incident.finding !== t.loggedFinding,
  lastAt: (t) => t.findingAt,
  write(t, now) {
    t.incident.timeline.push({ at: now, type: 'finding', text: t.incident.finding ?? FINDING_WITHDRAWN });
    t.loggedFinding = t.incident.finding;
    t.findingAt = now;
  },
};

/** What one update or annotation touched, so exactly its changes become events. */
export class Pass {
  /** Per incident: where its timeline and references stood, and its header and severity, before the pass. */
  readonly touched = new Map<number, { tracked: Tracked; timelineFrom: number; referencesFrom: number; signature: string; severity: IncidentSeverity }>();
  readonly opened = new Set<number>();
  readonly resolved = new Set<number>();
  /** Incidents that lost a member to recovery (up or maintenance). */
  readonly recovered = new Set<number>();
  readonly movedTo = new Map<number, Set<number>>();
  readonly groupedInto = new Map<number, number>();
  readonly groupedFrom = new Map<number, number[]>();
  constructor(readonly now: number) {}
}
