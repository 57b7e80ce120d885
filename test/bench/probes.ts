// Probe-engine benchmark (`npm run bench:probes`): can one small server watch all
// of England? Runs the real probe worker (probes/worker.ts: the real Scheduler and
// the real `http` kind, fed over the real /workers protocol) against a loopback
// estate of many hosts, at 10,000 and 50,000 checks on a 30 s interval, and
// measures the worker process from outside (/proc): CPU per check, start lag,
// resident memory. Then, when Debian's prometheus-blackbox-exporter is installed,
// drives it at the same probe rate against the same estate and prints its CPU per
// probe beside ours.
// Everything listens on loopback only; every phase is bounded in time; every child
// process is killed on exit, on error and on SIGINT/SIGTERM. It installs nothing.
//
// Hosts: the scheduler bounds runs per host *name* (a gateway serving several ports
// is one machine), so the estate is many loopback addresses (127.0.0.2 upwards,
// 8 checks per address by default, like a practice's handful of services), all
// served by one small node:http process on one port.
//
//   node --import tsx test/bench/probes.ts [--seconds N] [--warmup N] [--quick]
//        [--sizes 10000,50000] [--checks-per-host 8] [--target-procs 1] [--workers 1]
//        [--no-exporter] [--profile DIR] [--worker-node-arg FLAG]…
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerToWorker, WorkerToServer } from '../../probes/protocol';
import { phaseOf } from '../../probes/scheduler';
import type { CheckAssignment } from '../../probes/types';
import { Children, sleep, stopChild, type SpawnOptions } from './children';
import { hostAddress, type TargetMessage } from './estate';
import { EXPORTER, cpuMsOf, exporterVersion, machineTicks, rssKiBOf, runExporter } from './exporter';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'bench-token';

// ---- options ----------------------------------------------------------------

interface BenchOptions {
  seconds: number;
  warmup: number;
  exporterWarmup: number;
  sizes: number[];
  intervalMs: number;
  timeoutMs: number;
  checksPerHost: number;
  targetProcs: number;
  /** Worker processes sharing the checks (the server runs one per core). */
  workers: number;
  exporter: boolean;
  profileDir: string | undefined;
  /** Extra node flags for the worker (e.g. --trace-gc); its stdout is then shown. */
  workerNodeArgs: string[];
  /** How long to wait after a window for results of runs started in it. */
  graceMs: number;
}

const USAGE =
  'usage: node --import tsx test/bench/probes.ts [--seconds N] [--warmup N] [--quick] [--sizes 10000,50000] ' +
  '[--checks-per-host N] [--target-procs N] [--workers N] [--no-exporter] [--profile DIR] [--worker-node-arg FLAG]…';

