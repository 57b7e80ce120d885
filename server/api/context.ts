// What the API routes are given: the running parts of one Pulse, passed in (never reached
// for through a global), so a test builds the same routes over a temporary store.
import type { Context } from 'hono';
import type { AppEnv, Guard, Target } from '../auth/middleware';
import type { Permission } from '../auth/permissions';
import type { AccountStore } from '../auth/types';
import type { Estate } from '../config/estate';
import type { FleetTracker } from '../fleet';
import type { HistoryRecorder } from '../history/recorder';
import type { IncidentTracker } from '../incidents';
import type { Logger } from '../log';
import type { MaintenanceBook } from '../maintenance';
import type { StatusEngine } from '../status/engine';
import type { Store } from '../store/types';
import type { Views } from '../views';
import type { BackupService } from '../backup/service';

export interface ApiContext {
  estate: Estate;
  engine: StatusEngine;
  store: Store;
  views: Views;
  maintenance: MaintenanceBook;
  fleet: FleetTracker | null;
  incidents: IncidentTracker;
  history: HistoryRecorder;
  backup: BackupService;
  now: () => number;
  log: Logger;
  /** Asks for a recompute soon (after a person changed something). */
  poke: () => void;
  accounts: AccountStore;
  /** The declared permission of a route (see auth/permissions.ts). */
  guard: (permission: Permission, target?: (c: Context<AppEnv>) => Target | Promise<Target>) => Guard;
  /** Whether the caller may see a practice. */
  sees: (c: Context<AppEnv>) => (ods: string) => boolean;
  /**
   * The caller's network address, for throttling and the audit log: the peer's own, or what a
   * configured reverse proxy (PULSE_TRUSTED_PROXIES) says it saw — never a header from anyone else.
   */
  clientAddress: (c: Context) => string;
  /** Who the caller is, for audit entries and `by` fields. */
  actor: (c: Context<AppEnv>) => string;
}

export type ErrorBody = { error: { code: string; message: string } };

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
