// Pure status decisions: one check's confirmed state from its results, and a subject's
// status from its own checks and its dependencies. No clocks, no I/O: everything that
// varies is passed in, so these rules are tested exhaustively without sleeping.
import type { CheckResult } from '../../probes/types';
import { STATUS_LEVELS, type Cause, type StatusLevel } from './types';

const SEVERITY = new Map<StatusLevel, number>(STATUS_LEVELS.map((s, i) => [s, STATUS_LEVELS.length - i]));

/** Higher is worse: down > unknown > degraded > maintenance > up. */
export function severity(status: StatusLevel): number {
  return SEVERITY.get(status)!;
}

export interface ConfirmRules {
  failuresToDown: number;
  successesToUp: number;
}

/** What the engine remembers of one check between results. */
export interface CheckState {
  /** Confirmed status from results alone (staleness is applied on top, at read time). */
  confirmed: 'up' | 'down' | 'unknown';
  failures: number;
  successes: number;
  /** Start time of the latest result, epoch ms; null before the first. */
  lastAt: number | null;
  detail: string;
}

export const INITIAL_CHECK_STATE: CheckState = {
  confirmed: 'unknown',
  failures: 0,
  successes: 0,
  lastAt: null,
  detail: 'no result yet',
};

/**
 * Folds one result into a check's state. A check is confirmed down only after
 * `failuresToDown` consecutive failures, and up after `successesToUp` consecutive
 * successes; in between it keeps its previous confirmed status, so one blip is nothing.
 * Results older than the latest one seen are ignored (workers may deliver out of order).
 */
export function applyResult(state: CheckState, result: CheckResult, rules: ConfirmRules): CheckState {
  if (state.lastAt !== null && result.at < state.lastAt) return state;
  if (result.ok) {
    const successes = state.successes + 1;
    return {
      confirmed: successes >= rules.successesToUp ? 'up' : state.confirmed,
      failures: 0,
      successes,
      lastAt: result.at,
      detail: result.detail ?? `ok in ${Math.round(result.latencyMs)} ms`,
    };
  }
  const failures = state.failures + 1;
  return {
    confirmed: failures >= rules.failuresToDown ? 'down' : state.confirmed,
    failures,
    successes: 0,
    lastAt: result.at,
    detail: result.detail,
  };
}

/** A result is fresh for twice the interval plus the timeout; after that the check is unknown. */
export function staleAfterMs(intervalMs: number, timeoutMs: number): number {
  return 2 * intervalMs + timeoutMs;
}

/** The check's status as of `now`: its confirmed status, or `unknown` when its data is stale. */
export function checkStatusAt(
  state: CheckState,
  now: number,
  intervalMs: number,
  timeoutMs: number,
): { status: StatusLevel; detail: string } {
  if (state.lastAt === null) return { status: 'unknown', detail: state.detail };
  const age = now - state.lastAt;
  if (age > staleAfterMs(intervalMs, timeoutMs)) {
    return { status: 'unknown', detail: `no result for ${Math.round(age / 1000)} s` };
  }
  return { status: state.confirmed, detail: state.detail };
}

export interface OwnCheck {
  id: string;
  status: StatusLevel;
  detail: string;
}

export interface UpstreamInput {
  service: string;
  impact: 'critical' | 'degrading';
  status: StatusLevel;
  cause: Cause | null;
}

export interface Rolled {
  status: StatusLevel;
  cause: Cause | null;
}

/** What one dependency contributes to its dependant. */
function upstreamEffect(dep: UpstreamInput): StatusLevel {
  if (dep.impact === 'critical') return dep.status;
  // A degrading dependency can only degrade; its own unknown does not make us unknown.
  return dep.status === 'down' || dep.status === 'degraded' ? 'degraded' : 'up';
}

/**
 * A subject's status from its own checks and its dependencies: the worst contribution
 * wins. On equal severity an upstream cause is preferred over the subject's own checks
 * (the root cause is the service: one incident, not one per practice), and critical
 * dependencies over degrading ones. A subject with no checks and healthy dependencies is up.
 */
export function rollUp(own: OwnCheck[], deps: UpstreamInput[]): Rolled {
  let best: Rolled = { status: 'up', cause: null };
  let bestRank = -1;
  const consider = (status: StatusLevel, cause: Cause | null, tieRank: number) => {
    if (status === 'up') return;
    const rank = severity(status) * 10 + tieRank;
    if (rank > bestRank) {
      best = { status, cause };
      bestRank = rank;
    }
  };

  const failing = own.filter((c) => c.status !== 'up');
  if (failing.length > 0) {
    const worst = failing.reduce((a, c) => (severity(c.status) > severity(a) ? c.status : a), 'up' as StatusLevel);
    consider(worst, { kind: 'checks', checks: failing.filter((c) => c.status === worst) }, 1);
  }
  for (const dep of deps) {
    const effect = upstreamEffect(dep);
    consider(
      effect,
      { kind: 'upstream', service: dep.service, impact: dep.impact, status: dep.status, via: dep.cause },
      dep.impact === 'critical' ? 3 : 2,
    );
  }
  return best;
}

/** Every service named along an upstream cause chain, nearest first. */
export function upstreamServices(cause: Cause | null): string[] {
  const out: string[] = [];
  for (let c = cause; c && c.kind === 'upstream'; c = c.via) out.push(c.service);
  return out;
}