function parseOptions(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    seconds: 40,
    warmup: 30,
    exporterWarmup: 10,
    sizes: [10_000, 50_000],
    intervalMs: 30_000,
    timeoutMs: 5_000,
    checksPerHost: 8,
    targetProcs: 1,
    workers: 1,
    exporter: true,
    profileDir: undefined,
    workerNodeArgs: [],
    graceMs: 1_500,
  };
  let quick = false;
  let seconds: number | undefined;
  let warmup: number | undefined;
  const positive = (name: string, value: string | undefined): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) fail(`--${name} needs a positive number; ${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (arg) {
      case '--quick':
        quick = true;
        break;
      case '--seconds':
        seconds = positive('seconds', value());
        break;
      case '--warmup':
        warmup = positive('warmup', value());
        break;
      case '--sizes':
        options.sizes = (value() ?? '').split(',').map((s) => Math.floor(positive('sizes', s)));
        break;
      case '--checks-per-host':
        options.checksPerHost = Math.floor(positive('checks-per-host', value()));
        break;
      case '--workers':
        options.workers = Math.floor(positive('workers', value()));
        break;
      case '--target-procs':
        options.targetProcs = Math.floor(positive('target-procs', value()));
        break;
      case '--no-exporter':
        options.exporter = false;
        break;
      case '--profile':
        options.profileDir = value() ?? fail(`--profile needs a directory; ${USAGE}`);
        break;
      case '--worker-node-arg':
        options.workerNodeArgs.push(value() ?? fail(`--worker-node-arg needs a node flag; ${USAGE}`));
        break;
      default:
        fail(`unknown argument "${arg}"; ${USAGE}`);
    }
  }
  if (quick) {
    // A sanity run: every phase for a few seconds, under half a minute in all.
    options.seconds = 3;
    options.warmup = 2;
    options.exporterWarmup = 1;
    options.graceMs = 500;
  }
  if (seconds !== undefined) options.seconds = seconds;
  if (warmup !== undefined) options.warmup = warmup;
  return options;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

// ---- child processes ----------------------------------------------------------

const children = new Children();
let scratchDir: string | undefined;

function spawnChild(command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return children.spawn(command, args, opts);
}

function killAll(): void {
  children.killAll();
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- measuring a process from outside -------------------------------------------

const CORES = availableParallelism();

/** CPU and memory of the measured processes (summed) over a window, and the CPU of some others beside them. */
class ProcessMeter {
  private cpuStart = 0;
  private startedAt = 0;
  private machineStart = { busy: 0, total: 0 };
  private peakRssKiB = 0;
  private sampler: ReturnType<typeof setInterval> | undefined;
  private othersStart = 0;

  constructor(
    private readonly pids: number[],
    private readonly otherPids: number[] = [],
  ) {}

  private cpu(pids: number[]): number {
    return pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  }

  private rss(): number {
    return this.pids.reduce((sum, pid) => sum + rssKiBOf(pid), 0);
  }

  start(): void {
    this.startedAt = performance.now();
    this.cpuStart = this.cpu(this.pids);
    this.othersStart = this.cpu(this.otherPids);
    this.machineStart = machineTicks();
    this.peakRssKiB = this.rss();
    this.sampler = setInterval(() => {
      this.peakRssKiB = Math.max(this.peakRssKiB, this.rss());
    }, 1_000);
  }

  stop(): { cpuMs: number; wallMs: number; peakRssKiB: number; machineBusy: number; othersCpuMs: number } {
    clearInterval(this.sampler);
    const cpuMs = this.cpu(this.pids) - this.cpuStart;
    const wallMs = performance.now() - this.startedAt;
    this.peakRssKiB = Math.max(this.peakRssKiB, this.rss());
    const machine = machineTicks();
    const machineBusy = (machine.busy - this.machineStart.busy) / Math.max(1, machine.total - this.machineStart.total);
    const othersCpuMs = this.cpu(this.otherPids) - this.othersStart;
    return { cpuMs, wallMs, peakRssKiB: this.peakRssKiB, machineBusy, othersCpuMs };
  }
}

// ---- the loopback estate ------------------------------------------------------------

interface Estate {
  port: number;
  pids: number[];
  counters(): Promise<{ connections: number; requests: number; keepAliveRequests: number; reusedRequests: number }>;
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

async function startEstate(hosts: number, procs: number): Promise<Estate> {
  const servers: ChildProcess[] = [];
  let port = 0;
  for (let k = 0; k < procs; k++) {
    const child = spawnChild(
      process.execPath,
      ['--import', 'tsx', 'test/bench/target.ts', '--hosts', String(hosts), '--first', String(k), '--stride', String(procs), '--port', String(port)],
      { ipc: true },
    );
    const ready = await within(60_000, 'the target server to listen', awaitMessage(child, 'ready'));
    port = ready.port;
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
          return within(5_000, 'target counters', reply);
        }),
      );
      return {
        connections: all.reduce((n, c) => n + c.connections, 0),
        requests: all.reduce((n, c) => n + c.requests, 0),
        keepAliveRequests: all.reduce((n, c) => n + c.keepAliveRequests, 0),
        reusedRequests: all.reduce((n, c) => n + c.reusedRequests, 0),
      };
    },
  };
}

function targetUrl(estate: Estate, checkIndex: number, checksPerHost: number): string {
  return `http://${hostAddress(Math.floor(checkIndex / checksPerHost))}:${estate.port}/`;
}

// ---- one row of the table ---------------------------------------------------------------

