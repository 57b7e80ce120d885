// `npm run bench:heartbeats` (issue 14): workstation heartbeat intake at national scale.
// Starts the real server (the compiled build when `npm run build` has made one that is newer
// than the server's sources, else `node --import tsx server/cli.ts`; it says which) over a
// generated estate of 6,300 practices with fleets of 20 agents (126,000 distinct agents, each
// practice its own token), PULSE_DATA_DIR in a temporary folder, and offers heartbeats from
// the load child (test/bench/heartbeat-load.ts) at a fixed rate over keep-alive sockets (as a
// reverse proxy in front would: rate × 50 ms of them, 250 at 5,000/s; --connections N).
//
//   phase 1  heartbeats alone (no checks in the estate, no probe workers)
//   phase 2  with --with-checks: the same, beside 8 HTTP checks per practice at a 30 s interval
//            against loopback targets (test/bench/target.ts, one address per practice), run by the server's two workers
//
// Figures, each with its target and met / NOT met: accepted heartbeats/s (≥ 5,000), latency
// p50 / p99 (≤ 50 ms) / max, server CPU ms per heartbeat (< 0.1 on this 2-core machine, where the
// server shares the cores with workers and the load generator; user + system time from /proc,
// over the measured window, divided by the requests answered in it), RSS growth per agent
// (the RSS floor once a fifth of the agents have been accepted and again once all 126,000 have,
// over the agents added between), and beats the generator could not send on time.
//
//   npm run bench:heartbeats -- [--quick] [--rate N] [--with-checks] [--seconds N] [--tsx]
//                               [--practices N] [--fleet-size N] [--profile DIR] [--connections N]
// --quick: 15 s measured after the first pass over all agents (which itself takes 25 s at 5,000/s);
// it says it is short. --profile DIR: the server runs with --cpu-prof into DIR (tsx only).
// Run it alone: flock /tmp/pulse-bench.lock npm run bench:heartbeats -- --quick
// Loopback only; everything it starts stops with it. Not a test file.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostAddress } from './estate';
import { Histogram, type LoadMessage, type LoadReport, type LoadRequest } from './heartbeat-load';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const log = (message: string) => process.stderr.write(`[bench:heartbeats] ${message}\n`);

const TARGET_RATE = 5_000;
const TARGET_P99_MS = 50;
const TARGET_CPU_MS = 0.1;
const TARGET_BYTES_PER_AGENT = 1024;
const CHECKS_PER_PRACTICE = 8;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rate: { type: 'string', default: String(TARGET_RATE) },
    'with-checks': { type: 'boolean', default: false },
    seconds: { type: 'string' },
    tsx: { type: 'boolean', default: false },
    practices: { type: 'string', default: '6300' },
    'fleet-size': { type: 'string', default: '20' },
    profile: { type: 'string' },
    connections: { type: 'string' },
  },
  strict: true,
});
const whole = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench:heartbeats: --${name}: "${text}" is not a whole number above 0\n`);
    process.exit(2);
  }
  return n;
};
const RATE = whole('rate', args.rate!);
const PRACTICES = whole('practices', args.practices!);
const FLEET = whole('fleet-size', args['fleet-size']!);
const AGENTS = PRACTICES * FLEET;
/**
 * Keep-alive sockets of the load child: enough for the offered rate at the latency target
 * (5,000/s × 50 ms = 250 in flight), so a server meeting its p99 never has beats counted
 * "behind" for want of a socket; fewer would turn every 13 ms pause into unsent beats.
 */
const CONNECTIONS = args.connections ? whole('connections', args.connections) : Math.max(64, Math.ceil((RATE * TARGET_P99_MS) / 1000));
const MEASURE_S = args.seconds ? whole('seconds', args.seconds) : args.quick ? 15 : 60;

/** `A00001`…: one capital letter and five digits, distinct for up to 2.6 million practices. */
const odsOf = (i: number) => `${String.fromCharCode(65 + Math.floor(i / 100_000))}${String(i % 100_000).padStart(5, '0')}`;

interface Estate {
  dir: string;
  config: string;
  fleetsFile: string;
  dataDir: string;
}

function makeEstate(withChecks: boolean, targetPort: number | null): Estate {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-heartbeats-'));
  const tokens = join(dir, 'tokens');
  const dataDir = join(dir, 'data');
  mkdirSync(tokens);
  mkdirSync(dataDir);
  const lines: string[] = [
    'services:',
    '  - id: emis-web',
    '    name: EMIS Web',
    '    kind: clinical-system',
    'practices:',
  ];
  const fleets: { ods: string; token: string; agents: number }[] = [];
  for (let i = 0; i < PRACTICES; i++) {
    const ods = odsOf(i);
    const token = `bench-token-${ods}-${(i * 2654435761) % 4294967296}`;
    const file = join(tokens, ods);
    writeFileSync(file, token);
    fleets.push({ ods, token, agents: FLEET });
    lines.push(
      `  - ods: ${ods}`,
      `    name: Practice ${ods}`,
      `    pcn: PCN${Math.floor(i / 8)}`,
      `    icb: Q${String(Math.floor(i / 150)).padStart(2, '0')}`,
      '    system: emis-web',
      '    fleet:',
      `      token: { file: ${file} }`,
      '      interval: 30s',
      `      expectedAgents: ${FLEET}`,
    );
    if (withChecks && targetPort !== null) {
      lines.push('    checks:');
      for (let c = 0; c < CHECKS_PER_PRACTICE; c++) {
        // One loopback host per practice (its gateway), eight paths on it.
        lines.push(`      - id: ${ods.toLowerCase()}-c${c}`, '        kind: http', `        target: http://${hostAddress(i)}:${targetPort}/c${c}`, '        interval: 30s');
      }
    }
  }
  const config = join(dir, 'estate.yaml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const fleetsFile = join(dir, 'fleets.json');
  writeFileSync(fleetsFile, JSON.stringify(fleets));
  return { dir, config, fleetsFile, dataDir };
}

