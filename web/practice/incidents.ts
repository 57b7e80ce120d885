// The incidents that touch one practice, from GET /api/incidents (already scoped to the
// caller by the server): open ones first, then the newest. Pure.
export interface IncidentSummary {
  id: number;
  key: string;
  kind: 'service' | 'practice' | 'pcn';
  title: string;
  status: 'open' | 'resolved';
  severity: 'down' | 'degraded';
  openedAt: string;
  resolvedAt: string | null;
  affected: string[];
  peakAffected: number;
}

export function incidentsOf(incidents: readonly IncidentSummary[], ods: string): IncidentSummary[] {
  return incidents
    .filter((i) => i.affected.includes(ods) || i.key === `practice:${ods}`)
    .sort((a, b) => (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1) || Date.parse(b.openedAt) - Date.parse(a.openedAt) || b.id - a.id);
}
