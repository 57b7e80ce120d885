// The fleet decision: a practice's workstation fleet status from when each agent was
// last heard, the clock and the practice's thresholds. Pure: no clock, no state, no I/O,
// so every boundary is tested without sleeping. Silence counts only over time Pulse was
// listening: what it did not witness makes the fleet unknown, never down.
import { spokenDuration } from '../self/duration';
import type { FleetRules } from './config';

/** How much of a wall-clock stretch Pulse was listening (the server observer); absent: all of it. */
export interface Listening {
  listenedMs(from: number, to: number): number;
}

/** One agent at `now`, by when it last beat. */
export type AgentState =
  /** Silent for forgetAfter or longer: no longer part of the fleet. */
  | 'forgotten'
  /** Not heard for more than silentAfter intervals of time Pulse was listening. */
  | 'silent'
  /** Silent by the wall clock, but not over time Pulse was listening: its silence was not witnessed. */
  | 'unwitnessed'
  | 'reporting';

export function agentState(lastBeat: number, now: number, rules: FleetRules, listening: Listening | null = null): AgentState {
  const age = now - lastBeat;
  if (age >= rules.forgetAfterMs) return 'forgotten';
  const silentMs = rules.silentAfter * rules.intervalMs;
  if (age <= silentMs) return 'reporting';
  if (listening === null || listening.listenedMs(lastBeat, now) > silentMs) return 'silent';
  return 'unwitnessed';
}

export type FleetLevel = 'up' | 'degraded' | 'down' | 'unknown';

export interface FleetStatus {
  status: FleetLevel;
  /** Size of the fleet as counted: agents heard within forgetAfter, or expectedAgents if larger. */
  agents: number;
  /** Of those, agents not heard for more than silentAfter intervals, plus expected agents never heard. */
  silent: number;
  expected: number | null;
  /** silent / agents; 0 when there are no agents. */
  shareSilent: number;
  /** Plain words for operators, e.g. `14 of 20 workstations silent (70%), down at 50%`. */
  detail: string;
  /** Agents silent by the wall clock whose silence Pulse did not witness; present only when some are. */
  unwitnessed?: number;
  /**
   * Present when the fleet is unknown because Pulse was not listening and counting the
   * unwitnessed agents as silent would have made it worse: plain words, shown verbatim.
   */
  impaired?: string;
}

/**
 * - An agent is **silent** when more than `silentAfter × interval` has passed since its
 *   last beat (exactly `silentAfter` intervals is still on time: the beat is just due).
 * - An agent silent for `forgetAfter` or longer is **forgotten**: no longer part of the
 *   fleet, so a decommissioned PC does not keep its practice degraded for ever.
 * - With `expectedAgents`, agents never heard (or forgotten) make up the difference and
 *   count as silent: a fleet that never came back after an update is not "all fine".
 *   Only once tracking has run long enough for them to have beaten (`trackingSince`
 *   more than `silentAfter × interval` ago): until then they are simply not counted, so
 *   a restart of Pulse is not read as every practice's fleet going silent.
 * - Share silent ≥ downAt → down; ≥ degradedAt → degraded; otherwise up.
 * - No agent counted at all → unknown (never up on no data).
 * - With `listening` (the server observer), silence and the warm-up are measured only over
 *   time Pulse was listening. An agent silent by the wall clock but not by listened time is
 *   **unwitnessed**: not counted as silent. If counting the unwitnessed as silent would make
 *   the fleet degraded or down (worse than it is without them), the fleet is **unknown**,
 *   `impaired` saying `Pulse was not listening for 40 s: workstation silence not witnessed`.
 *   It recovers on its own: each agent either beats again or stays quiet long enough while
 *   Pulse listens to count as silent.
 */
