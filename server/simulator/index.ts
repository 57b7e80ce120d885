// Pulse's simulator: fake clinical systems, national services and practice gateways on
// loopback, each failable on cue (down, slow, hang, error) by call, by control API or by
// named scenario, plus an estate file pointing Pulse at them. For the demo launcher,
// end-to-end tests and benchmarks only: production code must never import it, and it
// must never bind anything but 127.0.0.1.
import { ContinuityReceiver } from './continuity';
import { z } from 'zod';
import { AgentRunner, parseAgentsOptions, planFleet } from './agents';
import { createControlApp, MAX_SCENARIO_MS, serveControl, type ControlServer } from './control';
import { Endpoint, LOOPBACK, type Reply, type Router } from './endpoint';
import { generatePractices, serviceCatalogue, type PracticeSpec, type ServiceSpec } from './estate';
import { renderEstateYaml } from './estate-yaml';
import { describeIssue, FaultTable, faultRequestSchema, toFault } from './faults';
import { findScenario, scenarios } from './scenarios';
import {
  SimulatorError,
  type FaultSource,
  type SimPractice,
  type SimService,
  type Simulator,
  type SimulatorClock,
  type SimulatorOptions,
} from './types';

export * from './types';
export { scenarios, BAD_UPDATE_SHARE, BAD_UPDATE_SILENT_AGENTS, PARTIAL_SLOW_MS } from './scenarios';
export { DEFAULT_AGENTS_PER_PRACTICE, DEFAULT_AGENT_INTERVAL_MS, silenceRanks } from './agents';
export { serviceCatalogue, clinicalSystems } from './estate';
export { BAD_CHANNEL_FILE, GOOD_CHANNEL_FILE, BAD_CHANNEL_FILE_HEALTHY_SHARE, agentSoftware, type Software } from './software';

export const realClock: SimulatorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

const clockSchema = z.custom<SimulatorClock>(
  (v) =>
    typeof v === 'object' && v !== null &&
    ['now', 'setTimeout', 'clearTimeout'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function'),
  'expected an object with now, setTimeout and clearTimeout functions',
);

const optionsSchema = z
  .object({
    practices: z.number().int().min(1).max(10_000).default(72),
    seed: z.number().int().default(1),
    host: z.literal(LOOPBACK, `the simulator binds ${LOOPBACK} only`).default(LOOPBACK),
    controlPort: z.number().int().min(0).max(65_535).default(0),
    clock: clockSchema.optional(),
  })
  .strict();

const GP_CONNECT_METADATA = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  kind: 'instance',
  fhirVersion: '3.0.1',
  format: ['application/fhir+json'],
};

/** Paths a simulated national or supplier service answers, shaped like the real platforms'. */
function serviceRouter(spec: ServiceSpec): Router {
  const target = `service:${spec.id}`;
  const replies: Record<string, Reply> = {
    '/health': { status: 200, body: { status: 'pass' } },
    // NHS API platform conventions: `_ping` (no auth) and `_status`.
    '/_ping': { status: 200, body: { version: 'simulated', revision: spec.id } },
    '/_status': { status: 200, body: { status: 'pass', checks: {} } },
    ...(spec.id === 'gp-connect' ? { '/metadata': { status: 200, body: GP_CONNECT_METADATA } } : {}),
  };
  const notFound: Reply = { status: 404, body: { status: 'fail', message: 'not found' } };
  return (req) => {
    const path = (req.url ?? '/').split('?')[0]!;
    // A faulty service misbehaves on every path, so the fault applies before the 404.
    return { target, healthy: replies[path] ?? notFound };
  };
}

const GATEWAY_PATH = /^\/practices\/([A-Z]\d{5})\/gateway$/;

