// Simulated workstation agents: the endpoint agent on each practice PC, posting real HTTP
// heartbeats to Pulse's POST /api/heartbeats/:ods with the practice's bearer token. Which
// practices have agents, how many each and which of them a bad update silences are all
// deterministic from the seed. Beats are spread over the interval (a phase per agent),
// timed on the injected clock, sent over one keep-alive agent with bounded concurrency;
// failing to reach Pulse is counted, never thrown. Each beat carries the agent's `software`
// map (software.ts) unless asked not to. Posts to loopback only.
// Never imported by production code.
import { Agent, request, type ClientRequest } from 'node:http';
import { z } from 'zod';
import { MAX_AGENTS_PER_PRACTICE } from '../fleet/config';
import { seededRandom, shuffled, type PracticeSpec } from './estate';
import { describeIssue } from './faults';
import { agentSoftware, type Software } from './software';
import {
  SimulatorError,
  type AgentPracticeReport,
  type AgentsOptions,
  type AgentsReport,
  type SimulatorClock,
} from './types';

export const DEFAULT_AGENTS_PER_PRACTICE: readonly [number, number] = [8, 40];
export const DEFAULT_AGENT_INTERVAL_MS = 15_000;
/** Share of practices that run agents when the caller does not say which. */
export const FLEET_PRACTICE_SHARE = 0.5;
export const DEFAULT_AGENT_CONCURRENCY = 16;
/** A heartbeat Pulse has not answered within this (or the interval, if shorter) has failed. */
const MAX_REQUEST_MS = 10_000;
const MAX_INTERVAL_MS = 60 * 60_000;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** FNV-1a: a stable number from an ODS code, mixed into per-practice seeds. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const rangeSchema = z
  .tuple([
    z.number().int().min(1).max(MAX_AGENTS_PER_PRACTICE),
    z.number().int().min(1).max(MAX_AGENTS_PER_PRACTICE),
  ])
  .refine(([min, max]) => min <= max, 'expected [min, max] with min ≤ max');

export const fleetPlanSchema = z
  .object({
    agentsPerPractice: rangeSchema.optional(),
    practices: z.array(z.string()).optional(),
  })
  .strict();

export interface FleetPlanOptions {
  agentsPerPractice?: readonly [number, number];
  practices?: readonly string[];
}

/**
 * ODS code → number of agents, in estate order. By default a seeded ~50% of practices,
 * each with a seeded count in `agentsPerPractice` (default 8-40, DOMAIN.md). The same
 * practices, seed and options always give the same plan, so the estate file's
 * `expectedAgents` and the running agents agree.
 */
export function planFleet(practices: readonly PracticeSpec[], seed: number, opts: FleetPlanOptions = {}): Map<string, number> {
  const parsed = fleetPlanSchema.safeParse(opts);
  if (!parsed.success) {
    const { field, message } = describeIssue(parsed.error, 'options');
    throw new SimulatorError('BAD_OPTIONS', message, field);
  }
  const [min, max] = parsed.data.agentsPerPractice ?? DEFAULT_AGENTS_PER_PRACTICE;
  let chosen: Set<string>;
  if (parsed.data.practices) {
    const known = new Set(practices.map((p) => p.ods));
    const unknown = parsed.data.practices.find((ods) => !known.has(ods));
    if (unknown !== undefined) {
      throw new SimulatorError('BAD_OPTIONS', `practices: no simulated practice "${unknown}"`, 'practices');
    }
    chosen = new Set(parsed.data.practices);
  } else {
    const random = seededRandom(seed ^ 0xf1ee7);
    const picked = shuffled(random, practices).slice(0, Math.round(practices.length * FLEET_PRACTICE_SHARE));
    chosen = new Set(picked.map((p) => p.ods));
  }
  const plan = new Map<string, number>();
  for (const p of practices) {
    if (!chosen.has(p.ods)) continue;
    const random = seededRandom((seed ^ hash(p.ods) ^ 0xa6e7) >>> 0);
    plan.set(p.ods, min + Math.floor(random() * (max - min + 1)));
  }
  return plan;
}

