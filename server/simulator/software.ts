// What each simulated workstation agent says it runs: a small `software` map sent with every
// heartbeat (endpoint sensor, its channel file, the OS build), fixed per agent and
// deterministic from the seed. The agents a bad endpoint update silences are the ones that
// took the bad channel file; a few healthy agents have it too (they loaded it and lived), so
// Pulse has a real correlation to find, not a perfect one. Pure. Never imported by
// production code.
import { seededRandom } from './estate';

export type Software = Readonly<Record<string, string>>;

/** The channel file the July 2024 style update shipped: every agent it silences took it. */
export const BAD_CHANNEL_FILE = 'C-00000291';
/** The channel file before the update. */
export const GOOD_CHANNEL_FILE = 'C-00000290';
/** Share of the agents the update does not silence that report the bad channel file anyway. */
export const BAD_CHANNEL_FILE_HEALTHY_SHARE = 0.08;

/** Sensor versions and Windows builds in the estate, with how common each is (weights sum to 1). */
const SENSORS: readonly (readonly [string, number])[] = [
  ['7.16.18605', 0.55],
  ['7.15.18513', 0.35],
  ['7.14.18408', 0.1],
];
const OS_BUILDS: readonly (readonly [string, number])[] = [
  ['10.0.19045.4651', 0.6],
  ['10.0.22631.3880', 0.3],
  ['10.0.19044.4529', 0.1],
];

function pick(random: () => number, choices: readonly (readonly [string, number])[]): string {
  let r = random();
  for (const [value, weight] of choices) {
    if (r < weight) return value;
    r -= weight;
  }
  return choices[choices.length - 1]![0];
}

/**
 * One agent's software. `exposed`: it took the bad channel file and the bad update silences
 * it. `agentSeed` is the agent's own seed (from the estate seed, practice and agent number),
 * so the same agent always reports the same versions.
 */
export function agentSoftware(agentSeed: number, exposed: boolean): Software {
  const random = seededRandom(agentSeed >>> 0);
  const sensor = pick(random, SENSORS);
  const os = pick(random, OS_BUILDS);
  const alsoBad = random() < BAD_CHANNEL_FILE_HEALTHY_SHARE;
  return {
    'falcon-sensor': sensor,
    'channel-file': exposed || alsoBad ? BAD_CHANNEL_FILE : GOOD_CHANNEL_FILE,
    os,
  };
}
