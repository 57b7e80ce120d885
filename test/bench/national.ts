// National-scale benchmark (`npm run bench:national`, issue 14): the REAL server, started
// as a user starts it (the compiled build when `npm run build` has made one, else
// `node --import tsx server/cli.ts`), with its default local probe workers, over a
// generated estate of 6,300 practices × 8 checks every 30 s (7 http on a fresh connection
// each, 1 tcp) and fleets of 20 workstations per practice, every target on loopback
// (test/bench/target.ts). Measured from outside, as an operator would:
//   - CPU of the server and its worker children from /proc, per check the targets saw;
//   - /healthz every 100 ms (own process), /metrics every 15 s like Prometheus (scrape time,
//     event-loop delay p99, scheduler lag), RSS, data folder growth;
//   - a mass failure: the hosts of every EMIS Web practice (3,654 of 6,300) stop answering,
//     and the time until the live feed (/ws, a display link) shows each of them down, then
//     back, per practice;
//   - heartbeats from test/bench/heartbeat-load.ts when it exists;
//   - blackbox_exporter on the same targets at the same rate, when installed, for the ratio.
// Prints a table: figure, measured, target, met / NOT met. Exit 0 whatever is met; non-zero
// only when the harness itself fails. Loopback only; bounded in time; every child (and the
// server's process group) is killed on exit, error and SIGINT/SIGTERM.
//
//   node --import tsx test/bench/national.ts [--quick] [--practices N] [--no-heartbeats]
//        [--no-exporter] [--warmup S] [--steady S] [--fail-mode refuse|503] [--target-procs N]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceCatalogue } from '../../server/simulator/estate';
import { SqliteStore } from '../../server/store/sqlite';
import { Children, sleep, stopChild, type SpawnOptions } from './children';
import type { FailMode, TargetMessage, TargetRequest } from './estate';
import { EXPORTER, cpuMsOf, exporterVersion, machineTicks, runExporter, type ExporterRun } from './exporter';
import { nationalEstate } from './national-estate';
import { LiveView, ProcessTree, folderBytes, percentile, scrapeMetrics, totalRss, type Scrape } from './national-observe';
import { HEARTBEAT_LOAD, heartbeatPlan, startHeartbeats, type HeartbeatLoad, type HeartbeatReport } from './national-heartbeats';
import { printReport, type Figures } from './national-report';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INTERVAL_MS = 30_000;
const NATIONAL_PRACTICES = 6_300;

// ---- options ------------------------------------------------------------------------

export interface Options {
  quick: boolean;
  practices: number;
  heartbeats: boolean;
  exporter: boolean;
  warmupS: number;
  steadyS: number;
  failMode: FailMode;
  targetProcs: number;
  exporterWarmupS: number;
  exporterS: number;
  /** Extra node flags for the server (e.g. --cpu-prof, --heapsnapshot-signal=SIGUSR2; NODE_OPTIONS refuses some). */
  serverNodeArgs: string[];
}

const USAGE =
  'usage: node --import tsx test/bench/national.ts [--quick] [--practices N] [--no-heartbeats] [--no-exporter] ' +
  '[--warmup S] [--steady S] [--fail-mode refuse|503] [--target-procs N] [--server-node-arg FLAG]…';

