// What incident persistence must offer. Asynchronous like the rest of the Store contract
// (PostgreSQL drops in later); it records and reads, it never decides.
import type { Incident, IncidentEvent } from './types';

export interface IncidentStore {
  /** The next incident id. Synchronous: the sequence is held in memory after the store opens. */
  nextIncidentId(): number;
  /** Applies the tracker's events in order, in one transaction: all are written or none. */
  applyIncidentEvents(events: IncidentEvent[]): Promise<void>;
  /** Every open incident, oldest first, with its timeline and references. */
  openIncidents(): Promise<Incident[]>;
  /** Open and resolved incidents, newest first. */
  recentIncidents(limit: number, offset: number): Promise<Incident[]>;
  incident(id: number): Promise<Incident | null>;
}
