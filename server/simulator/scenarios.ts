// Named outage scenarios modelled on real incidents (DOMAIN.md "Outages to simulate"):
// what each one fails and for how long by default. Pure: a scenario only lists faults;
// the simulator applies them and ends them on its clock. Never imported by production code.
import { seededRandom, shuffled, type PracticeSpec } from './estate';
import { BAD_CHANNEL_FILE, BAD_CHANNEL_FILE_HEALTHY_SHARE } from './software';
import type { Fault } from './types';

export interface ScenarioFault {
  target: string;
  fault: Fault;
}

/** A practice whose workstation agents a scenario silences: `share` of them, seeded per practice. */
export interface ScenarioSilence {
  ods: string;
  share: number;
}

export interface ScenarioEstate {
  practices: readonly PracticeSpec[];
  seed: number;
}

export interface Scenario {
  name: string;
  description: string;
  defaultDurationMs: number;
  faults(estate: ScenarioEstate): ScenarioFault[];
  /** Workstation agents it silences (only agents that run are affected). */
  silences?(estate: ScenarioEstate): ScenarioSilence[];
  /**
   * Workstation agents that run the software this scenario's fault lives in, whether or not
   * it plays: the same agents (by share, seeded per practice) as `silences`. Their heartbeats
   * report it from the start (software.ts), so Pulse can find what the silent ones share.
   */
  exposed?(estate: ScenarioEstate): ScenarioSilence[];
}

const MINUTE = 60_000;

/** Share of practices hit by `bad-endpoint-update` (July 2024 scale). */
export const BAD_UPDATE_SHARE = 0.7;
/** Share of each hit practice's workstation agents that go silent in `bad-endpoint-update`. */
export const BAD_UPDATE_SILENT_AGENTS = 0.7;
/** How slowly EMIS Web answers in `emis-web-partial`. */
export const PARTIAL_SLOW_MS = 1_500;

/** The practices a bad endpoint update hits: the same ones for the same seed. */
function badUpdateHit({ practices, seed }: ScenarioEstate): PracticeSpec[] {
  const random = seededRandom(seed ^ 0x5eed_0719);
  return shuffled(random, practices).slice(0, Math.round(practices.length * BAD_UPDATE_SHARE));
}

export const scenarios: readonly Scenario[] = [
  {
    name: 'emis-web-outage',
    description: 'EMIS Web unreachable (listener closed, connections refused), then back.',
    defaultDurationMs: 3 * MINUTE,
    faults: () => [{ target: 'service:emis-web', fault: { mode: 'down' } }],
  },
  {
    name: 'emis-web-partial',
    description:
      `EMIS Web's bad release (May 2023): up, but answering only after ${PARTIAL_SLOW_MS / 1000} s ` +
      '(only 1-2 users per practice could log in); a partial outage, degraded rather than down.',
    defaultDurationMs: 3 * MINUTE,
    faults: () => [{ target: 'service:emis-web', fault: { mode: 'slow', ms: PARTIAL_SLOW_MS } }],
  },
  {
    name: 'bad-endpoint-update',
    description:
      `A bad endpoint update (July 2024): ${BAD_UPDATE_SHARE * 100}% of practices hit; their gateways go silent ` +
      `(half hang, half reset) and ${BAD_UPDATE_SILENT_AGENTS * 100}% of their workstation agents stop beating: ` +
      `the ones that took channel file ${BAD_CHANNEL_FILE} (as did ${BAD_CHANNEL_FILE_HEALTHY_SHARE * 100}% of the others).`,
    defaultDurationMs: 5 * MINUTE,
    faults: (estate) =>
      badUpdateHit(estate).map((p, i) => ({
        target: `practice:${p.ods}`,
        fault: i % 2 === 0 ? { mode: 'hang' } : { mode: 'down' },
      })),
    silences: (estate) => badUpdateHit(estate).map((p) => ({ ods: p.ods, share: BAD_UPDATE_SILENT_AGENTS })),
    exposed: (estate) => badUpdateHit(estate).map((p) => ({ ods: p.ods, share: BAD_UPDATE_SILENT_AGENTS })),
  },
  {
    name: 'national-service-slow',
    description: 'Spine (PDS/SDS) answers, but only after 5 seconds.',
    defaultDurationMs: 3 * MINUTE,
    faults: () => [{ target: 'service:spine', fault: { mode: 'slow', ms: 5_000 } }],
  },
  {
    name: 'systmone-contingency',
    description: 'TPP SystmOne in contingency mode: every request gets 503.',
    defaultDurationMs: 5 * MINUTE,
    faults: () => [{ target: 'service:systmone', fault: { mode: 'error', status: 503 } }],
  },
];

export function findScenario(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name);
}
