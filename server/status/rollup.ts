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
  /** A check whose result flips between pass and fail `maxChanges` times within `windowMs` is flapping. */
  flapping?: { windowMs: number; maxChanges: number };
}

/** What the engine remembers of one check as seen from one probe location. */
export interface CheckState {
  /** Confirmed by consecutive results; what is shown also depends on the latest result. */
  confirmed: 'up' | 'down' | 'unknown';
  failures: number;
  successes: number;
  /** Start time of the latest result, epoch ms; null before the first. */
  lastAt: number | null;
  lastOk: boolean;
  /** Why the latest (passing) result was degraded, if it was. */
  degraded: string | null;
  detail: string;
  /** Times the result flipped between pass and fail, newest last, bounded. */
  flips: number[];
  /** The flapping rule in force, with the steady-failure count that overrides it. */
  flapping: { windowMs: number; maxChanges: number; steadyAfter: number } | null;
}

export const INITIAL_CHECK_STATE: CheckState = {
  flips: [],
  flapping: null,
  confirmed: 'unknown',
  failures: 0,
  successes: 0,
  lastAt: null,
  lastOk: false,
  degraded: null,
  detail: 'no result yet',
};

/**
 * Folds one result into a check's state. A check is confirmed down only after
 * `failuresToDown` consecutive failures, and back up after `successesToUp` consecutive
 * successes; in between it is shown `suspected` or `recovering`, so one blip is never an
 * outage. A first success after no data confirms up at once: there is no outage to recover
 * from. Results older than the latest seen are ignored (workers may deliver out of order).
 */
export function applyResult(state: CheckState, result: CheckResult, rules: ConfirmRules): CheckState {
  if (state.lastAt !== null && result.at < state.lastAt) return state;
  const flapping = rules.flapping ? { ...rules.flapping, steadyAfter: 2 * rules.failuresToDown } : null;
  let flips = state.flips;
  if (state.lastAt !== null && state.lastOk !== result.ok && flapping) {
    flips = [...flips, result.at].slice(-flapping.maxChanges);
  }
  const common = { flips, flapping };
  if (result.ok) {
    const successes = state.successes + 1;
    const confirmed = state.confirmed === 'down' && successes < rules.successesToUp ? 'down' : 'up';
    return {
      ...common,
      confirmed,
      failures: 0,
      successes,
      lastAt: result.at,
      lastOk: true,
      degraded: result.degraded ?? null,
      detail: result.degraded ?? result.detail ?? `ok in ${Math.round(result.latencyMs)} ms`,
    };
  }
  const failures = state.failures + 1;
  return {
    ...common,
    confirmed: failures >= rules.failuresToDown ? 'down' : state.confirmed,
    failures,
    successes: 0,
    lastAt: result.at,
    lastOk: false,
    degraded: null,
    detail: result.detail,
  };
}

/** A result is fresh for twice the interval plus the timeout; after that the check is unknown. */
export function staleAfterMs(intervalMs: number, timeoutMs: number): number {
  return 2 * intervalMs + timeoutMs;
}

/**
 * Flapping: pass/fail flips `maxChanges` times within the window. It is held at `degraded`
 * instead of toggling the screen, but only while it keeps flipping: a check failing
 * steadily for twice the confirmation count is a real outage and shows `down` at once.
 */
export function isFlapping(state: CheckState, now: number): boolean {
  const f = state.flapping;
  if (!f || state.flips.length < f.maxChanges) return false;
  if (!state.lastOk && state.failures >= f.steadyAfter) return false;
  return state.flips[0]! >= now - f.windowMs;
}

export interface Seen {
  status: StatusLevel;
  detail: string;
}

/** The check's status from one location as of `now`; `unknown` when its data is stale. */
export function checkStatusAt(state: CheckState, now: number, intervalMs: number, timeoutMs: number): Seen {
  if (state.lastAt === null) return { status: 'unknown', detail: state.detail };
  const age = now - state.lastAt;
  if (age > staleAfterMs(intervalMs, timeoutMs)) {
    return { status: 'unknown', detail: `no result for ${Math.round(age / 1000)} s` };
  }
  if (isFlapping(state, now)) {
    return {
      status: 'degraded',
      // A stable detail: a flapping check must not keep changing what the screen shows.
      detail: `flapping: ${state.flips.length} changes in ${Math.round(state.flapping!.windowMs / 60_000)} min`,
    };
  }
  if (state.confirmed === 'down') return { status: state.lastOk ? 'recovering' : 'down', detail: state.detail };
  if (!state.lastOk) return { status: 'suspected', detail: state.detail };
  return { status: state.degraded ? 'degraded' : 'up', detail: state.detail };
}

export interface LocationSeen extends Seen {
  location: string;
}

/**
 * One check's status from every probe location that reported it. Down only when `quorum`
 * fresh locations (or all of them, if fewer are fresh) see it down; failing from fewer
 * is `suspected`, so one location's blip or lost network is never an outage.
 */
export function mergeLocations(seen: LocationSeen[], quorum: number): Seen {
  if (seen.length === 1) return seen[0]!;
  const fresh = seen.filter((s) => s.status !== 'unknown');
  if (fresh.length === 0) return seen[0] ?? { status: 'unknown', detail: 'no result yet' };
  const need = Math.min(quorum, fresh.length);
  const of = (list: LocationSeen[]) =>
    `${list.length} of ${fresh.length} locations: ${list.map((s) => s.location).join(', ')}`;
  const down = fresh.filter((s) => s.status === 'down');
  if (down.length >= need) {
    return { status: 'down', detail: fresh.length > 1 ? `${down[0]!.detail} (down from ${of(down)})` : down[0]!.detail };
  }
  const failing = fresh.filter((s) => s.status === 'down' || s.status === 'suspected');
  if (failing.length > 0) {
    return { status: 'suspected', detail: `${failing[0]!.detail} (failing from ${of(failing)}; quorum ${need})` };
  }
  for (const level of ['recovering', 'degraded'] as const) {
    const hit = fresh.find((s) => s.status === level);
    if (hit) return { status: level, detail: hit.detail };
  }
  return fresh[0]!;
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
  // An unconfirmed failure upstream stays with the service: its thousands of dependants do
  // not flicker on one blip (a suspected service is shown on the service itself).
  if (dep.status === 'suspected') return 'up';
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
