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
  /**
   * Set while the latest results came from an observer that could not judge them (plain
   * words why, shown verbatim); cleared by the next judged result. Absent in snapshots
   * taken before it existed: read as null.
   */
  impaired?: string | null;
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
  impaired: null,
};

/**
 * How far apart two result times may be before the later one is not believed. Every time
 * the engine sees is the server's receive time (the gateway stamps it), so a state dated
 * further ahead than this came from elsewhere: a snapshot written when workers stamped
 * their own results, or this server's clock stepping back. Such a state is no evidence.
 */
export const MAX_CLOCK_SKEW_MS = 30_000;

/**
 * A result that is no evidence about its target: the observer was impaired and the run
 * failed or was slow. A clean success is evidence even from an impaired observer (the
 * target answered in time despite it).
 */
export function isUnjudged(result: CheckResult): boolean {
  return result.impaired !== undefined && (!result.ok || result.degraded !== undefined);
}

/**
 * Folds one result into a check's state. A check is confirmed down only after
 * `failuresToDown` consecutive failures, and back up after `successesToUp` consecutive
 * successes; in between it is shown `suspected` or `recovering`, so one blip is never an
 * outage. A first success after no data confirms up at once: there is no outage to recover
 * from. Results older than the latest seen are ignored (delivered out of order), unless the
 * latest is dated more than MAX_CLOCK_SKEW_MS after them: that state is not believed and the
 * new result supersedes it (a future-dated result must not pin a check).
 *
 * A result its observer could not judge (`isUnjudged`) is no evidence: the confirmed state,
 * the consecutive counts and the flapping record stay as they were, and the check shows
 * `unknown` with the result's `impaired` text until a judged result arrives.
 */
export function applyResult(state: CheckState, result: CheckResult, rules: ConfirmRules): CheckState {
  if (state.lastAt !== null && result.at < state.lastAt && state.lastAt - result.at <= MAX_CLOCK_SKEW_MS) return state;
  if (isUnjudged(result)) return { ...state, lastAt: result.at, impaired: result.impaired! };
  const flapping = flappingRule(rules);
  let flips = state.flips;
  // (The last *judged* result: an impaired run in between does not count as a flip.)
  if (state.lastAt !== null && state.lastOk !== result.ok && flapping) {
    flips = [...flips, result.at].slice(-flapping.maxChanges);
  }
  // Every field written out, in INITIAL_CHECK_STATE's order: this runs once per result (50,000
  // checks every 30 s), and a literal that spreads another object first is ~100× slower in V8.
  if (result.ok) {
    const successes = state.successes + 1;
    return {
      flips,
      flapping,
      confirmed: state.confirmed === 'down' && successes < rules.successesToUp ? 'down' : 'up',
      failures: 0,
      successes,
      lastAt: result.at,
      lastOk: true,
      degraded: result.degraded ?? null,
      detail: result.degraded ?? result.detail ?? `ok in ${Math.round(result.latencyMs)} ms`,
      impaired: null,
    };
  }
  const failures = state.failures + 1;
  return {
    flips,
    flapping,
    confirmed: failures >= rules.failuresToDown ? 'down' : state.confirmed,
    failures,
    successes: 0,
    lastAt: result.at,
    lastOk: false,
    degraded: null,
    detail: result.detail,
    impaired: null,
  };
}

/** One flapping rule object per set of rules, shared by every state folded under them. */
const FLAPPING_RULES = new WeakMap<ConfirmRules, CheckState['flapping']>();
function flappingRule(rules: ConfirmRules): CheckState['flapping'] {
  let rule = FLAPPING_RULES.get(rules);
  if (rule === undefined) {
    rule = rules.flapping ? Object.freeze({ ...rules.flapping, steadyAfter: 2 * rules.failuresToDown }) : null;
    FLAPPING_RULES.set(rules, rule);
  }
  return rule;
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
  /** Unknown because the observer could not judge (the detail says why): not a vote. */
  impaired?: true;
}

/**
 * The check's status from one location as of `now`; `unknown` when its data is stale, is
 * dated ahead of now, or came from an impaired observer.
 */
export function checkStatusAt(state: CheckState, now: number, intervalMs: number, timeoutMs: number): Seen {
  if (state.lastAt === null) return { status: 'unknown', detail: state.detail };
  const age = now - state.lastAt;
  if (age > staleAfterMs(intervalMs, timeoutMs)) {
    return { status: 'unknown', detail: `no result for ${Math.round(age / 1000)} s` };
  }
  if (age < -MAX_CLOCK_SKEW_MS) return { status: 'unknown', detail: "latest result is dated after this server's clock: no evidence" };
  if (state.impaired) return { status: 'unknown', detail: state.impaired, impaired: true };
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

/**
 * The earliest time after `now` at which checkStatusAt's *status* for this state could change
 * with no new result: the data going stale, a future-dated result coming within the skew, or
 * the oldest flip leaving the flapping window. Infinity when only a result can change it.
 * The engine re-examines a check at this time instead of every check on every tick; being
 * early is harmless (it looks and reschedules), being late would hide a stale check.
 */
export function nextTimeChange(state: CheckState, now: number, intervalMs: number, timeoutMs: number): number {
  if (state.lastAt === null) return Infinity;
  let next = Infinity;
  const consider = (t: number) => {
    if (t > now && t < next) next = t;
  };
  // Unknown once age > staleAfter: the first whole millisecond past it (times are epoch ms).
  consider(Math.floor(state.lastAt + staleAfterMs(intervalMs, timeoutMs)) + 1);
  // Dated ahead of now: believed again once age >= -MAX_CLOCK_SKEW_MS.
  consider(Math.ceil(state.lastAt - MAX_CLOCK_SKEW_MS));
  // Flapping ends when the oldest flip falls out of the window (flips[0] < now - windowMs).
  const f = state.flapping;
  if (f && state.flips.length >= f.maxChanges) consider(Math.floor(state.flips[0]! + f.windowMs) + 1);
  return next;
}

export interface LocationSeen extends Seen {
  location: string;
}

/**
 * One check's status from every probe location that reported it. Down only when `quorum`
 * fresh locations (or all of them, if fewer are fresh) see it down; failing from fewer
 * is `suspected`, so one location's blip or lost network is never an outage. A location
 * that cannot judge (impaired, stale) is not fresh: it does not vote. When none can, the
 * answer is unknown, saying why an impaired one could not.
 */
export function mergeLocations(seen: LocationSeen[], quorum: number): Seen {
  const plain = (s: LocationSeen): Seen => ({ status: s.status, detail: s.detail });
  const fresh = seen.filter((s) => s.status !== 'unknown');
  if (fresh.length === 0) {
    const first = seen.find((s) => s.impaired) ?? seen[0];
    return first ? plain(first) : { status: 'unknown', detail: 'no result yet' };
  }
  if (seen.length === 1) return plain(seen[0]!);
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
  return plain(fresh[0]!);
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
