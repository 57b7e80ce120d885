// An incident as the REST API lists it (GET /api/incidents): the shape the console's
// incident page and the practice page both read. Types only.
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
