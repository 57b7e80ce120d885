// Messages between a probe worker and the server, over one WebSocket at /workers.
// The worker authenticates with `Authorization: Bearer <token>` on the upgrade request.
import type { CheckAssignment, ProbeOutcome } from './types';

/**
 * 2: results carry no `location` (the server takes it from the connection's `hello`), may
 * carry `impaired`, and `stats` carries the worker's view of its own health (`self`).
 */
export const WORKER_PROTOCOL_VERSION = 2;

/** A result as a worker sends it: no location (the server takes the authenticated connection's). */
// Spelled out rather than Omit<CheckResult, 'location'>: Omit flattens the ok/failed union.
export type WorkerResult = ProbeOutcome & { checkId: string; at: number; impaired?: string };

/**
 * A worker watching itself, sent with every `stats` (every second). A worker whose own view
 * is impaired cannot judge its targets: the server counts its failures as no evidence.
 */
export interface ObserverHealth {
  /** The scheduler's lag now (ms): how far behind its checks start. */
  lagMs: number;
  /** Event-loop delay p99 over the last window (ms), from perf_hooks.monitorEventLoopDelay. */
  eventLoopDelayMs: number;
  /** Longest gap in the worker's own event loop over the last window (ms): a pause, a SIGSTOP, a starved CPU. */
  stalledMs: number;
  /** The worker's canary: a target that must always answer (a listener it runs on loopback). */
  canary: { ok: boolean; latencyMs: number; detail: string } | null;
  /** Share of the checks finished in the window that timed out, 0..1. */
  timeoutShare: number;
  /** Plain words why the worker cannot judge now (e.g. `stalled for 2.1 s`), or null when healthy. */
  impaired: string | null;
}

export type ServerToWorker =
  /** The full set of checks this worker must run now; replaces any earlier assignment. */
  | { type: 'assign'; checks: CheckAssignment[] };

export type WorkerToServer =
  | { type: 'hello'; protocol: number; location: string; pid: number }
  /** Results are batched (flushed at least every 250 ms, or every 500 results). */
  | { type: 'results'; results: WorkerResult[] }
  /** The scheduler's and the worker's own health, sent every second. */
  | { type: 'stats'; lagMs: number; running: number; checks: number; self: ObserverHealth };
