// Software correlation: given what the silent workstation agents last reported running and
// what the healthy ones did, names the (name, version) over-represented among the silent —
// "94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)".
// Pure: no clock, no state, no I/O. Never guesses on thin evidence: too few agents, a
// share too small, or a gap that noise explains gives null, not a suspect.

/** What one agent last reported running: name → version, e.g. `{ "falcon-sensor": "7.16.18605" }`. */
export type SoftwareMap = Readonly<Record<string, string>>;

export interface SoftwareCorrelation {
  /** The software name, e.g. `falcon-sensor`. */
  key: string;
  /** The version the silent agents share, e.g. `7.16.18605`. */
  value: string;
  /** Share of the silent agents (with a software report) that reported this value, 0..1. */
  silentShare: number;
  /** Share of the healthy agents (with a software report) that reported it, 0..1. */
  healthyShare: number;
  /** How many silent and healthy agents with a software report were compared. */
  silent: number;
  healthy: number;
  /** Plain words for the incident, the wall and the audit export. */
  text: string;
}

export interface CorrelationOptions {
  /** Fewest silent agents (with a software report) worth comparing; default 5. */
  minSilent?: number;
  /** Fewest healthy agents to compare against; default 5 (with none, nothing is "over-represented"). */
  minHealthy?: number;
  /** The value must be on at least this share of the silent agents; default 0.5. */
  minSilentShare?: number;
  /** … and this much more common among the silent than the healthy; default 0.3. */
  minGap?: number;
  /**
   * … and the gap must not be noise: a two-proportion z-score at least this; default 3
   * (about 1 in 700 by chance for one value; a dozen values compared keep it rare).
   */
  minZ?: number;
}

export const CORRELATION_DEFAULTS: Required<CorrelationOptions> = {
  minSilent: 5,
  minHealthy: 5,
  minSilentShare: 0.5,
  minGap: 0.3,
  minZ: 3,
};

/**
 * The value most over-represented among the silent agents, or null when none stands out.
 * - Only agents that reported software are passed in (an agent that never did is no evidence).
 * - A candidate must clear every threshold in `opts`; among those, the largest gap
 *   (silentShare − healthyShare) wins, then the larger silent share, then name and version
 *   in alphabetical order, so the answer is the same for the same input.
 * - A value every agent runs (the same OS build everywhere) has no gap and is never named.
 */
export function correlateSoftware(
  silent: readonly SoftwareMap[],
  healthy: readonly SoftwareMap[],
  opts: CorrelationOptions = {},
): SoftwareCorrelation | null {
  const o = { ...CORRELATION_DEFAULTS, ...opts };
  if (silent.length < o.minSilent || healthy.length < o.minHealthy) return null;

  const silentCounts = countPairs(silent);
  const healthyCounts = countPairs(healthy);
  let best: { key: string; value: string; s: number; h: number; gap: number } | null = null;
  for (const [pair, count] of silentCounts) {
    const s = count / silent.length;
    if (s < o.minSilentShare) continue;
    const h = (healthyCounts.get(pair) ?? 0) / healthy.length;
    const gap = s - h;
    if (gap < o.minGap - 1e-9) continue;
    if (zScore(count, silent.length, healthyCounts.get(pair) ?? 0, healthy.length) < o.minZ) continue;
    const [key, value] = splitPair(pair);
    if (best === null || better({ key, value, s, gap }, best)) best = { key, value, s, h, gap };
  }
  if (best === null) return null;
  return {
    key: best.key,
    value: best.value,
    silentShare: best.s,
    healthyShare: best.h,
    silent: silent.length,
    healthy: healthy.length,
    text: `${percent(best.s)} of silent workstations last reported ${best.key} ${best.value} (${percent(best.h)} of healthy ones)`,
  };
}

// Keys cannot contain a NUL (the heartbeat schema allows letters, digits and . _ - : only).
const SEP = '\u0000';

function countPairs(maps: readonly SoftwareMap[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const map of maps) {
    for (const key of Object.keys(map)) {
      const pair = key + SEP + map[key]!;
      counts.set(pair, (counts.get(pair) ?? 0) + 1);
    }
  }
  return counts;
}

function splitPair(pair: string): [string, string] {
  const at = pair.indexOf(SEP);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

function better(a: { key: string; value: string; s: number; gap: number }, b: { key: string; value: string; s: number; gap: number }): boolean {
  if (Math.abs(a.gap - b.gap) > 1e-9) return a.gap > b.gap;
  if (Math.abs(a.s - b.s) > 1e-9) return a.s > b.s;
  if (a.key !== b.key) return a.key < b.key;
  return a.value < b.value;
}

/** Pooled two-proportion z-score of x1/n1 against x2/n2 (Infinity when both groups are uniform and differ). */
function zScore(x1: number, n1: number, x2: number, n2: number): number {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return p1 > p2 ? Infinity : 0;
  return (p1 - p2) / se;
}

/** Whole per cent; never "100%" unless all and never "0%" unless none. */
function percent(share: number): string {
  let p = Math.round(share * 100);
  if (p === 100 && share < 1) p = 99;
  if (p === 0 && share > 0) p = 1;
  return `${p}%`;
}