interface Row {
  engine: string;
  checks: number;
  targetRate: number;
  achievedRate: number;
  cpuMsPerCheck: number;
  cpuCores: number;
  lagP50Ms: number | undefined;
  lagP99Ms: number | undefined;
  lagMaxMs: number | undefined;
  rssMiB: number;
  rssKiBPerCheck: number;
  /** Requests the estate saw on a connection that had already carried one: 0 when every probe opened a fresh one. */
  reusedRequests: number;
  failures: Map<string, number>;
  notes: string[];
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

function describeFailures(failures: Map<string, number>): string {
  if (failures.size === 0) return 'none';
  return [...failures].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(' ');
}

// ---- Pulse ----------------------------------------------------------------------------

/** The bench's side of /workers: accepts one worker, hands it the checks, collects what it sends. */
class FakeGateway {
  readonly wss: WebSocketServer;
  private waiting: ((ws: WebSocket) => void) | undefined;

  constructor() {
    this.wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/workers',
      maxPayload: 4 * 1024 * 1024, // as the real server
      verifyClient: (info, done) => done(info.req.headers.authorization === `Bearer ${TOKEN}`, 401, 'Unauthorized'),
    });
    this.wss.on('connection', (ws) => {
      const waiter = this.waiting;
      this.waiting = undefined;
      if (waiter) waiter(ws);
      else ws.terminate();
    });
  }

  async url(): Promise<string> {
    if (!this.wss.address()) await new Promise((resolve) => this.wss.once('listening', resolve));
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  nextConnection(): Promise<WebSocket> {
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

async function benchPulse(size: number, estate: Estate, gateway: FakeGateway, options: BenchOptions): Promise<Row> {
  const { intervalMs, timeoutMs, checksPerHost, workers } = options;
  const offsets = new Map<string, number>();
  // Contiguous shares, so a host's checks stay with one worker (its per-host bound then means what it says).
  const shares: CheckAssignment[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < size; i++) {
    const id = `bench-${i}`;
    shares[Math.floor((i * workers) / size)]?.push({ id, kind: 'http', target: targetUrl(estate, i, checksPerHost), intervalMs, timeoutMs, options: {} });
    offsets.set(id, Math.floor(phaseOf(id) * intervalMs));
  }

  // Results are counted by when their run started, so a window holds exactly the runs due in it.
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let completed = 0;
  let lags: number[] = [];
  let latencies: number[] = [];
  const failures = new Map<string, number>();
  let reportedLagMaxMs = 0;
  let reportedRunningMax = 0;
  const onMessage = (message: WorkerToServer): void => {
    if (message.type === 'stats') {
      if (Date.now() >= windowStart && Date.now() <= windowEnd + 1_000) {
        reportedLagMaxMs = Math.max(reportedLagMaxMs, message.lagMs);
        reportedRunningMax = Math.max(reportedRunningMax, message.running);
      }
    } else if (message.type === 'results') {
      for (const r of message.results) {
        if (r.at < windowStart || r.at >= windowEnd) continue;
        completed++;
        const offset = offsets.get(r.checkId) ?? 0;
        lags.push((((r.at - offset) % intervalMs) + intervalMs) % intervalMs);
        latencies.push(r.latencyMs);
        if (!r.ok) failures.set(r.error, (failures.get(r.error) ?? 0) + 1);
      }
    }
  };

  const nodeArgs = [...(options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : []), ...options.workerNodeArgs];
  const running: { child: ChildProcess; ws: WebSocket; log: () => string }[] = [];
  for (const share of shares) {
    const connection = gateway.nextConnection();
    const child = spawnChild(process.execPath, [...nodeArgs, '--import', 'tsx', 'probes/worker.ts'], {
      env: { PATH: process.env.PATH ?? '', PULSE_SERVER_URL: await gateway.url(), PULSE_WORKER_TOKEN: TOKEN, PULSE_LOCATION: 'bench' },
      stdout: options.workerNodeArgs.length > 0,
    });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4_000);
    });
    const ws = await within(30_000, `the worker to connect (${log})`, connection);
    const hello = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as WorkerToServer;
        if (message.type === 'hello') resolve();
        else onMessage(message);
      });
    });
    await within(30_000, 'the worker hello', hello);
    const assign: ServerToWorker = { type: 'assign', checks: share };
    ws.send(JSON.stringify(assign));
    running.push({ child, ws, log: () => log });
  }
  // The warm-up starts once every worker has taken its checks in (it logs "assigned N check(s)").
  await within(60_000, 'the workers to take their checks in', (async () => {
    while (!running.every((w) => /assigned \d+ check/.test(w.log()))) await sleep(50);
  })());
  const pids = running.map((w) => w.child.pid ?? fail('could not start a worker'));

  await sleep(options.warmup * 1_000);
  const meter = new ProcessMeter(pids, estate.pids);
  const before = await estate.counters();
  windowStart = Date.now();
  windowEnd = windowStart + options.seconds * 1_000;
  meter.start();
  await sleep(options.seconds * 1_000);
  const measured = meter.stop();
  const after = await estate.counters();
  // Let runs started just before the end report (loopback answers in milliseconds; batches flush every 250 ms).
  await sleep(options.graceMs);
  for (const w of running) {
    const died = w.child.exitCode !== null;
    await stopChild(w.child);
    w.ws.terminate();
    if (died) throw new Error(`a worker exited during the run: ${w.log()}`);
  }

  const sorted = Float64Array.from(lags).sort();
  lags = [];
  const latency = Float64Array.from(latencies).sort();
  latencies = [];
  const windowSeconds = measured.wallMs / 1000;
  const requests = after.requests - before.requests;
  const connections = after.connections - before.connections;
  const whose = workers === 1 ? "the worker's" : `the ${workers} workers'`;
  return {
    engine: workers === 1 ? 'Pulse worker only' : `Pulse, ${workers} workers only`,
    checks: size,
    targetRate: size / (intervalMs / 1000),
    achievedRate: completed / options.seconds,
    cpuMsPerCheck: completed > 0 ? measured.cpuMs / completed : Number.NaN,
    cpuCores: measured.cpuMs / measured.wallMs,
    lagP50Ms: percentile(sorted, 0.5),
    lagP99Ms: percentile(sorted, 0.99),
    lagMaxMs: sorted.length > 0 ? (sorted[sorted.length - 1] ?? 0) : 0,
    rssMiB: measured.peakRssKiB / 1024,
    rssKiBPerCheck: measured.peakRssKiB / size,
    reusedRequests: after.reusedRequests - before.reusedRequests,
    failures,
    notes: [
      `target server ${((measured.othersCpuMs / measured.wallMs) * 100).toFixed(0)}% of a core; machine ${(measured.machineBusy * 100).toFixed(0)}% busy over ${windowSeconds.toFixed(1)} s, ` +
        `of which ${Math.max(0, measured.machineBusy * CORES - (measured.cpuMs + measured.othersCpuMs) / measured.wallMs).toFixed(2)} cores neither ${whose} nor the target's`,
      `scheduler's own 5-s reports: worst lag ${reportedLagMaxMs} ms, at most ${reportedRunningMax} runs in flight in a worker; ` +
        `probe latency p50 ${percentile(latency, 0.5).toFixed(1)} ms, p99 ${percentile(latency, 0.99).toFixed(1)} ms`,
      `${requests} requests reached the estate on ${connections} connections (${after.keepAliveRequests - before.keepAliveRequests} without "Connection: close")`,
    ],
  };
}