/** The compiled server when it exists and is newer than every server source file; else tsx. */
function serverCommand(): { argv: string[]; which: string } {
  const built = join(ROOT, 'dist/server/cli.js');
  const newestSource = (dir: string): number => {
    let newest = 0;
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) newest = Math.max(newest, newestSource(path));
      else if (name.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
    return newest;
  };
  const src = join(ROOT, 'server/cli.ts');
  if (!args.tsx && args.profile === undefined && existsSync(built)) {
    const stale = Math.max(newestSource(join(ROOT, 'server')), newestSource(join(ROOT, 'probes'))) > statSync(built).mtimeMs;
    if (!stale) return { argv: [built], which: `compiled build (${built})` };
    log(`dist/server/cli.js is older than the sources: running them through tsx instead (npm run build to use the build)`);
  }
  const prof = args.profile !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args.profile)}`] : [];
  return { argv: [...prof, '--import', 'tsx', src], which: `node --import tsx server/cli.ts (TypeScript through tsx)` };
}

interface Server {
  child: ChildProcess;
  url: string;
  stop: () => Promise<void>;
}

async function startServer(estate: Estate, workers: number): Promise<Server> {
  const { argv, which } = serverCommand();
  log(`server: ${which}, ${workers} probe worker(s)`);
  const child = spawn(process.execPath, [...argv, '--config', estate.config, '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: { ...process.env, PULSE_DATA_DIR: estate.dataDir, PULSE_WORKERS: String(workers), PULSE_LOG_LEVEL: process.env.PULSE_LOG_LEVEL ?? 'info', PULSE_WORKER_TOKEN: 'bench-worker-token-0123456789abcdef' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let lines = 0;
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines++;
      if (!line.includes('Pulse is listening')) return;
      try {
        resolveUrl((JSON.parse(line) as { url: string }).url);
      } catch {
        reject(new Error(`cannot read the server's address from: ${line}`));
      }
    });
  });
  void lines;
  return {
    child,
    url,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

/** utime + stime of a process, in ms (/proc, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const [user, system] = cpuSplit(pid);
  return user + system;
}

/** [user, system] CPU of a process, in ms. */
function cpuSplit(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * 10, Number(fields[12]) * 10];
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * The lowest RSS over 2 s of samples every 100 ms: the floor of the garbage collector's saw,
 * so garbage from the requests themselves counts as little as it can without stopping them.
 */
async function settledRss(pid: number): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20; i++) {
    low = Math.min(low, rssBytes(pid));
    await sleep(100);
  }
  return low;
}

