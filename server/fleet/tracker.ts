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

const KNOWN_AGENT: BeatResult = Object.freeze({ ok: true, newAgent: false });
const NEW_AGENT: BeatResult = Object.freeze({ ok: true, newAgent: true });

/**
 * One practice's agents, kept compact: 126,000 agents must fit in about 100 bytes each.
 * Agent n (0 ≤ n < size) is `names[n]`, last beat `lastBeat[n]` (epoch ms, server receive
 * time), software `software[n]` (a shared frozen map, or undefined); `slots` maps a name to n.
 * Slots are dense: a forgotten agent's slot is filled with the last one.
 */
interface Fleet {
  config: FleetConfig;
  tokenDigest: Buffer;
  slots: Map<string, number>;
  names: string[];
  lastBeat: Float64Array;
  software: (SoftwareMap | undefined)[];
  size: number;
  /** A beat since the last evaluateChanged() that may change the status (a new agent, or one back from silence). */
  dirty: boolean;
  /** Epoch ms at which time alone may change the status (an agent due to turn silent or be forgotten, warm-up ending). */
  nextChangeAt: number;
  /** When evaluateChanged() next returns the fleet even unchanged, so the engine never finds it stale. */
  refreshAt: number;
  /** What evaluateChanged() last returned: status, detail and impaired text. */
  lastKey: string | null;
  /** Calls of evaluateChanged() still to return it after its last change (the engine's consecutive results). */
  repeats: number;
}