export function fleetStatus(
  lastSeen: ArrayLike<number>,
  now: number,
  rules: FleetRules,
  trackingSince: number = Number.NEGATIVE_INFINITY,
  listening: Listening | null = null,
): FleetStatus {
  const silentMs = rules.silentAfter * rules.intervalMs;
  let known = 0;
  let silentKnown = 0;
  let unwitnessed = 0;
  let earliestUnwitnessed = Infinity;
  for (let i = 0; i < lastSeen.length; i++) {
    const at = lastSeen[i]!;
    const state = agentState(at, now, rules, listening);
    if (state === 'forgotten') continue;
    known++;
    if (state === 'silent') silentKnown++;
    if (state === 'unwitnessed') {
      unwitnessed++;
      earliestUnwitnessed = Math.min(earliestUnwitnessed, at);
    }
  }
  const expected = rules.expectedAgents;
  const warmingUp = trackedFor(trackingSince, now, listening) <= silentMs;
  const neverHeard = expected !== null && !warmingUp ? Math.max(0, expected - known) : 0;
  const agents = known + neverHeard;
  const silent = silentKnown + neverHeard;

  if (agents === 0) {
    const detail =
      lastSeen.length > 0
        ? `no workstation has reported in the last ${plainDuration(rules.forgetAfterMs)}`
        : `no workstation has reported yet${expected !== null ? ` (${expected} expected)` : ''}`;
    return { status: 'unknown', agents: 0, silent: 0, expected, shareSilent: 0, detail };
  }

  const shareSilent = silent / agents;
  const status = level(shareSilent, rules);
  let notListening = '';
  if (unwitnessed > 0) {
    const missedMs = now - earliestUnwitnessed - (listening?.listenedMs(earliestUnwitnessed, now) ?? 0);
    notListening = `Pulse was not listening for ${spokenDuration(missedMs)}`;
    if (RANK[level((silent + unwitnessed) / agents, rules)] > RANK[status]) {
      const impaired = `${notListening}: workstation silence not witnessed`;
      return { status: 'unknown', agents, silent, expected, shareSilent, detail: impaired, unwitnessed, impaired };
    }
  }
  const reporting = agents - silent - unwitnessed;
  let detail =
    silent === 0 && unwitnessed === 0
      ? `all ${agents} workstation${agents === 1 ? '' : 's'} reporting`
      : silent === 0
        ? `${reporting} of ${agents} workstations reporting`
        : `${silent} of ${agents} workstation${agents === 1 ? '' : 's'} silent (${percent(silent, agents)})`;
  if (status === 'down') detail += `, down at ${percent(rules.downAt)}`;
  if (status === 'degraded') detail += `, degraded at ${percent(rules.degradedAt)}`;
  if (unwitnessed > 0) detail += `; silence of ${unwitnessed} not witnessed (${notListening})`;
  if (neverHeard > 0) detail += `; ${neverHeard} of ${expected} expected never reported`;
  if (warmingUp && expected !== null && known < expected) detail += `; ${known} of ${expected} expected reported so far`;
  return { status, agents, silent, expected, shareSilent, detail, ...(unwitnessed > 0 ? { unwitnessed } : {}) };
}

const RANK: Record<'up' | 'degraded' | 'down', number> = { up: 0, degraded: 1, down: 2 };

function level(shareSilent: number, rules: FleetRules): 'up' | 'degraded' | 'down' {
  return shareSilent >= rules.downAt ? 'down' : shareSilent >= rules.degradedAt ? 'degraded' : 'up';
}

/** How long tracking has run at `now`, in listened time; Infinity when it started before anything (-Infinity). */
function trackedFor(since: number, now: number, listening: Listening | null): number {
  if (since === Number.NEGATIVE_INFINITY) return Infinity;
  if (!(now > since)) return 0;
  return listening ? listening.listenedMs(since, now) : now - since;
}

/**
 * `70%`, `33.3%`. Rounded down, so a share below a threshold never reads as the threshold
 * itself (199 of 400 is 49.7%, not "50%" next to "down at 50%").
 */
function percent(numerator: number, denominator = 1): string {
  const permille = Math.floor((numerator * 1000) / denominator + 1e-9);
  return permille % 10 === 0 ? `${permille / 10}%` : `${(permille / 10).toFixed(1)}%`;
}

function plainDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms % size === 0) return `${ms / size} ${name}${ms / size === 1 ? '' : 's'}`;
  }
  return `${ms} ms`;
}
