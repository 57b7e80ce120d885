// Turns the estate and the engine's statuses into the shapes the API and the live feed
// send, and keeps the current ones so a snapshot costs no recomputation. Presentation
// only: every decision was made by the status engine.
import type { Estate } from './config/estate';
import type { StatusChange, StatusEngine } from './status/engine';
import { splitKey } from './status/engine';
import type { Counts, PracticeView, ServiceView } from './live/protocol';
import { STATUS_LEVELS, causeText, type Mode, type StatusLevel } from './status/types';

export function emptyCounts(): Record<StatusLevel, number> {
  return Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as Record<StatusLevel, number>;
}

export function practiceCounts(practices: Iterable<PracticeView>): Counts {
  const counts: Counts = { ...emptyCounts(), backup: 0, total: 0 };
  for (const p of practices) {
    counts[p.status]++;
    if (p.mode !== 'normal') counts.backup++;
    counts.total++;
  }
  return counts;
}

export class Views {
  readonly practices = new Map<string, PracticeView>();
  readonly services = new Map<string, ServiceView>();

  constructor(
    private readonly estate: Estate,
    private readonly engine: StatusEngine,
    /** Each practice's backup mode (the backup service); normal when not given. */
    private readonly modeOf: (ods: string) => Mode = () => 'normal',
  ) {
    this.rebuild();
  }

  /** Recomputes every view from the engine (at start and after a restore). */
  rebuild(): void {
    for (const ods of this.estate.practices.keys()) this.practices.set(ods, this.practiceView(ods));
    this.services.clear();
    this.refreshServices();
  }

  /** Applies one tick's changes; returns the views that changed, for the live feed. */
  apply(changes: StatusChange[]): { practices: PracticeView[]; services: ServiceView[] } {
    const practices: PracticeView[] = [];
    for (const change of changes) {
      const [type, id] = splitKey(change.subject);
      if (type !== 'practice') continue;
      const view = this.practiceView(id);
      this.practices.set(id, view);
      practices.push(view);
    }
    return { practices, services: changes.length > 0 ? this.refreshServices() : [] };
  }

  /** Re-reads the mode of these practices; returns the views that changed, for the live feed. */
  refreshModes(odsList: Iterable<string>): PracticeView[] {
    const changed: PracticeView[] = [];
    for (const ods of odsList) {
      const prev = this.practices.get(ods);
      if (!prev) continue;
      const mode = this.modeOf(ods);
      if (prev.mode === mode) continue;
      const view = { ...prev, mode };
      this.practices.set(ods, view);
      changed.push(view);
    }
    return changed;
  }

  counts(): Counts {
    return practiceCounts(this.practices.values());
  }

  serviceCounts(): Record<StatusLevel, number> {
    const counts = emptyCounts();
    for (const s of this.services.values()) counts[s.status]++;
    return counts;
  }

  private practiceView(ods: string): PracticeView {
    const p = this.estate.practices.get(ods)!;
    const s = this.engine.status(`practice:${ods}`)!;
    return {
      ods: p.ods,
      name: p.name,
      pcn: p.pcn,
      icb: p.icb,
      system: p.system,
      status: s.status,
      cause: causeText(s.cause),
      mode: this.modeOf(ods),
      since: new Date(s.since).toISOString(),
    };
  }

  /** Service views carry "practices affected", which any practice change can move. */
  private refreshServices(): ServiceView[] {
    const affected = this.engine.practicesAffected();
    const changed: ServiceView[] = [];
    for (const [id, svc] of this.estate.services) {
      const s = this.engine.status(`service:${id}`)!;
      const next: ServiceView = {
        id,
        name: svc.name,
        kind: svc.kind,
        status: s.status,
        cause: causeText(s.cause),
        since: new Date(s.since).toISOString(),
        practicesAffected: affected.get(id) ?? 0,
      };
      const prev = this.services.get(id);
      if (!prev || JSON.stringify(prev) !== JSON.stringify(next)) {
        this.services.set(id, next);
        changed.push(next);
      }
    }
    return changed;
  }
}
