// Messages between a probe worker and the server, over one WebSocket at /workers.
// The worker authenticates with `Authorization: Bearer <token>` on the upgrade request.
import type { CheckAssignment, CheckResult } from './types';

export const WORKER_PROTOCOL_VERSION = 1;

export type ServerToWorker =
  /** The full set of checks this worker must run now; replaces any earlier assignment. */
  | { type: 'assign'; checks: CheckAssignment[] };

export type WorkerToServer =
  | { type: 'hello'; protocol: number; location: string; pid: number }
  /** Results are batched (flushed at least every 250 ms, or every 500 results). */
  | { type: 'results'; results: CheckResult[] }
  /** The scheduler's own health, sent every few seconds. */
  | { type: 'stats'; lagMs: number; running: number; checks: number };
