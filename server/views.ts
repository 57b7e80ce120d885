// Turns the estate and the engine's statuses into the shapes the API and the live feed
// send. Presentation only: every decision was made by the status engine.
import type { Estate } from './config/estate';
import type { StatusEngine } from './status/engine';
import type { Counts, PracticeView, ServiceView } from './live/protocol';
import { STATUS_LEVELS, causeText, type StatusLevel } from './status/types';

export function practiceView(estate: Estate, engine: StatusEngine, ods: string): PracticeView {
  const p = estate.practices.get(ods)!;
  const s = engine.status(`practice:${ods}`)!;
  return {
    ods: p.ods,
    name: p.name,
    pcn: p.pcn,
    icb: p.icb,
    system: p.system,
    status: s.status,
    cause: causeText(s.cause),
    mode: 'normal',
    since: new Date(s.since).toISOString(),
  };
}

export function serviceView(estate: Estate, engine: StatusEngine, id: string, affected: Map<string, number>): ServiceView {
  const svc = estate.services.get(id)!;
  const s = engine.status(`service:${id}`)!;
  return {
    id,
    name: svc.name,
    kind: svc.kind,
    status: s.status,
    cause: causeText(s.cause),
    since: new Date(s.since).toISOString(),
    practicesAffected: affected.get(id) ?? 0,
  };
}

export function emptyCounts(): Record<StatusLevel, number> {
  return Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as Record<StatusLevel, number>;
}

export function practiceCounts(practices: Iterable<PracticeView>): Counts {
  const counts: Counts = { ...emptyCounts(), backup: 0, total: 0 };
  for (const p of practices) {
    counts[p.status]++;
    if (p.mode === 'backup') counts.backup++;
    counts.total++;
  }
  return counts;
}
