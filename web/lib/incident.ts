// An incident as the REST API lists it (GET /api/incidents): the live feed's view with the
// affected practices listed rather than counted. Read by the console's incident page and the
// practice page. Types only.
import type { IncidentView } from '../../server/live/protocol';

export type IncidentSummary = Omit<IncidentView, 'affected'> & { affected: string[]; peakAffected: number };
