// The one shape every check kind has: a target and its options in, an outcome out.
// A probe never knows about practices, services, the scheduler or the server;
// it is handed an abort signal by its caller and must honour it.
import type { z } from 'zod';

/** Why a check failed. Bounded set: used as a metric label and shown to operators. */
export const ERROR_CLASSES = [
  'timeout',
  'dns',
  'refused',
  'reset',
  'tls',
  'status',
  'assertion',
  'too_large',
  'error',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/**
 * What one run of a check found. `detail` says what was expected and what came back.
 * A run that worked but not well enough (too slow, certificate close to expiry) is
 * `ok: true` with `degraded` saying why. `certExpiresAt` (epoch ms): the server
 * certificate's notAfter, when the run saw one (tls, and http to https:// targets).
 */
export type ProbeOutcome =
  | { ok: true; latencyMs: number; detail?: string; degraded?: string; certExpiresAt?: number }
  | { ok: false; latencyMs: number; error: ErrorClass; detail: string; certExpiresAt?: number };

export interface ProbeContext {
  /** Aborted by the scheduler when the check's timeout passes. */
  signal: AbortSignal;
  timeoutMs: number;
}

/** A check kind: its options schema (validated once, in the config loader) and its run function. */
export interface CheckKind<Options> {
  kind: string;
  /** Extra fields a check of this kind may carry in the estate file, beside id/kind/target/interval/timeout. */
  options: z.ZodType<Options>;
  /** Validates the target string; returns an error message or null. */
  validateTarget(target: string): string | null;
  run(target: string, options: Options, ctx: ProbeContext): Promise<ProbeOutcome>;
}

/** A check as handed to a worker: everything needed to run it, nothing about who owns it. */
export interface CheckAssignment {
  id: string;
  kind: string;
  target: string;
  intervalMs: number;
  timeoutMs: number;
  options: Record<string, unknown>;
}

/**
 * One result. `at` is epoch milliseconds when the run started as the worker saw it; the
 * server replaces it with its own receive time before anything is judged. `location` is
 * set by the server from the authenticated connection. `impaired`: the observer could not
 * judge this run (it failed or was slow while the observer itself was stalled, overloaded
 * or its canary failing): plain words why. Such a result is no evidence about the target.
 */
export type CheckResult = ProbeOutcome & {
  checkId: string;
  at: number;
  location: string;
  impaired?: string;
};
