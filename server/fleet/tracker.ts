// Remembers, per practice, when each workstation agent last beat and what software it last
// reported, and turns that into a fleet status on demand, judging silence only over time
// Pulse was listening. Holds the practices' agent tokens only as SHA-256 digests.
// Never reads the clock (times are passed in), never logs, never returns or throws a token:
// errors name the environment variable or file, not its content.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_AGENTS_PER_PRACTICE, type FleetConfig, type SecretRef } from './config';
import type { SoftwareMap } from './software';
import { agentState, fleetStatus, type FleetStatus, type Listening } from './status';

export { fleetStatus, type FleetLevel, type FleetStatus, type Listening } from './status';

/** Shorter practice tokens are refused at load: they are too easy to guess. */
export const MIN_TOKEN_LENGTH = 16;

/** Returns the secret a reference points to, or throws an Error saying what is wrong (never the value). */
export type ReadSecret = (ref: SecretRef) => string;

/** A fleet block that cannot be used: its token is missing, unreadable or too short. */
export class FleetConfigError extends Error {
  readonly code = 'FLEET_CONFIG_INVALID';
  constructor(
    readonly ods: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`practice ${ods}: ${field}: ${reason}`);
    this.name = 'FleetConfigError';
  }
}

/**
 * The real secret reader: environment variables and files (a trailing newline is dropped).
 * `env` and `readFile` are injectable so tests never touch the process environment or disk.
 */
export function secretReader(
  opts: { env?: Record<string, string | undefined>; readFile?: (path: string) => string } = {},
): ReadSecret {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  return (ref) => {
    if ('env' in ref) {
      const value = env[ref.env];
      if (value === undefined) throw new Error(`environment variable ${ref.env} is not set`);
      return value.trim();
    }
    let text: string;
    try {
      text = readFile(ref.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`cannot read ${ref.file} (${code === 'ENOENT' ? 'file not found' : (code ?? 'read failed')})`);
    }
    return text.trim();
  };
}

export type BeatResult =
  | { ok: true; newAgent: boolean }
  /** UNKNOWN_PRACTICE → 404; TOO_MANY_AGENTS → 429. `message` is safe to return to the agent. */
  | { ok: false; code: 'UNKNOWN_PRACTICE' | 'TOO_MANY_AGENTS'; message: string };

export interface FleetTrackerOptions {
  /** The practices that have a `fleet` block: ODS code → resolved config. */
  fleets: Iterable<readonly [string, FleetConfig]>;
  /**
   * When the heartbeat endpoint started accepting (epoch ms), if known at construction.
   * Otherwise call startTracking() once it is: until then expected agents never heard are
   * not counted (they have had no chance to beat).
   */
  startedAt?: number;
  /** How much of a stretch Pulse was listening (the server observer); absent: all of it. */
  listening?: Listening;
  readSecret?: ReadSecret;
  maxAgentsPerPractice?: number;
}

/** Across some practices: how many agents are counted and how many are silent (for "70% of agents silent"). */
export interface FleetSummary {
  agents: number;
  silent: number;
  /** silent / agents; 0 when there are none. */
  share: number;
}

/** Distinct software maps shared between agents (most report the same few); past this many, maps are kept unshared. */
const MAX_SHARED_SOFTWARE = 4096;

interface Fleet {
  config: FleetConfig;
  tokenDigest: Buffer;
  /** Agent id → last beat, epoch ms (server receive time). */
  agents: Map<string, number>;
  /** Agent id → the software it last reported (a beat without `software` keeps the last). */
  software: Map<string, SoftwareMap>;
}

export class FleetTracker {
  readonly #fleets = new Map<string, Fleet>();
  /** +Infinity until tracking starts: nothing has had a chance to beat. */
  #startedAt: number;
  readonly #listening: Listening | null;
  readonly #maxAgents: number;
  /** Canonical JSON → one frozen map, so 126,000 agents on a few versions hold a few objects. */
  readonly #sharedSoftware = new Map<string, SoftwareMap>();

