// What the API routes are given: the running parts of one Pulse, passed in (never reached
// for through a global), so a test builds the same routes over a temporary store.
import type { Estate } from '../config/estate';
import type { FleetTracker } from '../fleet';
import type { HistoryRecorder } from '../history/recorder';
import type { IncidentTracker } from '../incidents';
import type { Logger } from '../log';
import type { MaintenanceBook } from '../maintenance';
import type { StatusEngine } from '../status/engine';
import type { Store } from '../store/types';
import type { Views } from '../views';

export interface ApiContext {
  estate: Estate;
  engine: StatusEngine;
  store: Store;
  views: Views;
  maintenance: MaintenanceBook;
  fleet: FleetTracker | null;
  incidents: IncidentTracker;
  history: HistoryRecorder;
  now: () => number;
  log: Logger;
  /** Asks for a recompute soon (after a person changed something). */
  poke: () => void;
}

export type ErrorBody = { error: { code: string; message: string } };

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