/**
 * For each of a practice's agents, its place in the order a bad update silences them:
 * agent i is silent when rank[i] < round(count × share). Seeded per practice, so the same
 * agents go silent every time, and a larger share silences a superset.
 */
export function silenceRanks(ods: string, count: number, seed: number): number[] {
  const order = shuffled(seededRandom((seed ^ hash(ods) ^ 0x511e47) >>> 0), [...Array(count).keys()]);
  const rank = Array<number>(count);
  order.forEach((agent, position) => (rank[agent] = position));
  return rank;
}

const optionsSchema = z
  .object({
    pulseUrl: z
      .string()
      .refine((text) => {
        try {
          const url = new URL(text);
          return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
        } catch {
          return false;
        }
      }, 'expected Pulse on loopback over http, e.g. http://127.0.0.1:8080'),
    token: z
      .string()
      .min(1, 'expected the practices\u2019 agent token')
      .regex(/^[\x21-\x7e]+$/, 'expected printable characters without spaces'),
    agentsPerPractice: rangeSchema.optional(),
    intervalMs: z.number().int().min(100).max(MAX_INTERVAL_MS).default(DEFAULT_AGENT_INTERVAL_MS),
    practices: z.array(z.string()).optional(),
    concurrency: z.number().int().min(1).max(256).default(DEFAULT_AGENT_CONCURRENCY),
    software: z.boolean().default(true),
  })
  .strict();

export type ResolvedAgentsOptions = z.output<typeof optionsSchema>;

export function parseAgentsOptions(opts: AgentsOptions): ResolvedAgentsOptions {
  const parsed = optionsSchema.safeParse(opts);
  if (!parsed.success) {
    const { field, message } = describeIssue(parsed.error, 'options');
    throw new SimulatorError('BAD_OPTIONS', message, field);
  }
  return parsed.data;
}

const ROLES = ['RECEPTION', 'CONSULT', 'NURSE', 'ADMIN', 'DISPENSARY', 'HCA', 'MANAGER', 'PHARMACIST'];

interface SimAgent {
  ods: string;
  id: string;
  hostname: string;
  rank: number;
  software: Software;
  /** Clock time its next beat is due. */
  due: number;
  handle: unknown;
  /** A beat is queued or in flight: the next is not sent on top of it. */
  busy: boolean;
}

interface PracticeState {
  agents: SimAgent[];
  sent: number;
  failed: number;
  lastError: string | null;
}

/** Runs one set of agents; the simulator makes a new one on each startAgents. */
export class AgentRunner {
  private readonly practices = new Map<string, PracticeState>();
  private readonly queue: SimAgent[] = [];
  private readonly inFlight = new Set<ClientRequest>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly http: Agent;
  private readonly base: string;
  private readonly timeoutMs: number;
  private stopped = false;