function fail(message: string): never {
  process.stderr.write(`bench:national: ${message}\n`);
  process.exit(2);
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    quick: false,
    practices: NATIONAL_PRACTICES,
    heartbeats: true,
    exporter: true,
    warmupS: 60,
    steadyS: 180,
    failMode: 'refuse',
    targetProcs: 1,
    exporterWarmupS: 10,
    exporterS: 60,
    serverNodeArgs: [],
  };
  let warmup: number | undefined;
  let steady: number | undefined;
  const positive = (name: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) fail(`--${name} needs a positive number; ${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string | undefined => argv[++i];
    if (arg === '--quick') o.quick = true;
    else if (arg === '--practices') o.practices = Math.floor(positive('practices', value()));
    else if (arg === '--no-heartbeats') o.heartbeats = false;
    else if (arg === '--no-exporter') o.exporter = false;
    else if (arg === '--warmup') warmup = positive('warmup', value());
    else if (arg === '--steady') steady = positive('steady', value());
    else if (arg === '--target-procs') o.targetProcs = Math.floor(positive('target-procs', value()));
    else if (arg === '--server-node-arg') o.serverNodeArgs.push(value() ?? fail(`--server-node-arg needs a node flag; ${USAGE}`));
    else if (arg === '--fail-mode') {
      const mode = value();
      if (mode !== 'refuse' && mode !== '503') fail(`--fail-mode is refuse or 503; ${USAGE}`);
      o.failMode = mode;
    } else fail(`unknown argument "${arg}"; ${USAGE}`);
  }
  if (o.practices > 20_000) fail('--practices: at most 20,000 (loopback hosts and the machine both run out)');
  if (o.quick) {
    // Still past the start-up burst (one interval and a bit), but a short steady state.
    o.warmupS = 35;
    o.steadyS = 45;
    o.exporterWarmupS = 5;
    o.exporterS = 15;
  }
  if (warmup !== undefined) o.warmupS = Math.max(warmup, INTERVAL_MS / 1000);
  if (steady !== undefined) o.steadyS = steady;
  return o;
}

// ---- child processes ------------------------------------------------------------------

const children = new Children();
/** The server runs in its own process group (its workers with it): killed as a group. */
let serverGroup: number | undefined;
let scratchDir: string | undefined;

function spawnChild(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return children.spawn(command, args, opts);
}

function killAll(): void {
  if (serverGroup !== undefined) {
    try {
      process.kill(-serverGroup, 'SIGKILL');
    } catch {
      // Already gone.
    }
    serverGroup = undefined;
  }
  children.killAll();
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

export { sleep };

export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function awaitMessage<T extends TargetMessage['type']>(child: ChildProcess, type: T): Promise<Extract<TargetMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: TargetMessage): void => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`target server: ${message.message}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message as Extract<TargetMessage, { type: T }>);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`target server exited (code ${code})`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

// ---- targets ---------------------------------------------------------------------------

interface Targets {
  port: number;
  pids: number[];
  counters(): Promise<{ connections: number; requests: number; reusedRequests: number }>;
  /** Sends a request to every target process and waits for each one's acknowledgement. */
  order(request: Extract<TargetRequest, { type: 'fail' | 'recover' }>): Promise<number>;
}

async function startTargets(hosts: number, procs: number): Promise<Targets> {
  const servers: ChildProcess[] = [];
  let port = 0;
  for (let k = 0; k < procs; k++) {
    const child = spawnChild(
      process.execPath,
      ['--import', 'tsx', 'test/bench/target.ts', '--hosts', String(hosts), '--first', String(k), '--stride', String(procs), '--port', String(port)],
      { ipc: true },
    );
    port = (await within(120_000, 'the target server to listen', awaitMessage(child, 'ready'))).port;
    servers.push(child);
  }
  return {
    port,
    pids: servers.map((s) => s.pid ?? 0),
    async counters() {
      const all = await Promise.all(
        servers.map((s) => {
          const reply = awaitMessage(s, 'counters');
          s.send({ type: 'counters' });
          return within(10_000, 'target counters', reply);
        }),
      );
      return {
        connections: all.reduce((n, c) => n + c.connections, 0),
        requests: all.reduce((n, c) => n + c.requests, 0),
        reusedRequests: all.reduce((n, c) => n + c.reusedRequests, 0),
      };
    },
    async order(request) {
      const acks = await Promise.all(
        servers.map((s) => {
          const reply = awaitMessage(s, request.type === 'fail' ? 'failed' : 'recovered');
          s.send(request);
          return within(60_000, `the targets to ${request.type}`, reply);
        }),
      );
      return acks.reduce((n, a) => n + a.hosts, 0);
    },
  };
}

// ---- the server ------------------------------------------------------------------------

interface Server {
  child: ChildProcess;
  pid: number;
  url: string;
  command: string;
  listeningAfterMs: number;
  log: () => string;
}

