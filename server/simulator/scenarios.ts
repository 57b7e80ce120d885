// Named outage scenarios modelled on real incidents (DOMAIN.md "Outages to simulate"):
// what each one fails and for how long by default. Pure: a scenario only lists faults;
// the simulator applies them and ends them on its clock. Never imported by production code.
import { seededRandom, shuffled, type PracticeSpec } from './estate';
import type { Fault } from './types';

export interface ScenarioFault {
  target: string;
  fault: Fault;
}

export interface Scenario {
  name: string;
  description: string;
  defaultDurationMs: number;
  faults(estate: { practices: readonly PracticeSpec[]; seed: number }): ScenarioFault[];
}

const MINUTE = 60_000;

/** Share of practices whose workstations go silent in `bad-endpoint-update` (July 2024 scale). */
export const BAD_UPDATE_SHARE = 0.7;

export const scenarios: readonly Scenario[] = [
  {
    name: 'emis-web-outage',
    description: 'EMIS Web unreachable (listener closed, connections refused), then back.',
    defaultDurationMs: 3 * MINUTE,
    faults: () => [{ target: 'service:emis-web', fault: { mode: 'down' } }],
  },
  {
    name: 'bad-endpoint-update',
    description: `A bad endpoint update: ${BAD_UPDATE_SHARE * 100}% of practice gateways go silent (half hang, half reset).`,
    defaultDurationMs: 5 * MINUTE,
    faults: ({ practices, seed }) => {
      const random = seededRandom(seed ^ 0x5eed_0719);
      const hit = shuffled(random, practices).slice(0, Math.round(practices.length * BAD_UPDATE_SHARE));
      return hit.map((p, i) => ({
        target: `practice:${p.ods}`,
        fault: i % 2 === 0 ? { mode: 'hang' } : { mode: 'down' },
      }));
    },
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
