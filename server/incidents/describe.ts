// Asking the caller to describe a group of practices (the share of their workstations silent,
// the software the silent last ran): what only the app can compute, and what changes without
// the group changing (workstations go silent after the gateways have failed). Bounded: an
// incident is described when it opens and again every interval while it is open, never more
// often; a change of practices in between is described once the interval has passed. It never
// decides membership.
import type { Pass, Tracked } from './tracked';
import { isLocalKind } from './records';
import type { IncidentKey } from './types';

/** What the caller knows about a group of practices that the tracker does not. */
export interface IncidentDescription {
  /** Replaces the tracker's own title until another is given; absent keeps the last; '' goes back to the tracker's own. */
  title?: string;
  /** Replaces the finding; null withdraws it; absent keeps it. */
  finding?: string | null;
}

/** Describes a practice, PCN or endpoints incident from its practices (ODS codes, sorted). */
export type DescribeIncident = (key: IncidentKey, memberOds: string[]) => IncidentDescription;

export class Descriptions {
  /** Open practice, PCN and endpoints incidents: each is described again once its interval has passed. */
  private readonly open = new Set<number>();

  constructor(
    private readonly describe: DescribeIncident,
    private readonly everyMs: number,
  ) {}

  /** Keeps an open incident described (idempotent; other kinds are ignored). `force`: describe it on the next pass. */
  watch(tracked: Tracked, force = false): void {
    const { incident } = tracked;
    if (incident.status !== 'open' || !isLocalKind(incident.kind)) return;
    this.open.add(incident.id);
    if (force) tracked.describedAt = Number.NEGATIVE_INFINITY;
  }

  forget(id: number): void {
    this.open.delete(id);
  }

  clear(): void {
    this.open.clear();
  }

  /** Describes every incident that is due, touching it (via `touch`) before changing it. */
  describeDue(pass: Pass, lookup: (id: number) => Tracked | undefined, touch: (t: Tracked) => void): void {
    for (const id of [...this.open].sort((a, b) => a - b)) {
      const tracked = lookup(id);
      if (!tracked || tracked.incident.status !== 'open') {
        this.open.delete(id);
        continue;
      }
      if (!pass.opened.has(id) && pass.now - tracked.describedAt < this.everyMs) continue;
      const ods = [...tracked.incident.affected];
      tracked.describedAt = pass.now;
      let said: IncidentDescription = {};
      try {
        said = this.describe(tracked.incident.key, ods);
      } catch {
        // A failing description never stops incidents being tracked: the tracker's own words stand.
      }
      if (said.title === undefined && said.finding === undefined) continue;
      touch(tracked);
      if (said.title !== undefined) tracked.describedTitle = said.title.trim() || undefined;
      if (said.finding !== undefined) tracked.incident.finding = said.finding?.trim() || null;
    }
  }
}
