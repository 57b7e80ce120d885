// The simulator's public types: the simulated estate, faults and the clock it runs on.
// Types only. Never imported by production code: the simulator is a demo and test tool.

/** Time source and timers, injected so tests drive scenarios and slow replies without sleeping. */
export interface SimulatorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type ServiceKind = 'clinical-system' | 'national' | 'network';

export interface SimService {
  id: string;
  name: string;
  kind: ServiceKind;
  /** HTTP health URL on the service's own loopback listener. */
  url: string;
  /** `host:port` for a tcp check; the same listener as `url`. */
  tcp: string | null;
}

export interface SimPractice {
  ods: string;
  name: string;
  pcn: string;
  icb: string;
  /** Id of the practice's principal clinical system service. */
  system: string;
  gatewayUrl: string;
}

export const faultModes = ['down', 'slow', 'hang', 'error'] as const;
export type FaultMode = (typeof faultModes)[number];

/** What a faulty endpoint does. `slow` replies healthily after `ms`; `error` replies with `status`. */
export type Fault =
  | { mode: 'down' }
  | { mode: 'hang' }
  | { mode: 'slow'; ms: number }
  | { mode: 'error'; status: number };

/** Who set a fault: an operator (`manual`) or a named scenario. */
export type FaultSource = 'manual' | `scenario:${string}`;

export type ActiveFault = Fault & {
  source: FaultSource;
  /** Epoch ms (on the simulator's clock) when a scenario's fault ends; absent for manual faults. */
  until?: number;
};

export interface SimulatorOptions {
  /** Number of practices; default 72. */
  practices?: number;
  /** Seed for names, ODS codes and scenario picks; default 1. */
  seed?: number;
  /** Only loopback is allowed. */
  host?: '127.0.0.1';
  /** Control API port; default 0 (ephemeral). */
  controlPort?: number;
  clock?: SimulatorClock;
}

export interface FailOptions {
  /** Delay for `slow`; default 3000 ms. */
  ms?: number;
  /** Status for `error`; default 500. */
  status?: number;
}

export interface EstateYamlOptions {
  interval?: string;
  timeout?: string;
  /**
   * `degradedAfter` on every http service check: a slower answer is degraded, not down
   * (an EMIS Web that only a few users can get into). Default `1s`; `false` leaves it out.
   */
  degradedAfter?: string | false;
  /**
   * Adds a `fleet:` block to the practices that run simulated workstation agents.
   * `agentsPerPractice` and `practices` must be what startAgents is given (both default
   * the same way), so `expectedAgents` matches the agents that really beat.
   */
  fleet?: EstateFleetOptions;
  /**
   * Adds a `backup:` section: a default continuity plan whose webhooks go to the simulator's
   * continuity receiver (signed with the secret Pulse reads from `secretEnv`), a log-sent SMS,
   * a checklist and readiness items. Pulse must find the receiver's secret in `secretEnv`.
   */
  backup?: { secretEnv: string; suggestLeaveAfter?: string; autoEnterAfter?: string };
  /** Set by the simulator: where its continuity receiver listens. */
  continuityUrl?: string;
}

export interface EstateFleetOptions {
  /** Environment variable Pulse reads the practices' agent token from. */
  tokenEnv: string;
  /** The agents' beat interval as a duration; default `15s` (startAgents' default). */
  interval?: string;
  agentsPerPractice?: readonly [number, number];
  practices?: readonly string[];
}

export interface AgentsOptions {
  /** Pulse's base URL on loopback, e.g. `http://127.0.0.1:8080`. */
  pulseUrl: string;
  /** The practices' agent token (the value of the estate file's `fleet.token.env`). */
  token: string;
  /** Agents per practice, seeded per practice within [min, max]; default [8, 40]. */
  agentsPerPractice?: readonly [number, number];
  /** How often each agent beats; default 15000 ms. Each agent has its own phase in it. */
  intervalMs?: number;
  /** ODS codes of the practices that run agents; default a seeded ~50% of practices. */
  practices?: readonly string[];
  /** Most heartbeats in flight at once; default 16. */
  concurrency?: number;
  /**
   * Send each agent's `software` map (sensor, channel file, OS build) with its beats; default
   * true. Off for a Pulse whose heartbeat schema predates the field (it answers 400).
   */
  software?: boolean;
}

export interface AgentPracticeReport {
  ods: string;
  agents: number;
  /** Agents silenced right now (by a scenario such as bad-endpoint-update). */
  silent: number;
  /** Heartbeats Pulse accepted (2xx). */
  sent: number;
  /** Heartbeats that did not reach Pulse or were refused. */
  failed: number;
  /** Why the last failure failed, e.g. `ECONNREFUSED` or `HTTP 401`; never the token. */
  lastError: string | null;
}

export interface AgentsReport {
  running: boolean;
  pulseUrl: string | null;
  intervalMs: number | null;
  totals: { agents: number; silent: number; sent: number; failed: number };
  practices: AgentPracticeReport[];
}

export interface ScenarioInfo {
  name: string;
  description: string;
  defaultDurationMs: number;
  /** Clock time when the running play of it ends; null when it is not running. */
  runningUntil: number | null;
}

export interface Simulator {
  services: SimService[];
  practices: SimPractice[];
  controlUrl: string;
  /** The simulated phone systems and websites that backup-mode webhooks reach. */
  continuity: import('./continuity').ContinuityReceiver;
  estateYaml(opts?: EstateYamlOptions): string;
  /**
   * Fails a target (`service:emis-web`, `practice:A81001`). Takes effect at once for
   * replies; the promise resolves once a listener change (`down`) has happened too.
   * Never rejects for listener trouble (that is reported on stderr); throws
   * SimulatorError synchronously on a bad target or fault.
   */
  fail(target: string, mode: FaultMode, opts?: FailOptions): Promise<void>;
  /** Clears every fault on the target, whoever set it. */
  restore(target: string): Promise<void>;
  /** Clears every fault and stops every running scenario. */
  restoreAll(): Promise<void>;
  /** Starts a named scenario; playing one that is already running restarts it. */
  play(scenario: string, opts?: { durationMs?: number }): Promise<void>;
  scenarios(): ScenarioInfo[];
  /** The fault in effect on each faulty target. */
  faults(): Record<string, ActiveFault>;
  /**
   * Starts simulated workstation agents posting heartbeats to Pulse (restarting any that
   * run). Throws SimulatorError (BAD_OPTIONS) on bad options; never throws or rejects
   * because Pulse cannot be reached: failures are counted in agents().
   */
  startAgents(opts: AgentsOptions): void;
  /** Stops the agents; resolves once heartbeats in flight are aborted. */
  stopAgents(): Promise<void>;
  /** Per-practice agent counts, silent agents and heartbeats sent and failed. */
  agents(): AgentsReport;
  /**
   * Resolves when every listener change asked for so far has taken effect and no
   * heartbeat is queued or in flight.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export type SimulatorErrorCode =
  | 'BAD_OPTIONS'
  | 'UNKNOWN_TARGET'
  | 'BAD_FAULT'
  | 'UNKNOWN_SCENARIO'
  | 'CLOSED'
  /** The control port asked for is taken: Node's own code, so a caller can fall back to port 0. */
  | 'EADDRINUSE'
  | 'LISTEN_FAILED';

export class SimulatorError extends Error {
  constructor(
    readonly code: SimulatorErrorCode,
    message: string,
    /** The option or field at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SimulatorError';
  }
}