// ---- blackbox_exporter ------------------------------------------------------------------

async function benchExporter(size: number, estate: Estate, options: BenchOptions, dir: string): Promise<Row> {
  const urls: string[] = [];
  for (let i = 0; i < size; i++) urls.push(targetUrl(estate, i, options.checksPerHost));
  let before = { connections: 0, requests: 0, keepAliveRequests: 0, reusedRequests: 0 };
  let after = before;
  const run = await runExporter({
    urls,
    intervalMs: options.intervalMs,
    timeoutMs: options.timeoutMs,
    warmupMs: options.exporterWarmup * 1_000,
    windowMs: options.seconds * 1_000,
    dir,
    spawn: (command, args) => spawnChild(command, args),
    stop: (child) => stopChild(child),
    otherPids: estate.pids,
    beforeWindow: async () => {
      before = await estate.counters();
    },
    afterWindow: async () => {
      after = await estate.counters();
    },
  });
  const requests = after.requests - before.requests;
  const connections = after.connections - before.connections;
  return {
    engine: 'blackbox_exporter',
    checks: size,
    targetRate: run.targetRate,
    achievedRate: run.achievedRate,
    cpuMsPerCheck: run.cpuMsPerProbe,
    cpuCores: run.cpuMs / run.wallMs,
    lagP50Ms: undefined,
    lagP99Ms: undefined,
    lagMaxMs: undefined,
    rssMiB: run.peakRssKiB / 1024,
    rssKiBPerCheck: run.peakRssKiB / size,
    reusedRequests: after.reusedRequests - before.reusedRequests,
    failures: run.failures,
    notes: [
      `target server ${((run.othersCpuMs / run.wallMs) * 100).toFixed(0)}% of a core, the bench's driver ${(run.driverCores * 100).toFixed(0)}%, machine ${(run.machineBusy * 100).toFixed(0)}% busy` +
        (run.unanswered > 0 ? `; ${run.unanswered} probes sent in the window got no answer (not counted as done)` : ''),
      `${requests} requests reached the estate on ${connections} connections (${after.keepAliveRequests - before.keepAliveRequests} without "Connection: close")`,
    ],
  };
}