/** Agents known now. */
function agentsOf(fleet: Fleet): Float64Array {
  return fleet.lastBeat.subarray(0, fleet.size);
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
      this.#fleets.set(ods, {
        config,
        tokenDigest: digest(token),
        slots: new Map(),
        names: [],
        lastBeat: new Float64Array(Math.min(config.expectedAgents ?? 4, this.#maxAgents)),
        software: [],
        size: 0,
        dirty: true,
        nextChangeAt: Number.NEGATIVE_INFINITY,
        refreshAt: Number.NEGATIVE_INFINITY,
        lastKey: null,
        repeats: 0,
      });
    }
  }

  /**
   * The heartbeat endpoint is accepting from `now`: the warm-up for expected agents never
   * heard starts here, not when the tracker was built. The first call counts; later ones
   * (and a `startedAt` given at construction) are kept as they are.
   */
  startTracking(now: number): void {
    if (this.#startedAt !== Number.POSITIVE_INFINITY) return;
    this.#startedAt = now;
    for (const fleet of this.#fleets.values()) fleet.dirty = true;
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
    const slot = fleet.slots.get(agent);
    if (slot !== undefined) {
      const previous = fleet.lastBeat[slot]!;
      if (at > previous) {
        // Back from silence (or from being unwitnessed): the counts change. Otherwise the status cannot.
        if (at - previous > fleet.config.silentAfter * fleet.config.intervalMs) fleet.dirty = true;
        fleet.lastBeat[slot] = at;
      }
      if (software && !sameSoftware(fleet.software[slot], software)) fleet.software[slot] = this.#share(software);
      return KNOWN_AGENT;
    }
    if (fleet.size >= this.#maxAgents && forget(fleet, at) > 0) fleet.dirty = true;
    if (fleet.size >= this.#maxAgents) {
      return {
        ok: false,
        code: 'TOO_MANY_AGENTS',
        message: `practice ${ods} already has ${this.#maxAgents} workstation agents; a new agent is refused until silent ones are forgotten`,
      };
    }
    const n = fleet.size++;
    if (n === fleet.lastBeat.length) {
      const grown = new Float64Array(Math.min(this.#maxAgents, Math.max(4, n * 2)));
      grown.set(fleet.lastBeat);
      fleet.lastBeat = grown;
    }
    fleet.slots.set(agent, n);
    fleet.names[n] = agent;
    fleet.lastBeat[n] = at;
    fleet.software[n] = software ? this.#share(software) : undefined;
    fleet.dirty = true;
    return NEW_AGENT;
  }

  /**
   * What the practice's agents should send: its beat interval and how many agents to expect
   * (the configured count or those known now, whichever is more; at least 1). Null without a fleet.
   */
  expectedBeats(ods: string): { intervalMs: number; agents: number } | null {
    const fleet = this.#fleets.get(ods);
    if (!fleet) return null;
    return { intervalMs: fleet.config.intervalMs, agents: Math.max(1, fleet.config.expectedAgents ?? 0, fleet.size) };
  }

  /** The software an agent last reported, if any. */
  softwareOfAgent(ods: string, agent: string): SoftwareMap | undefined {
    const fleet = this.#fleets.get(ods);
    const slot = fleet?.slots.get(agent);
    return slot === undefined ? undefined : fleet!.software[slot];
  }

  /** The practice's fleet status at `now`; drops forgotten agents. Throws for a practice without a fleet. */
  evaluate(ods: string, now: number): FleetStatus {
    const fleet = this.#fleets.get(ods);
    if (!fleet) throw new RangeError(`practice ${ods} has no workstation fleet configured`);
    return this.#evaluate(fleet, now);
  }

  #evaluate(fleet: Fleet, now: number): FleetStatus {
    if (forget(fleet, now) > 0) fleet.dirty = true;
    return fleetStatus(agentsOf(fleet), now, fleet.config, this.#startedAt, this.#listening);
  }

  /** Every practice's fleet status at `now` (each agent of each fleet looked at: the API and tests; the tick uses evaluateChanged). */
  evaluateAll(now: number): Map<string, FleetStatus> {
    const out = new Map<string, FleetStatus>();
    for (const ods of this.#fleets.keys()) out.set(ods, this.evaluate(ods, now));
    return out;
  }

  /**
   * What the server's tick hands the engine: the fleets whose status may have changed since
   * the last call, and those due their refresh, with their status at `now`. A fleet is looked
   * at again only when a beat may have changed it (a new agent, one back from silence), when
   * time alone may (an agent due to turn silent or be forgotten, the warm-up ending, silence
   * Pulse did not witness), or when it is due. It is returned when its status, detail or
   * impaired text differ from what was last returned, then on each of the next `repeats`
   * calls (the engine wants `failuresToDown` results in a row before a check is down, and
   * `successesToUp` before it is up: pass the larger, less one), and at its refresh, once each
   * `interval` (the engine finds a fleet stale after 3 × interval). Refreshes keep the phase of
   * each fleet's first, spread over its first interval, so 6,300 fleets never refresh in one
   * tick. A beat recorded before the call is in the status it returns: by the next tick.
   */
  evaluateChanged(now: number, repeats = 1): Map<string, FleetStatus> {
    const out = new Map<string, FleetStatus>();
    let i = 0;
    const count = this.#fleets.size;
    for (const [ods, fleet] of this.#fleets) {
      const index = i++;
      const refresh = now >= fleet.refreshAt;
      if (!refresh && !fleet.dirty && fleet.repeats === 0 && now < fleet.nextChangeAt) continue;
      fleet.dirty = false;
      const status = this.#evaluate(fleet, now);
      fleet.dirty = false;
      fleet.nextChangeAt = this.#nextChange(fleet, now, status);
      const key = `${status.status}\n${status.detail}\n${status.impaired ?? ''}`;
      if (refresh) {
        const interval = fleet.config.intervalMs;
        // First time: spread over the first interval by position; then every interval, same phase.
        fleet.refreshAt =
          fleet.refreshAt === Number.NEGATIVE_INFINITY
            ? now + Math.max(1, Math.floor((interval * (index + 1)) / count))
            : Math.max(fleet.refreshAt + interval, now + 1);
      }
      if (key !== fleet.lastKey) {
        fleet.lastKey = key;
        fleet.repeats = Math.max(0, Math.floor(repeats));
      } else if (fleet.repeats > 0) fleet.repeats--;
      else if (!refresh) continue;
      out.set(ods, status);
    }
    return out;
  }

  /** Earliest time after `now` at which time alone may change this fleet's status; `now` when it may at any tick. */
  #nextChange(fleet: Fleet, now: number, status: FleetStatus): number {
    // Silence not witnessed turns into silence as Pulse listens: looked at every tick until it has.
    if (status.unwitnessed !== undefined) return now;
    const { silentAfter, intervalMs, forgetAfterMs, expectedAgents } = fleet.config;
    const silentMs = silentAfter * intervalMs;
    let next = Number.POSITIVE_INFINITY;
    if (expectedAgents !== null && this.#startedAt !== Number.POSITIVE_INFINITY) {
      const warm = this.#startedAt + silentMs;
      // Past the wall-clock end of the warm-up but not yet warm by listened time: every tick.
      if (now <= warm) next = warm + 1;
      else if (this.#listening && this.#listening.listenedMs(this.#startedAt, now) <= silentMs) return now;
    }
    const beats = agentsOf(fleet);
    for (let n = 0; n < beats.length; n++) {
      const at = beats[n]!;
      // Reporting until more than silentMs has passed; forgotten once forgetAfter has.
      const change = now - at <= silentMs ? at + silentMs + 1 : at + forgetAfterMs;
      if (change < next) next = change;
    }
    return next;
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
      for (let n = 0; n < fleet.size; n++) {
        const software = fleet.software[n];
        if (software === undefined) continue;
        const state = agentState(fleet.lastBeat[n]!, now, fleet.config, this.#listening);
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

  /**
   * What the tracker holds, counted (for tests and capacity planning): agents known, the
   * slots of last-beat times allocated for them (8 bytes each), the distinct software maps
   * they point to, and the canonical maps kept for sharing. Per agent that is one Map entry,
   * its name, 8 bytes and one reference: about 100 bytes, whatever it sends.
   */
  footprint(): { agents: number; beatSlots: number; softwareMaps: number; sharedSoftware: number } {
    let agents = 0;
    let beatSlots = 0;
    const maps = new Set<SoftwareMap>();
    for (const fleet of this.#fleets.values()) {
      agents += fleet.size;
      beatSlots += fleet.lastBeat.length;
      for (let n = 0; n < fleet.size; n++) if (fleet.software[n] !== undefined) maps.add(fleet.software[n]!);
    }
    return { agents, beatSlots, softwareMaps: maps.size, sharedSoftware: this.#sharedSoftware.size };
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

/** Drops agents silent for forgetAfter or longer (the same rule fleetStatus applies); how many. */
function forget(fleet: Fleet, now: number): number {
  let dropped = 0;
  for (let n = 0; n < fleet.size; ) {
    if (now - fleet.lastBeat[n]! < fleet.config.forgetAfterMs) {
      n++;
      continue;
    }
    // The last agent moves into the hole (slots stay dense).
    dropped++;
    fleet.slots.delete(fleet.names[n]!);
    const last = --fleet.size;
    if (n !== last) {
      const moved = fleet.names[last]!;
      fleet.names[n] = moved;
      fleet.lastBeat[n] = fleet.lastBeat[last]!;
      fleet.software[n] = fleet.software[last];
      fleet.slots.set(moved, n);
    }
    fleet.names.length = last;
    fleet.software.length = last;
  }
  return dropped;
}

/** Whether an agent's kept map already says what it reports now (most beats repeat it). */
function sameSoftware(kept: SoftwareMap | undefined, reported: SoftwareMap): boolean {
  if (kept === undefined) return false;
  let count = 0;
  for (const key in reported) {
    if (!Object.hasOwn(reported, key)) continue;
    count++;
    if (kept[key] !== reported[key]) return false;
  }
  return count === Object.keys(kept).length;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
