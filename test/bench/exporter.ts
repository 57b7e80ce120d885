// Driving Prometheus blackbox_exporter as a peer, shared by the benches that compare
// against it (test/bench/probes.ts, test/bench/national.ts): start it on loopback with an
// http_2xx module, send it /probe requests at a fixed rate (keep-alive between the driver
// and the exporter, so that cost stays the driver's; the exporter itself opens a fresh
// connection to the target per probe), and measure its CPU and memory from /proc over a
// window. Also the /proc readers both benches use. Not a test file; listens on loopback only.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export const EXPORTER = '/usr/bin/prometheus-blackbox-exporter';

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU (ms) of a process and all its threads, from /proc/<pid>/stat; 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Resident memory (KiB) of a process, from /proc/<pid>/status; 0 once it is gone. */
export function rssKiBOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export function exporterVersion(): string {
  return (execFileSync(EXPORTER, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0] ?? '').trim();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitHealthy(port: number, exporter: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exporter.exitCode !== null) throw new Error(`blackbox_exporter exited with code ${exporter.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/-/healthy', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error('blackbox_exporter did not become healthy within 15 s');
}

export interface ExporterOptions {
  /** Probe targets (URLs for http_2xx), probed round-robin. */
  urls: string[];
  /** Every URL once per interval: the rate is urls.length / interval. */
  intervalMs: number;
  timeoutMs: number;
  warmupMs: number;
  windowMs: number;
  /** Where its config file goes. */
  dir: string;
  /** Starts a tracked child process (the caller kills it on exit); stderr must be piped. */
  spawn: (command: string, args: string[]) => ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL). */
  stop: (child: ChildProcess) => Promise<void>;
  /** Processes whose CPU is also measured over the window (the targets). */
  otherPids?: number[];
  /** Called just before and just after the window (e.g. to read the targets' counters). */
  beforeWindow?: () => Promise<void>;
  afterWindow?: () => Promise<void>;
}

export interface ExporterRun {
  /** Probes started in the window that it answered (their verdict may be a failure). */
  completed: number;
  /** Probes started in the window that got no answer (too slow, or an error). */
  unanswered: number;
  targetRate: number;
  achievedRate: number;
  cpuMs: number;
  cpuMsPerProbe: number;
  wallMs: number;
  peakRssKiB: number;
  othersCpuMs: number;
  driverCores: number;
  machineBusy: number;
  failures: Map<string, number>;
}

/** Runs blackbox_exporter over `urls` at their rate; measures it over the window after the warm-up; stops it. */
export async function runExporter(opts: ExporterOptions): Promise<ExporterRun> {
  const { intervalMs, timeoutMs, urls } = opts;
  const config = join(opts.dir, 'blackbox.yml');
  // IPv4 first: the targets are IPv4 literals, so the default (ip6, then fall back) would only add work.
  writeFileSync(
    config,
    ['modules:', '  http_2xx:', '    prober: http', `    timeout: ${timeoutMs / 1000}s`, '    http:', '      preferred_ip_protocol: ip4', ''].join('\n'),
  );
  const port = await freePort();
  const exporter = opts.spawn(EXPORTER, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn']);
  let exporterLog = '';
  exporter.stderr?.on('data', (chunk: Buffer) => {
    exporterLog = (exporterLog + chunk.toString()).slice(-4_000);
  });
  const pid = exporter.pid;
  if (pid === undefined) throw new Error('could not start blackbox_exporter');
  try {
    await waitHealthy(port, exporter);
  } catch (err) {
    await opts.stop(exporter);
    throw new Error(`${err instanceof Error ? err.message : String(err)}: ${exporterLog}`);
  }

  // The driver: keep-alive connections to the exporter, so its cost stays the driver's; as many
  // probes in flight as a Pulse worker allows, so the driver never holds the exporter back.
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const paths = urls.map((url) => `/probe?module=http_2xx&target=${encodeURIComponent(url)}`);
  const rate = urls.length / (intervalMs / 1000);
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let completed = 0;
  let outstanding = 0;
  let unanswered = 0;
  const failures = new Map<string, number>();
  const count = (startedAt: number, failure: string | undefined): void => {
    if (startedAt < windowStart || startedAt >= windowEnd) return;
    completed++;
    if (failure) failures.set(failure, (failures.get(failure) ?? 0) + 1);
  };
  const probe = (path: string): void => {
    const startedAt = Date.now();
    outstanding++;
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        outstanding--;
        if (res.statusCode !== 200) return count(startedAt, `http_${res.statusCode}`);
        const success = /^probe_success (\S+)/m.exec(body)?.[1];
        if (success === '1') return count(startedAt, undefined);
        const status = /^probe_http_status_code (\S+)/m.exec(body)?.[1];
        count(startedAt, status && status !== '0' ? `status_${status}` : 'probe_failed');
      });
    });
    let timedOut = false;
    req.setTimeout(timeoutMs + 2_000, () => {
      timedOut = true;
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      outstanding--;
      // Not answered (too slow, or still pending when the exporter was stopped): not a completed probe.
      if (startedAt >= windowStart && startedAt < windowEnd) {
        unanswered++;
        const why = timedOut ? 'no_answer_in_time' : `unanswered_${err.code ?? 'error'}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    });
    req.end();
  };

  const began = performance.now();
  let sent = 0;
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - began) * rate) / 1000);
    while (sent < due) probe(paths[sent++ % paths.length] ?? '/');
  }, 2);

  try {
    await sleep(opts.warmupMs);
    await opts.beforeWindow?.();
    const others = opts.otherPids ?? [];
    const othersStart = others.reduce((s, p) => s + cpuMsOf(p), 0);
    const cpuStart = cpuMsOf(pid);
    const machineStart = machineTicks();
    const startedAt = performance.now();
    let peakRssKiB = rssKiBOf(pid);
    const sampler = setInterval(() => {
      peakRssKiB = Math.max(peakRssKiB, rssKiBOf(pid));
    }, 1_000);
    const driverStart = process.cpuUsage();
    windowStart = Date.now();
    windowEnd = windowStart + opts.windowMs;
    await sleep(opts.windowMs);
    clearInterval(sampler);
    const cpuMs = cpuMsOf(pid) - cpuStart;
    const wallMs = performance.now() - startedAt;
    peakRssKiB = Math.max(peakRssKiB, rssKiBOf(pid));
    const machine = machineTicks();
    const machineBusy = (machine.busy - machineStart.busy) / Math.max(1, machine.total - machineStart.total);
    const othersCpuMs = others.reduce((s, p) => s + cpuMsOf(p), 0) - othersStart;
    const driver = process.cpuUsage(driverStart);
    const driverCores = (driver.user + driver.system) / 1000 / wallMs;
    await opts.afterWindow?.();
    clearInterval(ticker);
    const drainUntil = Date.now() + timeoutMs + 2_500;
    while (outstanding > 0 && Date.now() < drainUntil) await sleep(50);
    const seconds = opts.windowMs / 1000;
    return {
      completed,
      unanswered,
      targetRate: rate,
      achievedRate: completed / seconds,
      cpuMs,
      cpuMsPerProbe: completed > 0 ? cpuMs / completed : Number.NaN,
      wallMs,
      peakRssKiB,
      othersCpuMs,
      driverCores,
      machineBusy,
      failures,
    };
  } finally {
    clearInterval(ticker);
    agent.destroy();
    await opts.stop(exporter);
  }
}