// ---- output ---------------------------------------------------------------------------

function table(rows: Row[]): string {
  const fmt = (n: number | undefined, digits = 0): string => (n === undefined ? '—' : n.toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  const header = ['engine', 'checks', 'target/s', 'achieved/s', 'CPU-ms/check', 'CPU cores', 'lag p50 ms', 'lag p99 ms', 'lag max ms', 'RSS MiB', 'RSS KiB/check', 'reused conns', 'failures'];
  const body = rows.map((r) => [
    r.engine,
    fmt(r.checks),
    fmt(r.targetRate),
    fmt(r.achievedRate),
    fmt(r.cpuMsPerCheck, 3),
    fmt(r.cpuCores, 2),
    fmt(r.lagP50Ms),
    fmt(r.lagP99Ms),
    fmt(r.lagMaxMs),
    fmt(r.rssMiB),
    fmt(r.rssKiBPerCheck, 1),
    fmt(r.reusedRequests),
    describeFailures(r.failures),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync('/proc/self/stat')) fail('this bench reads /proc; it runs on Linux only');
  const exporterInstalled = existsSync(EXPORTER);
  const withExporter = options.exporter && exporterInstalled;
  const maxSize = Math.max(...options.sizes);
  const hosts = Math.ceil(maxSize / options.checksPerHost);
  const perPhase = options.warmup + options.seconds + 5 + (withExporter ? options.exporterWarmup + options.seconds + 8 : 0);
  const budgetS = 30 + options.sizes.length * perPhase;
  // A hard ceiling whatever happens: the bench must never hang a CI job.
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after ${budgetS + 60} s; giving up\n`);
    killAll();
    process.exit(1);
  }, (budgetS + 60) * 1_000);
  watchdog.unref();

  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  log(
    `Pulse probe bench ${WORKER_ONLY}: ${options.sizes.map((s) => s.toLocaleString('en-GB')).join(' and ')} http checks every ${options.intervalMs / 1000} s ` +
      `against ${hosts.toLocaleString('en-GB')} loopback hosts (${options.checksPerHost} checks each); ` +
      `warm-up ${options.warmup} s, then ${options.seconds} s measured; about ${Math.ceil(budgetS / 60)} min in all`,
  );
  scratchDir = mkdtempSync(join(tmpdir(), 'pulse-bench-'));
  const estate = await startEstate(hosts, options.targetProcs);
  log(`estate: ${hosts} hosts on port ${estate.port} (127.0.0.2 … ${hostAddress(hosts - 1)}), ${options.targetProcs} process(es)`);
  const gateway = new FakeGateway();
  await gateway.url();
  if (withExporter) {
    const version = exporterVersion();
    log(`peer: ${version.trim()}, http module on loopback (fresh connection per probe: checked at the estate below)`);
  }

  const rows: Row[] = [];
  for (const size of options.sizes) {
    log(`\n— Pulse (${options.workers === 1 ? 'one worker' : `${options.workers} workers`}), ${size.toLocaleString('en-GB')} checks …`);
    const pulse = await benchPulse(size, estate, gateway, options);
    rows.push(pulse);
    for (const note of pulse.notes) log(`  ${note}`);
    if (withExporter) {
      log(`— blackbox_exporter, ${size.toLocaleString('en-GB')} probes per ${options.intervalMs / 1000} s …`);
      const theirs = await benchExporter(size, estate, options, scratchDir);
      rows.push(theirs);
      for (const note of theirs.notes) log(`  ${note}`);
    }
  }
  await gateway.close();

  log(`\n${table(rows)}\n`);
  if (!exporterInstalled && options.exporter) {
    log(
      `blackbox_exporter comparison skipped: ${EXPORTER} is not installed ` +
        '(apt-get install -y --no-install-recommends prometheus-blackbox-exporter)',
    );
  }
  for (const size of options.sizes) {
    const ours = rows.find((r) => r.engine.startsWith('Pulse') && r.checks === size);
    const theirs = rows.find((r) => r.engine === 'blackbox_exporter' && r.checks === size);
    if (ours && theirs) log(`${WORKER_ONLY} ${ratioLine(size, ours, theirs)}`);
  }
  const big = rows.find((r) => r.engine.startsWith('Pulse') && r.checks === 50_000);
  if (big) {
    const theirs = rows.find((r) => r.engine === 'blackbox_exporter' && r.checks === 50_000);
    const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');
    log('\nTargets at 50,000 checks / 30 s:');
    log(`  rate ≥ 99% of ${big.targetRate.toFixed(0)}/s: ${big.achievedRate.toFixed(0)}/s — ${verdict(big.achievedRate >= 0.99 * big.targetRate)}`);
    log(`  lag p99 ≤ 500 ms: ${big.lagP99Ms} ms — ${verdict((big.lagP99Ms ?? Infinity) <= 500)}`);
    log(`  RSS ≤ 600 MiB: ${big.rssMiB.toFixed(0)} MiB — ${verdict(big.rssMiB <= 600)}`);
    log(`  a fresh connection per check: ${big.reusedRequests} requests on a reused connection — ${verdict(big.reusedRequests === 0)}`);
    if (theirs) {
      const why = noRatio(big, theirs);
      log(
        why
          ? `  ${WORKER_ONLY} CPU per check ≤ blackbox_exporter's: no ratio (${why}) — NOT met`
          : `  ${WORKER_ONLY} CPU per check ≤ blackbox_exporter's: ratio ${(big.cpuMsPerCheck / theirs.cpuMsPerCheck).toFixed(2)} — ${verdict(big.cpuMsPerCheck <= theirs.cpuMsPerCheck)}`,
      );
    }
  }
  clearTimeout(watchdog);
  killAll();
}

/** Every figure here leaves the server out (the workers report to a stand-in gateway). */
const WORKER_ONLY = '[workers only, server not measured]';

/** Why two runs cannot be compared: either answered under 90 % of what it was asked. */
function noRatio(ours: Row, theirs: Row): string | null {
  for (const r of [ours, theirs]) {
    const share = r.targetRate > 0 ? r.achievedRate / r.targetRate : 0;
    if (!(share >= 0.9) || !Number.isFinite(r.cpuMsPerCheck)) return `${r.engine} completed ${(share * 100).toFixed(0)} % of its probes`;
  }
  return null;
}

function ratioLine(size: number, ours: Row, theirs: Row): string {
  const head = `CPU per check at ${size.toLocaleString('en-GB')}: Pulse ${ours.cpuMsPerCheck.toFixed(3)} ms, blackbox_exporter ${theirs.cpuMsPerCheck.toFixed(3)} ms; `;
  const why = noRatio(ours, theirs);
  return why ? `${head}no ratio: ${why}` : `${head}ours ÷ theirs = ${(ours.cpuMsPerCheck / theirs.cpuMsPerCheck).toFixed(2)}`;
}

process.once('SIGINT', () => {
  process.stderr.write('bench: interrupted; stopping every child process\n');
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
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