class Load {
  readonly child: ChildProcess;
  #waiting: ((r: LoadReport) => void)[] = [];
  ready: Promise<void>;
  constructor(url: string, fleetsFile: string) {
    this.child = fork(join(ROOT, 'test/bench/heartbeat-load.ts'), ['--url', url, '--fleets', fleetsFile, '--rate', String(RATE), '--connections', String(CONNECTIONS)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((ok, fail) => {
      this.child.on('message', (m: LoadMessage) => {
        if (m.type === 'ready') ok();
        else if (m.type === 'error') fail(new Error(m.message));
        else if (m.type === 'report') this.#waiting.shift()?.(m);
      });
      this.child.once('exit', (code) => fail(new Error(`the load child exited (${code})`)));
    });
  }
  send(m: LoadRequest): void {
    this.child.send(m);
  }
  report(): Promise<LoadReport> {
    return new Promise((ok) => {
      this.#waiting.push(ok);
      this.send({ type: 'report' });
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 1) => n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

interface PhaseFigures {
  name: string;
  accepted: number;
  offeredRate: number;
  acceptedRate: number;
  p50: number;
  p99: number;
  max: number;
  cpuPerBeat: number;
  /** Of cpuPerBeat, the kernel's share (system time: sockets, loopback TCP). */
  systemCpuPerBeat: number;
  /** The load generator's own CPU per request (it shares the two cores). */
  loadCpuPerBeat: number;
  bytesPerAgent: number | null;
  agentsAccepted: number;
  behind: number;
  rejected: Record<string, number>;
  samples: string[];
  seconds: number;
}

async function runPhase(name: string, withChecks: boolean): Promise<PhaseFigures> {
  let target: ChildProcess | null = null;
  let targetPort: number | null = null;
  if (withChecks) {
    target = fork(join(ROOT, 'test/bench/target.ts'), ['--hosts', String(PRACTICES), '--first', '0', '--stride', '1', '--port', '0'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    targetPort = await new Promise<number>((ok, fail) => {
      target!.on('message', (m: { type: string; port?: number; message?: string }) => {
        if (m.type === 'ready') ok(m.port!);
        else if (m.type === 'error') fail(new Error(m.message));
      });
      target!.once('exit', (code) => fail(new Error(`the target exited (${code})`)));
    });
  }
  const estate = makeEstate(withChecks, targetPort);
  log(`${name}: estate of ${PRACTICES.toLocaleString('en-GB')} practices × ${FLEET} agents = ${AGENTS.toLocaleString('en-GB')} agents${withChecks ? `, ${(PRACTICES * CHECKS_PER_PRACTICE).toLocaleString('en-GB')} HTTP checks at 30 s` : ', no checks'} in ${estate.dir}`);
  const server = await startServer(estate, withChecks ? 2 : 0);
  const pid = server.child.pid!;
  const load = new Load(server.url, estate.fleetsFile);
  try {
    await load.ready;
    if (withChecks) {
      log(`${name}: letting the checks start for 35 s before heartbeats`);
      await sleep(35_000);
    }
    await sleep(2_000);
    load.send({ type: 'start', rate: RATE });
    // Memory: RSS once a fifth of the agents are known (the request path is warm by then)
    // and again once every agent is; the difference divided by the agents added in between.
    const firstPassS = AGENTS / RATE;
    let r = await load.report();
    const hist = new Histogram();
    let baseline: { rss: number; agents: number } | null = null;
    let bytesPerAgent: number | null = null;
    const passDeadline = Date.now() + (firstPassS * 2 + 30) * 1000;
    while (Date.now() < passDeadline) {
      await sleep(1_000);
      r = await load.report();
      if (baseline === null && r.agentsAccepted >= AGENTS * 0.2) {
        const agents = r.agentsAccepted;
        baseline = { rss: await settledRss(pid), agents };
      }
      if (r.agentsAccepted >= AGENTS) break;
    }
    if (baseline && r.agentsAccepted > baseline.agents) {
      bytesPerAgent = ((await settledRss(pid)) - baseline.rss) / (r.agentsAccepted - baseline.agents);
    }
    log(`${name}: ${r.agentsAccepted.toLocaleString('en-GB')} of ${AGENTS.toLocaleString('en-GB')} agents accepted after the first pass; measuring ${MEASURE_S} s`);
    await load.report(); // reset the interval
    const cpu0 = cpuMs(pid);
    const sys0 = cpuSplit(pid)[1];
    const loadCpu0 = cpuMs(load.child.pid!);
    const t0 = performance.now();
    let accepted = 0;
    let offered = 0;
    let behind = 0;
    const rejected: Record<string, number> = {};
    let last: LoadReport = r;
    for (let s = 0; s < MEASURE_S; s += 5) {
      await sleep(Math.min(5, MEASURE_S - s) * 1000);
      last = await load.report();
      hist.merge(last.buckets, last.latencyMs.max);
      accepted += last.accepted;
      offered += last.offered;
      behind += last.behindBusy + last.behindLate;
      for (const [status, n] of Object.entries(last.byStatus)) if (status !== '202') rejected[status] = (rejected[status] ?? 0) + n;
      log(
        `${name}: ${fmt((last.accepted * 1000) / last.intervalMs, 0)}/s accepted, p50 ${fmt(last.latencyMs.p50)} ms, p99 ${fmt(last.latencyMs.p99)} ms, ` +
          `behind ${last.behindBusy + last.behindLate}, in flight ${last.inFlight}, server RSS ${fmt(rssBytes(pid) / 2 ** 20, 0)} MiB`,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMs(pid) - cpu0;
    const sys = cpuSplit(pid)[1] - sys0;
    const loadCpu = cpuMs(load.child.pid!) - loadCpu0;
    load.send({ type: 'stop' });
    return {
      name,
      accepted,
      offeredRate: offered / seconds,
      acceptedRate: accepted / seconds,
      p50: hist.quantile(0.5),
      p99: hist.quantile(0.99),
      max: hist.max,
      cpuPerBeat: cpu / Math.max(1, hist.count),
      loadCpuPerBeat: loadCpu / Math.max(1, hist.count),
      systemCpuPerBeat: sys / Math.max(1, hist.count),
      bytesPerAgent,
      agentsAccepted: last.agentsAccepted,
      behind,
      rejected,
      samples: last.samples,
      seconds,
    };
  } finally {
    load.child.kill();
    await server.stop();
    target?.kill();
    rmSync(estate.dir, { recursive: true, force: true });
  }
}

function print(f: PhaseFigures): void {
  const row = (figure: string, value: string, target: string, ok: boolean | null) =>
    process.stdout.write(`  ${figure.padEnd(34)} ${value.padStart(14)}   target ${target.padEnd(12)} ${ok === null ? '' : verdict(ok)}\n`);
  process.stdout.write(`\n${f.name} (${fmt(f.seconds, 0)} s measured${args.quick ? ', --quick: a short run' : ''}; offered ${fmt(f.offeredRate, 0)}/s over ${CONNECTIONS} keep-alive connections)\n`);
  row('accepted heartbeats/s', fmt(f.acceptedRate, 0), `≥ ${TARGET_RATE.toLocaleString('en-GB')}`, f.acceptedRate >= TARGET_RATE);
  row('latency p50', `${fmt(f.p50)} ms`, '', null);
  row('latency p99', `${fmt(f.p99)} ms`, `≤ ${TARGET_P99_MS} ms`, f.p99 <= TARGET_P99_MS);
  row('latency max', `${fmt(f.max)} ms`, '', null);
  row('server CPU per heartbeat', `${fmt(f.cpuPerBeat, 3)} ms`, `< ${TARGET_CPU_MS} ms`, f.cpuPerBeat < TARGET_CPU_MS);
  row(
    'server RSS growth per agent',
    f.bytesPerAgent === null ? 'not measured' : `${fmt(f.bytesPerAgent, 0)} B`,
    '≤ 1 KiB',
    f.bytesPerAgent === null ? false : f.bytesPerAgent <= TARGET_BYTES_PER_AGENT,
  );
  process.stdout.write(`  (of which system time ${fmt(f.systemCpuPerBeat, 3)} ms; the load generator itself: ${fmt(f.loadCpuPerBeat, 3)} CPU-ms per request)\n`);
  row('distinct agents accepted', f.agentsAccepted.toLocaleString('en-GB'), AGENTS.toLocaleString('en-GB'), f.agentsAccepted >= AGENTS);
  row('beats not sent on time (behind)', f.behind.toLocaleString('en-GB'), '0', f.behind === 0);
  const rejected = Object.entries(f.rejected).map(([s, n]) => `${n} × ${s}`).join(', ');
  if (rejected) process.stdout.write(`  rejected: ${rejected}${f.samples.length ? `; e.g. ${f.samples.join(' | ')}` : ''}\n`);
}

const phases: PhaseFigures[] = [];
phases.push(await runPhase('phase 1: heartbeats alone', false));
print(phases[0]!);
if (args['with-checks']) {
  phases.push(await runPhase(`phase 2: beside ${(PRACTICES * CHECKS_PER_PRACTICE).toLocaleString('en-GB')} checks`, true));
  print(phases[1]!);
} else {
  process.stdout.write('\nphase 2: not run — checks were not running (add --with-checks)\n');
}
process.exit(0);