/** The compiled build when there is one (helper B's `npm run build`), else the TypeScript entry through tsx. */
function serverCommand(): { argv: string[]; label: string } {
  for (const built of ['dist/server/cli.js', 'dist/server/cli.mjs', 'dist/cli.js', 'dist/server.js']) {
    if (existsSync(join(ROOT, built))) return { argv: [built], label: `node ${built} (compiled build)` };
  }
  return { argv: ['--import', 'tsx', 'server/cli.ts'], label: 'node --import tsx server/cli.ts (no compiled build found)' };
}

async function startServer(estateFile: string, dataDir: string, extraEnv: Record<string, string>, nodeArgs: string[] = []): Promise<Server> {
  const { argv, label } = serverCommand();
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, PULSE_DATA_DIR: dataDir, NODE_ENV: 'production' };
  // As a user runs it: default workers (one per core), no metrics token, loopback.
  for (const name of ['PULSE_WORKERS', 'PULSE_METRICS_TOKEN', 'PORT', 'HOST', 'PULSE_CONFIG', 'PULSE_LOG_LEVEL']) delete env[name];
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, ...argv, '--config', estateFile, '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    env,
    detached: true, // its own process group: the bench kills it and its workers together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the server');
  serverGroup = pid;
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-8_000);
  };
  child.stderr?.on('data', keep);
  const url = await within(
    240_000,
    'the server to listen (it loads and validates the whole estate file first)',
    new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        keep(chunk);
        if (buffered === null) return;
        buffered += chunk.toString();
        const m = /Pulse is running at (http:\/\/\S+)/.exec(buffered);
        if (m) resolve(m[1]!);
        if (buffered.length > 1_000_000) buffered = buffered.slice(-10_000);
      });
      child.once('exit', (code, signal) => reject(new Error(`the server exited (code ${code}, signal ${signal}) before listening:\n${tail}`)));
    }),
  );
  return { child, pid, url, command: label, listeningAfterMs: performance.now() - started, log: () => tail };
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }, 20_000);
  await exited;
  clearTimeout(timer);
  try {
    process.kill(-server.pid, 'SIGKILL'); // any worker left behind
  } catch {
    // None.
  }
  serverGroup = undefined;
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!existsSync('/proc/self/stat')) fail('this bench reads /proc; it runs on Linux only');
  const quick = o.quick ? '[quick run] ' : '';
  const log = (line: string): void => {
    process.stdout.write(`${quick}${line}\n`);
  };
  const withHeartbeats = o.heartbeats && existsSync(join(ROOT, HEARTBEAT_LOAD));
  const withExporter = o.exporter && existsSync(EXPORTER);
  const failCap = 4 * INTERVAL_MS;
  const recoverCap = 3 * INTERVAL_MS;
  const budgetS = 300 + o.warmupS + o.steadyS + (failCap + recoverCap) / 1000 + (withExporter ? o.exporterWarmupS + o.exporterS + 30 : 0);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:national: still running after ${budgetS} s; giving up\n`);
    killAll();
    process.exit(1);
  }, budgetS * 1_000);
  watchdog.unref();

  scratchDir = mkdtempSync(join(tmpdir(), 'pulse-national-'));
  const dataDir = join(scratchDir, 'data');
  mkdirSync(dataDir);
  const checksPerPractice = 8;
  const agentsPerPractice = 20;
  const hb = withHeartbeats ? heartbeatPlan(o.practices * agentsPerPractice) : null;
  const tokenFile = join(scratchDir, 'fleet-token');
  const fleetToken = `bench-fleet-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  writeFileSync(tokenFile, fleetToken, { mode: 0o600 });

  // The hosts first (the estate names their port), then the estate file.
  const services = serviceCatalogue.length;
  const tcpServices = serviceCatalogue.filter((s) => s.check === 'tcp').length;
  const provisional = {
    checks: o.practices * checksPerPractice + services,
    httpChecks: o.practices * (checksPerPractice - 1) + services - tcpServices,
    tcpChecks: o.practices + tcpServices,
    hosts: o.practices + services,
  };
  log(
    `Pulse national bench: ${o.practices.toLocaleString('en-GB')} practices × ${checksPerPractice} checks every 30 s = ${provisional.checks.toLocaleString('en-GB')} checks ` +
      `(${provisional.httpChecks.toLocaleString('en-GB')} http, ${provisional.tcpChecks.toLocaleString('en-GB')} tcp, incl. one per shared service) on ${provisional.hosts.toLocaleString('en-GB')} loopback hosts; ` +
      `${CORES} cores; warm-up ${o.warmupS} s, steady ${o.steadyS} s, then a mass failure`,
  );
  const targets = await startTargets(provisional.hosts, o.targetProcs);
  const estate = nationalEstate({
    practices: o.practices,
    checksPerPractice,
    tcpPerPractice: 1,
    interval: '30s',
    timeout: '5s',
    port: targets.port,
    fleet: hb ? { tokenFile, interval: hb.fleetInterval, expectedAgents: agentsPerPractice } : null,
    seed: 14,
  });
  const estateFile = join(scratchDir, 'estate.yaml');
  writeFileSync(estateFile, estate.text);
  log(`targets: ${targets.pids.length} process(es) on port ${targets.port}; estate file ${estateFile}`);

  // A display link for the live feed, made in the data folder before the server opens it.
  const store = new SqliteStore(dataDir);
  const { secret: display } = await store.accounts.createToken({ kind: 'display', name: 'bench-national', icb: null, createdBy: 'bench', now: Date.now() });
  await store.close();

  const server = await startServer(estateFile, dataDir, {}, o.serverNodeArgs);
  log(`server: ${server.command}, pid ${server.pid}, listening at ${server.url} ${(server.listeningAfterMs / 1000).toFixed(1)} s after start`);
  const tree = new ProcessTree(server.pid);
  tree.start();

  const poller = spawnChild(process.execPath, ['--import', 'tsx', 'test/bench/national-poll.ts', '--url', server.url, '--every', '100'], { ipc: true });
  await within(30_000, 'the /healthz poller', new Promise<void>((resolve) => poller.once('message', () => resolve())));
  const healthz = async (): Promise<[number, number, number][]> => {
    const reply = new Promise<[number, number, number][]>((resolve) =>
      poller.once('message', (m: { samples: [number, number, number][] }) => resolve(m.samples)),
    );
    poller.send({ type: 'samples' });
    return within(30_000, 'the /healthz samples', reply);
  };

  const scrapes: Scrape[] = [];
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const next = Date.now() + 15_000;
      scrapes.push(await scrapeMetrics(server.url));
      while (scraping && Date.now() < next) await sleep(200);
    }
  })();

  const live = new LiveView(`${server.url.replace(/^http/, 'ws')}/ws?display=${display}`);
  await within(120_000, 'the live feed snapshot', live.open());

  let heartbeats: HeartbeatLoad | null = null;
  let heartbeatReport: HeartbeatReport | null = null;
  const rssBeforeHeartbeats = tree.sample().serverRssKiB;
  if (hb) {
    heartbeats = await startHeartbeats({ spawn: (args) => spawnChild(process.execPath, args, { ipc: true }), dir: scratchDir, url: server.url, practices: estate.practices.map((p) => p.ods), agentsPerPractice, token: fleetToken, plan: hb });
    log(`heartbeats: ${HEARTBEAT_LOAD} posting from ${(o.practices * agentsPerPractice).toLocaleString('en-GB')} agents at ${hb.rate.toLocaleString('en-GB')}/s (fleet interval ${hb.fleetInterval})`);
  } else {
    log(o.heartbeats ? `heartbeats: not measured (${HEARTBEAT_LOAD} absent)` : 'heartbeats: not measured (--no-heartbeats)');
  }

  // ---- warm-up -----------------------------------------------------------------------
  log(`warm-up ${o.warmupS} s (past the start-up burst) …`);
  const warmFrom = Date.now();
  await sleep(o.warmupS * 1_000);
  // Past the start-up burst means the scheduler has caught up: wait (up to 3 more intervals)
  // until a scrape after the warm-up shows the workers' lag under 1 s.
  const settled = (): Scrape | undefined => scrapes.findLast((sc) => sc.at > warmFrom + o.warmupS * 1_000 && sc.status === 200);
  const warmCap = Date.now() + 3 * INTERVAL_MS;
  while (Date.now() < warmCap && !((settled()?.values.get('pulse_scheduler_lag_seconds') ?? Infinity) < 1)) await sleep(500);
  const lagAtStart = settled()?.values.get('pulse_scheduler_lag_seconds');
  log(
    `warm-up ended after ${((Date.now() - warmFrom) / 1000).toFixed(0)} s; scheduler lag then ${lagAtStart === undefined ? 'unknown (no scrape answered)' : `${(lagAtStart * 1000).toFixed(0)} ms`}` +
      (lagAtStart !== undefined && lagAtStart < 1 ? '' : ' — NOT caught up: the steady state below starts behind'),
  );
  const rssAfterWarmup = tree.sample().serverRssKiB;

  // ---- steady state ------------------------------------------------------------------
  log(`steady state ${o.steadyS} s …`);
  const s0 = tree.sample();
  // Everything else on the machine in the window: the targets, the heartbeat load, this bench.
  const otherPids = [...targets.pids, ...(heartbeats ? [heartbeats.pid] : []), poller.pid ?? 0];
  const others0 = otherPids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const bench0 = process.cpuUsage();
  const machine0 = machineTicks();
  const c0 = await targets.counters();
  const d0 = folderBytes(dataDir, false);
  const steadyFrom = Date.now();
  await heartbeats?.mark();
  await sleep(o.steadyS * 1_000);
  const s1 = tree.sample();
  const othersMs = otherPids.reduce((sum, pid) => sum + cpuMsOf(pid), 0) - others0;
  const benchUsage = process.cpuUsage(bench0);
  const machine1 = machineTicks();
  const c1 = await targets.counters();
  const d1 = folderBytes(dataDir, false);
  const wal = folderBytes(dataDir) - d1;
  const steadyTo = Date.now();
  if (heartbeats) heartbeatReport = await heartbeats.report();

  // ---- mass failure -------------------------------------------------------------------
  const failedIndexes = estate.practices.flatMap((p, i) => (p.system === 'emis-web' ? [i] : []));
  const failedOds = failedIndexes.map((i) => estate.practices[i]!.ods);
  const upBefore = live.count(failedOds, (s) => s === 'up');
  const byStatus = new Map<string, number>();
  for (const status of live.status.values()) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  log(`live feed before the failure: ${[...byStatus].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')} (of ${live.status.size} practices)`);
  const causes = new Map<string, number>();
  for (const [ods, status] of live.status) {
    if (status === 'up') continue;
    const cause = (live.cause.get(ods) ?? '').replace(/\d+/g, 'N').slice(0, 90);
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  for (const [cause, count] of [...causes].sort((a, b) => b[1] - a[1]).slice(0, 4)) log(`  ${count} not up: ${cause || '(no cause given)'}`);
  // Only practices not already down can show the failure being detected.
  const eligibleOds = failedOds.filter((ods) => live.status.get(ods) !== 'down');
  log(`mass failure: the hosts of all ${failedOds.length.toLocaleString('en-GB')} EMIS Web practices stop answering (${o.failMode}); ${upBefore} of them were up …`);
  const failedHosts = await targets.order({ type: 'fail', hosts: failedIndexes, mode: o.failMode });
  const failAt = Date.now();
  const failDeadline = failAt + failCap;
  while (Date.now() < failDeadline && live.count(eligibleOds, (s) => s === 'down') < eligibleOds.length) await sleep(250);
  const detected = live.delays(eligibleOds, failAt, (s) => s === 'down');
  const failEnd = Date.now();

  // ---- recovery -------------------------------------------------------------------------
  log('recovery: the hosts answer again …');
  await targets.order({ type: 'recover', hosts: failedIndexes });
  const recoverAt = Date.now();
  const recoverDeadline = recoverAt + recoverCap;
  const wentDown = eligibleOds.filter((ods) => live.status.get(ods) === 'down');
  while (Date.now() < recoverDeadline && live.count(wentDown, (s) => s === 'down') > 0) await sleep(250);
  const recovered = live.delays(wentDown, recoverAt, (s) => s !== 'down');
  const recoverEnd = Date.now();
  const finalSample = tree.sample();

  const polls = await healthz();
  scraping = false;
  await scraper;
  if (heartbeats && !heartbeatReport) heartbeatReport = await heartbeats.report();
  await heartbeats?.stop();
  const liveClosed = live.closed;
  live.close();
  await stopChild(poller);
  await stopServer(server);
  tree.stop();

  // ---- the peer ----------------------------------------------------------------------------
  let exporter: ExporterRun | null = null;
  let exporterNote: string;
  if (withExporter) {
    log(`peer: ${exporterVersion()}, http_2xx on the same targets at the same rate (${Math.round(estate.checks / 30).toLocaleString('en-GB')}/s), after Pulse stopped …`);
    const urls = Array.from({ length: estate.checks }, (_, i) => estate.httpUrls[i % estate.httpUrls.length]!);
    exporter = await runExporter({
      urls,
      intervalMs: INTERVAL_MS,
      timeoutMs: 5_000,
      warmupMs: o.exporterWarmupS * 1_000,
      windowMs: o.exporterS * 1_000,
      dir: scratchDir,
      spawn: (command, args) => spawnChild(command, args),
      stop: (child) => stopChild(child),
      otherPids: targets.pids,
    });
    const failures = [...exporter.failures].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    log(`peer: ${exporter.completed.toLocaleString('en-GB')} answered, ${exporter.unanswered.toLocaleString('en-GB')} unanswered; failures: ${failures || 'none'}; driver ${(exporter.driverCores * 100).toFixed(0)} % of a core, targets ${((exporter.othersCpuMs / exporter.wallMs) * 100).toFixed(0)} %, machine ${(exporter.machineBusy * 100).toFixed(0)} % busy`);
    exporterNote = `blackbox_exporter answered ${exporter.completed.toLocaleString('en-GB')} of ${Math.round(exporter.targetRate * o.exporterS).toLocaleString('en-GB')} probes in ${o.exporterS} s`;
  } else {
    exporterNote = o.exporter ? `blackbox_exporter: not measured (${EXPORTER} absent)` : 'blackbox_exporter: not measured (--no-exporter)';
  }

  const figures: Figures = {
    options: o,
    cores: CORES,
    server: { command: server.command, listeningAfterMs: server.listeningAfterMs },
    estate: { practices: o.practices, checks: estate.checks, httpChecks: estate.httpChecks, tcpChecks: estate.tcpChecks, agents: hb ? o.practices * agentsPerPractice : 0 },
    steady: {
      fromMs: steadyFrom,
      toMs: steadyTo,
      cpuMs: s1.cpuMs - s0.cpuMs,
      wallMs: s1.at - s0.at,
      checksDone: c1.connections - c0.connections,
      reused: c1.reusedRequests - c0.reusedRequests,
      rssSamples: tree.between(steadyFrom, steadyTo),
      workers: s1.workers,
      dataBytes: [d0, d1],
      walBytes: wal,
      othersCores: othersMs / (s1.at - s0.at),
      benchCores: (benchUsage.user + benchUsage.system) / 1000 / (s1.at - s0.at),
      machineBusy: (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total),
    },
    rss: { beforeHeartbeats: rssBeforeHeartbeats, afterWarmup: rssAfterWarmup, final: totalRss(finalSample) },
    failure: { fromMs: failAt, toMs: recoverEnd, failEndMs: failEnd, practices: failedOds.length, eligible: eligibleOds.length, wentDown: wentDown.length, hosts: failedHosts, upBefore, detected, recovered, mode: o.failMode },
    polls,
    scrapes,
    heartbeats: heartbeatReport,
    heartbeatNote: hb ? null : o.heartbeats ? `heartbeats: not measured (${HEARTBEAT_LOAD} absent)` : 'heartbeats: not measured (--no-heartbeats)',
    exporter,
    exporterNote,
    liveClosed,
  };
  printReport(figures, log);
  clearTimeout(watchdog);
  killAll();
}

const CORES = availableParallelism();

process.once('SIGINT', () => {
  process.stderr.write('bench:national: interrupted; stopping every child process\n');
  killAll();
  process.exit(130);
});
process.once('SIGTERM', () => {
  killAll();
  process.exit(143);
});
process.on('exit', killAll);

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:national: harness failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killAll();
    process.exit(1);
  },
);

export { percentile };