  /** Resolves every practice's token now, so a missing one stops start-up with a clear message. */
  constructor(opts: FleetTrackerOptions) {
    const readSecret = opts.readSecret ?? secretReader();
    this.#startedAt = opts.startedAt ?? Number.POSITIVE_INFINITY;
    this.#listening = opts.listening ?? null;
    this.#maxAgents = opts.maxAgentsPerPractice ?? MAX_AGENTS_PER_PRACTICE;
    for (const [ods, config] of opts.fleets) {
      let token: string;
      try {
        token = readSecret(config.token);
      } catch (err) {
        throw new FleetConfigError(ods, 'fleet.token', err instanceof Error ? err.message : 'cannot read the token');
      }
      const where = 'env' in config.token ? `environment variable ${config.token.env}` : `file ${config.token.file}`;
      if (token.length === 0) throw new FleetConfigError(ods, 'fleet.token', `${where} is empty`);
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new FleetConfigError(ods, 'fleet.token', `the token in ${where} is shorter than ${MIN_TOKEN_LENGTH} characters`);
      }
      this.#fleets.set(ods, { config, tokenDigest: digest(token), agents: new Map(), software: new Map() });
    }
  }

  /**
   * The heartbeat endpoint is accepting from `now`: the warm-up for expected agents never
   * heard starts here, not when the tracker was built. The first call counts; later ones
   * (and a `startedAt` given at construction) are kept as they are.
   */
  startTracking(now: number): void {
    if (this.#startedAt === Number.POSITIVE_INFINITY) this.#startedAt = now;
  }

  /** True when the practice has a fleet block (the route answers 404 otherwise). */
  has(ods: string): boolean {
    return this.#fleets.has(ods);
  }

  practices(): string[] {
    return [...this.#fleets.keys()];
  }

  /** Constant-time comparison of SHA-256 digests; false for an unknown practice or no token. */
  verifyToken(ods: string, presented: string | null | undefined): boolean {
    const fleet = this.#fleets.get(ods);
    if (!fleet || !presented) return false;
    return timingSafeEqual(digest(presented), fleet.tokenDigest);
  }

  /**
   * Records a beat received at `at`, with the software the agent reports (validated at the
   * edge). A late-arriving older beat never moves an agent back in time; a beat without
   * `software` keeps what the agent last reported.
   */
  beat(ods: string, agent: string, at: number, software?: SoftwareMap): BeatResult {
    const fleet = this.#fleets.get(ods);
    if (!fleet) return { ok: false, code: 'UNKNOWN_PRACTICE', message: `practice ${ods} has no workstation fleet configured` };
    const previous = fleet.agents.get(agent);
    if (previous !== undefined) {
      fleet.agents.set(agent, Math.max(previous, at));
      if (software) fleet.software.set(agent, this.#share(software));
      return { ok: true, newAgent: false };
    }
    if (fleet.agents.size >= this.#maxAgents) forget(fleet, at);
    if (fleet.agents.size >= this.#maxAgents) {
      return {
        ok: false,
        code: 'TOO_MANY_AGENTS',
        message: `practice ${ods} already has ${this.#maxAgents} workstation agents; a new agent is refused until silent ones are forgotten`,
      };
    }
    fleet.agents.set(agent, at);
    if (software) fleet.software.set(agent, this.#share(software));
    return { ok: true, newAgent: true };
  }

  /**
   * What the practice's agents should send: its beat interval and how many agents to expect
   * (the configured count or those known now, whichever is more; at least 1). Null without a fleet.
   */
  expectedBeats(ods: string): { intervalMs: number; agents: number } | null {
    const fleet = this.#fleets.get(ods);
    if (!fleet) return null;
    return { intervalMs: fleet.config.intervalMs, agents: Math.max(1, fleet.config.expectedAgents ?? 0, fleet.agents.size) };
  }

  /** The software an agent last reported, if any. */
  softwareOfAgent(ods: string, agent: string): SoftwareMap | undefined {
    return this.#fleets.get(ods)?.software.get(agent);
  }

  /** The practice's fleet status at `now`; drops forgotten agents. Throws for a practice without a fleet. */
  evaluate(ods: string, now: number): FleetStatus {
    const fleet = this.#fleets.get(ods);
    if (!fleet) throw new RangeError(`practice ${ods} has no workstation fleet configured`);
    forget(fleet, now);
    return fleetStatus([...fleet.agents.values()], now, fleet.config, this.#startedAt, this.#listening);
  }

  evaluateAll(now: number): Map<string, FleetStatus> {
    const out = new Map<string, FleetStatus>();
    for (const ods of this.#fleets.keys()) out.set(ods, this.evaluate(ods, now));
    return out;
  }

  /**
   * The last-reported software of the silent and of the healthy (reporting) agents across
   * these practices, for correlateSoftware(). Agents that never reported software, and
   * those whose silence Pulse did not witness, are in neither list. Unknown practices are skipped.
   */
  softwareOf(odsList: Iterable<string>, now: number): { silent: SoftwareMap[]; healthy: SoftwareMap[] } {
    const silent: SoftwareMap[] = [];
    const healthy: SoftwareMap[] = [];
    for (const ods of odsList) {
      const fleet = this.#fleets.get(ods);
      if (!fleet) continue;
      for (const [agent, software] of fleet.software) {
        const at = fleet.agents.get(agent);
        if (at === undefined) continue;
        const state = agentState(at, now, fleet.config, this.#listening);
        if (state === 'silent') silent.push(software);
        else if (state === 'reporting') healthy.push(software);
      }
    }
    return { silent, healthy };
  }

  /** Agents counted and silent across these practices, as each fleet's status counts them. Unknown practices are skipped. */
  fleetSummary(odsList: Iterable<string>, now: number): FleetSummary {
    let agents = 0;
    let silent = 0;
    for (const ods of new Set(odsList)) {
      if (!this.#fleets.has(ods)) continue;
      const status = this.evaluate(ods, now);
      agents += status.agents;
      silent += status.silent;
    }
    return { agents, silent, share: agents > 0 ? silent / agents : 0 };
  }

  /** One shared frozen copy per distinct map, while there are few distinct ones. */
  #share(software: SoftwareMap): SoftwareMap {
    const keys = Object.keys(software).sort();
    const canonical = JSON.stringify(keys.map((k) => [k, software[k]]));
    const shared = this.#sharedSoftware.get(canonical);
    if (shared) return shared;
    const copy: SoftwareMap = Object.freeze(Object.fromEntries(keys.map((k) => [k, software[k]!])));
    if (this.#sharedSoftware.size < MAX_SHARED_SOFTWARE) this.#sharedSoftware.set(canonical, copy);
    return copy;
  }
}

/** Drops agents silent for forgetAfter or longer (the same rule fleetStatus applies). */
function forget(fleet: Fleet, now: number): void {
  for (const [agent, at] of fleet.agents) {
    if (now - at >= fleet.config.forgetAfterMs) {
      fleet.agents.delete(agent);
      fleet.software.delete(agent);
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
