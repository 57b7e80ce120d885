// The incidents that touch one practice, from GET /api/incidents (already scoped to the
// caller by the server): open ones first, then the newest; and the wider one its trouble is
// part of (workstations failing across the estate). Pure.
import type { IncidentSummary } from '../lib/incident';

export type { IncidentSummary };

export function incidentsOf(incidents: readonly IncidentSummary[], ods: string): IncidentSummary[] {
  return incidents
    .filter((i) => i.affected.includes(ods) || i.key === `practice:${ods}`)
    .sort((a, b) => (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1) || Date.parse(b.openedAt) - Date.parse(a.openedAt) || b.id - a.id);
}

/**
 * The open estate-wide incident this practice is part of (kind `endpoints`: workstations
 * failing across many practices at once), or null: the practice's cause links to it, so a
 * manager sees at once that it is not their practice alone. The newest if there are several.
 */
export function widerIncident(incidents: readonly IncidentSummary[], ods: string): IncidentSummary | null {
  let found: IncidentSummary | null = null;
  for (const i of incidents) {
    if (i.status !== 'open' || i.kind !== 'endpoints' || !i.affected.includes(ods)) continue;
    if (found === null || Date.parse(i.openedAt) > Date.parse(found.openedAt)) found = i;
  }
  return found;
}
