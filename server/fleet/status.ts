// The fleet decision: a practice's workstation fleet status from when each agent was
// last heard, the clock and the practice's thresholds. Pure: no clock, no state, no I/O,
// so every boundary is tested without sleeping.
import type { FleetRules } from './config';

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
 */
export function fleetStatus(
  lastSeen: readonly number[],
  now: number,
  rules: FleetRules,
  trackingSince: number = Number.NEGATIVE_INFINITY,
): FleetStatus {
  const silentMs = rules.silentAfter * rules.intervalMs;
  let known = 0;
  let silentKnown = 0;
  for (const at of lastSeen) {
    const age = now - at;
    if (age >= rules.forgetAfterMs) continue;
    known++;
    if (age > silentMs) silentKnown++;
  }
  const expected = rules.expectedAgents;
  const warmingUp = now - trackingSince <= silentMs;
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
  const status: FleetLevel = shareSilent >= rules.downAt ? 'down' : shareSilent >= rules.degradedAt ? 'degraded' : 'up';
  let detail =
    silent === 0
      ? `all ${agents} workstation${agents === 1 ? '' : 's'} reporting`
      : `${silent} of ${agents} workstation${agents === 1 ? '' : 's'} silent (${percent(silent, agents)})`;
  if (status === 'down') detail += `, down at ${percent(rules.downAt)}`;
  if (status === 'degraded') detail += `, degraded at ${percent(rules.degradedAt)}`;
  if (neverHeard > 0) detail += `; ${neverHeard} of ${expected} expected never reported`;
  if (warmingUp && expected !== null && known < expected) detail += `; ${known} of ${expected} expected reported so far`;
  return { status, agents, silent, expected, shareSilent, detail };
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