  constructor(
    private readonly options: ResolvedAgentsOptions,
    plan: ReadonlyMap<string, number>,
    seed: number,
    private readonly clock: SimulatorClock,
    /** Share of the practice's agents silenced right now (0 = none). */
    private readonly silentShare: (ods: string) => number,
    /**
     * Share of the practice's agents that took the bad endpoint update (0 = none): the same
     * agents, by silence rank, that the update silences. Fixed for the estate; decides software.
     */
    exposedShare: (ods: string) => number = () => 0,
  ) {
    this.base = options.pulseUrl.replace(/\/+$/, '');
    this.timeoutMs = Math.min(options.intervalMs, MAX_REQUEST_MS);
    this.http = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    const start = clock.now();
    for (const [ods, count] of plan) {
      const ranks = silenceRanks(ods, count, seed);
      const phase = seededRandom((seed ^ hash(ods) ^ 0x9a5e) >>> 0);
      const agents: SimAgent[] = [];
      const exposed = Math.min(count, Math.round(count * exposedShare(ods)));
      for (let i = 0; i < count; i++) {
        const nn = String(i + 1).padStart(2, '0');
        agents.push({
          ods,
          id: `${ods}-WS${nn}`,
          hostname: `${ods}-${ROLES[i % ROLES.length]}-${nn}`,
          rank: ranks[i]!,
          software: agentSoftware(seed ^ hash(ods) ^ Math.imul(i + 1, 0x50f7), ranks[i]! < exposed),
          due: start + Math.floor(phase() * options.intervalMs),
          handle: undefined,
          busy: false,
        });
      }
      this.practices.set(ods, { agents, sent: 0, failed: 0, lastError: null });
      for (const agent of agents) this.schedule(agent);
    }
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  get pulseUrl(): string {
    return this.base;
  }

  report(running: boolean): AgentsReport {
    const practices: AgentPracticeReport[] = [];
    const totals = { agents: 0, silent: 0, sent: 0, failed: 0 };
    for (const [ods, state] of this.practices) {
      const silent = this.silentCount(ods, state.agents.length);
      practices.push({ ods, agents: state.agents.length, silent, sent: state.sent, failed: state.failed, lastError: state.lastError });
      totals.agents += state.agents.length;
      totals.silent += silent;
      totals.sent += state.sent;
      totals.failed += state.failed;
    }
    return { running, pulseUrl: this.base, intervalMs: this.options.intervalMs, totals, practices };
  }

  /** Resolves when no beat is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops every timer, drops queued beats and aborts those in flight (not counted). */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      for (const state of this.practices.values()) {
        for (const agent of state.agents) this.clock.clearTimeout(agent.handle);
      }
      for (const agent of this.queue) agent.busy = false;
      this.queue.length = 0;
      for (const req of this.inFlight) req.destroy();
      this.http.destroy();
    }
    return this.idle();
  }

  private silentCount(ods: string, count: number): number {
    const share = this.silentShare(ods);
    return share > 0 ? Math.min(count, Math.round(count * share)) : 0;
  }

  private schedule(agent: SimAgent): void {
    agent.handle = this.clock.setTimeout(() => this.fire(agent), Math.max(0, agent.due - this.clock.now()));
  }

  private fire(agent: SimAgent): void {
    if (this.stopped) return;
    // Next beat on the agent's own phase, whatever this one does: no drift, no bunching.
    agent.due += this.options.intervalMs;
    if (agent.due <= this.clock.now()) agent.due = this.clock.now() + this.options.intervalMs;
    this.schedule(agent);

    const state = this.practices.get(agent.ods)!;
    if (agent.rank < this.silentCount(agent.ods, state.agents.length)) return; // a dead PC says nothing
    if (agent.busy) {
      state.failed++;
      state.lastError = 'previous heartbeat still unanswered';
      return;
    }
    agent.busy = true;
    this.queue.push(agent);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.options.concurrency && this.queue.length > 0) {
      this.send(this.queue.shift()!);
    }
    if (this.queue.length === 0 && this.inFlight.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private send(agent: SimAgent): void {
    const state = this.practices.get(agent.ods)!;
    const body = JSON.stringify({
      agent: agent.id,
      hostname: agent.hostname,
      version: 'pulse-sim-agent/1.0',
      sentAt: new Date(this.clock.now()).toISOString(),
      ...(this.options.software ? { software: agent.software } : {}),
    });
    let done = false;
    let answered = false;
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      this.inFlight.delete(req);
      agent.busy = false;
      if (!this.stopped) {
        if (error === null) state.sent++;
        else {
          state.failed++;
          state.lastError = error;
        }
      }
      this.pump();
    };
    const req = request(
      `${this.base}/api/heartbeats/${agent.ods}`,
      {
        method: 'POST',
        agent: this.http,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        answered = true;
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          finish(status >= 200 && status < 300 ? null : `HTTP ${status}`);
        });
        res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
        res.on('close', () => finish('answer cut off'));
      },
    );
    this.inFlight.add(req);
    req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    req.on('close', () => {
      if (!answered) finish('connection closed before an answer');
    });
    req.end(body);
  }
}
