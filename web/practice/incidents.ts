// The incidents that touch one practice, from GET /api/incidents (already scoped to the
// caller by the server): open ones first, then the newest. Pure.
import type { IncidentSummary } from '../lib/incident';

export type { IncidentSummary };

export function incidentsOf(incidents: readonly IncidentSummary[], ods: string): IncidentSummary[] {
  return incidents
    .filter((i) => i.affected.includes(ods) || i.key === `practice:${ods}`)
    .sort((a, b) => (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1) || Date.parse(b.openedAt) - Date.parse(a.openedAt) || b.id - a.id);
}