function gatewayRouter(byOds: ReadonlyMap<string, PracticeSpec>): Router {
  return (req) => {
    const match = GATEWAY_PATH.exec((req.url ?? '/').split('?')[0]!);
    const practice = match ? byOds.get(match[1]!) : undefined;
    if (!practice) return null;
    return { target: `practice:${practice.ods}`, healthy: { status: 200, body: { status: 'pass', ods: practice.ods, system: practice.system } } };
  };
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const parsed = optionsSchema.safeParse(opts);
  if (!parsed.success) {
    const { field, message } = describeIssue(parsed.error, 'options');
    throw new SimulatorError('BAD_OPTIONS', message, field);
  }
  const options = parsed.data;
  const clock = options.clock ?? realClock;
  const table = new FaultTable();
  const specs = generatePractices(options.practices, options.seed);
  const byOds = new Map(specs.map((p) => [p.ods, p]));
  const faultOf = (target: string) => table.effective(target);

  const serviceEndpoints = new Map(
    serviceCatalogue.map((spec) => [spec.id, new Endpoint(`service ${spec.id}`, serviceRouter(spec), faultOf, clock)]),
  );
  const gateway = new Endpoint('practice gateways', gatewayRouter(byOds), faultOf, clock);
  const endpoints = [...serviceEndpoints.values(), gateway];

  let control: ControlServer | undefined;
  try {
    await Promise.all(endpoints.map((e) => e.start()));
  } catch (err) {
    await Promise.all(endpoints.map((e) => e.close()));
    throw err;
  }

  const services: SimService[] = serviceCatalogue.map((spec) => {
    const port = serviceEndpoints.get(spec.id)!.port;
    return { id: spec.id, name: spec.name, kind: spec.kind, url: `http://${LOOPBACK}:${port}/health`, tcp: `${LOOPBACK}:${port}` };
  });
  const practices: SimPractice[] = specs.map((p) => ({
    ...p,
    gatewayUrl: `http://${LOOPBACK}:${gateway.port}/practices/${p.ods}/gateway`,
  }));

  /** Running scenario plays by name: the timer that ends each and when. */
  const running = new Map<string, { handle: unknown; until: number }>();
  /** Silenced workstation agents by who asked: ODS code → share silent. */
  const silences = new Map<FaultSource, Map<string, number>>();
  const silentShare = (ods: string): number => {
    let share = 0;
    for (const bySource of silences.values()) share = Math.max(share, bySource.get(ods) ?? 0);
    return share;
  };
  /** Agents that run a scenario's faulty software (fixed for the estate): ODS code → share. */
  const exposure = new Map<string, number>();
  for (const scenario of scenarios) {
    for (const { ods, share } of scenario.exposed?.({ practices: specs, seed: options.seed }) ?? []) {
      exposure.set(ods, Math.max(share, exposure.get(ods) ?? 0));
    }
  }
  let agentRunner: AgentRunner | undefined;
  let agentsRunning = false;
  let closed = false;

  function assertOpen(): void {
    if (closed) throw new SimulatorError('CLOSED', 'the simulator has been closed');
  }

  function checkTarget(target: string): void {
    const colon = target.indexOf(':');
    const kind = target.slice(0, colon);
    const id = target.slice(colon + 1);
    const known = (kind === 'service' && serviceEndpoints.has(id)) || (kind === 'practice' && byOds.has(id));
    if (!known) {
      throw new SimulatorError(
        'UNKNOWN_TARGET',
        `target: no such target "${target}"; expected service:<id> (${[...serviceEndpoints.keys()].join(', ')}) or practice:<ODS code>`,
        'target',
      );
    }
  }

  /** Brings service listeners in line with the table after it changed for `targets`. */
  function apply(targets: Iterable<string>): Promise<void> {
    const changes: Promise<void>[] = [];
    for (const target of new Set(targets)) {
      if (!target.startsWith('service:')) continue; // gateways read their fault per request
      const endpoint = serviceEndpoints.get(target.slice('service:'.length));
      if (endpoint) changes.push(endpoint.setListening(table.effective(target)?.mode !== 'down'));
    }
    return Promise.all(changes).then(() => undefined);
  }

  function endScenario(name: string): Promise<void> {
    const run = running.get(name);
    if (!run) return Promise.resolve();
    clock.clearTimeout(run.handle);
    running.delete(name);
    silences.delete(`scenario:${name}`);
    return apply(table.clearSource(`scenario:${name}`));
  }

  async function stopAgents(): Promise<void> {
    const runner = agentRunner;
    agentsRunning = false;
    await runner?.stop();
  }

  const sim: Simulator = {
    services,
    practices,
    controlUrl: '',
    continuity: new ContinuityReceiver(),

    estateYaml: (yamlOpts = {}) => {
      const { fleet } = yamlOpts;
      const plan = fleet
        ? planFleet(specs, options.seed, { agentsPerPractice: fleet.agentsPerPractice, practices: fleet.practices })
        : new Map<string, number>();
      return renderEstateYaml(serviceCatalogue, services, practices, { ...yamlOpts, continuityUrl: `${sim.controlUrl}/continuity` }, plan);
    },

    fail(target, mode, failOpts = {}) {
      assertOpen();
      const request = faultRequestSchema.safeParse({ target, mode, ...failOpts });
      if (!request.success) {
        const { field, message } = describeIssue(request.error);
        throw new SimulatorError('BAD_FAULT', message, field);
      }
      checkTarget(target);
      table.set(target, toFault(request.data), 'manual');
      return apply([target]);
    },

    restore(target) {
      assertOpen();
      checkTarget(target);
      table.clearTarget(target);
      if (target.startsWith('practice:')) {
        for (const bySource of silences.values()) bySource.delete(target.slice('practice:'.length));
      }
      return apply([target]);
    },

    restoreAll() {
      assertOpen();
      for (const run of running.values()) clock.clearTimeout(run.handle);
      running.clear();
      silences.clear();
      return apply(table.clearAll());
    },

    play(name, playOpts = {}) {
      assertOpen();
      const scenario = findScenario(name);
      if (!scenario) {
        throw new SimulatorError(
          'UNKNOWN_SCENARIO',
          `name: no scenario "${name}"; expected one of ${scenarios.map((s) => s.name).join(', ')}`,
          'name',
        );
      }
      const durationMs = playOpts.durationMs ?? scenario.defaultDurationMs;
      if (!Number.isInteger(durationMs) || durationMs < 1 || durationMs > MAX_SCENARIO_MS) {
        throw new SimulatorError('BAD_FAULT', `durationMs: expected whole milliseconds from 1 to ${MAX_SCENARIO_MS}`, 'durationMs');
      }
      // Playing it again restarts it: its old faults go, the new ones (often the same) come.
      const source: FaultSource = `scenario:${name}`;
      const previous = running.get(name);
      if (previous) clock.clearTimeout(previous.handle);
      const touched = table.clearSource(source);
      const until = clock.now() + durationMs;
      for (const { target, fault } of scenario.faults({ practices: specs, seed: options.seed })) {
        table.set(target, fault, source, until);
        touched.push(target);
      }
      const silenced = scenario.silences?.({ practices: specs, seed: options.seed }) ?? [];
      if (silenced.length > 0) silences.set(source, new Map(silenced.map((s) => [s.ods, s.share])));
      else silences.delete(source);
      const handle = clock.setTimeout(() => void endScenario(name), durationMs);
      running.set(name, { handle, until });
      return apply(touched);
    },

    scenarios: () =>
      scenarios.map((s) => ({
        name: s.name,
        description: s.description,
        defaultDurationMs: s.defaultDurationMs,
        runningUntil: running.get(s.name)?.until ?? null,
      })),

    faults: () => table.snapshot(),

    startAgents(agentOpts) {
      assertOpen();
      const resolved = parseAgentsOptions(agentOpts);
      const plan = planFleet(specs, options.seed, { agentsPerPractice: resolved.agentsPerPractice, practices: resolved.practices });
      // Restarting: the old runner's timers stop at once; its aborted beats finish on their own.
      void agentRunner?.stop();
      agentRunner = new AgentRunner(resolved, plan, options.seed, clock, silentShare, (ods) => exposure.get(ods) ?? 0);
      agentsRunning = true;
    },

    stopAgents,

    agents: () =>
      agentRunner?.report(agentsRunning) ?? {
        running: false,
        pulseUrl: null,
        intervalMs: null,
        totals: { agents: 0, silent: 0, sent: 0, failed: 0 },
        practices: [],
      },

    settled: () =>
      Promise.all([...endpoints.map((e) => e.settled()), agentRunner?.idle()]).then(() => undefined),

    async close() {
      if (closed) return;
      closed = true;
      for (const run of running.values()) clock.clearTimeout(run.handle);
      running.clear();
      await Promise.all([stopAgents(), control?.close(), ...endpoints.map((e) => e.close())]);
    },
  };

  try {
    control = await serveControl(createControlApp(sim), options.controlPort);
  } catch (err) {
    await sim.close();
    throw err;
  }
  sim.controlUrl = control.url;
  return sim;
}
