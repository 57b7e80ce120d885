// Asking the caller to describe a group of practices (the share of their workstations silent,
// the software the silent last ran): what only the app can compute. Bounded: an incident is
// described when it opens and when its practices change, at most once per interval; a change
// in between is described once the interval has passed. It never decides membership.
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
  /** Open incidents whose practices changed since they were last described. */
  private readonly pending = new Set<number>();

  constructor(
    private readonly describe: DescribeIncident,
    private readonly everyMs: number,
  ) {}

  /** Notes an incident whose practices may have changed (or, after a restore, whose description was lost). */
  noteChanged(tracked: Tracked, force = false): void {
    const { incident } = tracked;
    if (incident.status !== 'open' || !isLocalKind(incident.kind)) return;
    if (force || incident.affected.join(',') !== tracked.describedFor) this.pending.add(incident.id);
  }

  forget(id: number): void {
    this.pending.delete(id);
  }

  clear(): void {
    this.pending.clear();
  }

  /** Describes every incident that is due, touching it (via `touch`) before changing it. */
  describeDue(pass: Pass, lookup: (id: number) => Tracked | undefined, touch: (t: Tracked) => void): void {
    for (const id of [...this.pending].sort((a, b) => a - b)) {
      const tracked = lookup(id);
      if (!tracked || tracked.incident.status !== 'open') {
        this.pending.delete(id);
        continue;
      }
      if (!pass.opened.has(id) && pass.now - tracked.describedAt < this.everyMs) continue;
      this.pending.delete(id);
      const ods = [...tracked.incident.affected];
      tracked.describedFor = ods.join(',');
      tracked.describedAt = pass.now;
      let said: IncidentDescription = {};
      try {
        said = this.describe(tracked.incident.key, ods);
      } catch {
        // A failing description never stops incidents being tracked: the tracker's own words stand.
      }
      touch(tracked);
      if (said.title !== undefined) tracked.describedTitle = said.title.trim() || undefined;
      if (said.finding !== undefined) tracked.incident.finding = said.finding?.trim() || null;
    }
  }
}
