// Remembers, per practice, when each workstation agent last beat, and turns that into a
// fleet status on demand. Holds the practices' agent tokens only as SHA-256 digests.
// Never reads the clock (times are passed in), never logs, never returns or throws a token:
// errors name the environment variable or file, not its content.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_AGENTS_PER_PRACTICE, type FleetConfig, type SecretRef } from './config';
import { fleetStatus, type FleetStatus } from './status';

export { fleetStatus, type FleetLevel, type FleetStatus } from './status';

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
  /** When tracking started (epoch ms); expected agents never heard count as silent only after they had time to beat. */
  startedAt: number;
  readSecret?: ReadSecret;
  maxAgentsPerPractice?: number;
}

interface Fleet {
  config: FleetConfig;
  tokenDigest: Buffer;
  /** Agent id → last beat, epoch ms (server receive time). */
  agents: Map<string, number>;
}

export class FleetTracker {
  readonly #fleets = new Map<string, Fleet>();
  readonly #startedAt: number;
  readonly #maxAgents: number;

  /** Resolves every practice's token now, so a missing one stops start-up with a clear message. */
  constructor(opts: FleetTrackerOptions) {
    const readSecret = opts.readSecret ?? secretReader();
    this.#startedAt = opts.startedAt;
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
      this.#fleets.set(ods, { config, tokenDigest: digest(token), agents: new Map() });
    }
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

  /** Records a beat received at `at`. A late-arriving older beat never moves an agent back in time. */
  beat(ods: string, agent: string, at: number): BeatResult {
    const fleet = this.#fleets.get(ods);
    if (!fleet) return { ok: false, code: 'UNKNOWN_PRACTICE', message: `practice ${ods} has no workstation fleet configured` };
    const previous = fleet.agents.get(agent);
    if (previous !== undefined) {
      fleet.agents.set(agent, Math.max(previous, at));
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
    return { ok: true, newAgent: true };
  }

  /** The practice's fleet status at `now`; drops forgotten agents. Throws for a practice without a fleet. */
  evaluate(ods: string, now: number): FleetStatus {
    const fleet = this.#fleets.get(ods);
    if (!fleet) throw new RangeError(`practice ${ods} has no workstation fleet configured`);
    forget(fleet, now);
    return fleetStatus([...fleet.agents.values()], now, fleet.config, this.#startedAt);
  }

  evaluateAll(now: number): Map<string, FleetStatus> {
    const out = new Map<string, FleetStatus>();
    for (const ods of this.#fleets.keys()) out.set(ods, this.evaluate(ods, now));
    return out;
  }
}

/** Drops agents silent for forgetAfter or longer (the same rule fleetStatus applies). */
function forget(fleet: Fleet, now: number): void {
  for (const [agent, at] of fleet.agents) {
    if (now - at >= fleet.config.forgetAfterMs) fleet.agents.delete(agent);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
