// What test/bench/national.ts watches, from outside the server as a user's tools would:
// the CPU and memory of the server and its worker children from /proc, the /metrics
// scrape (timed, with the few series the bench reads), the live feed a dashboard sees
// (for when practices turn down and back), and the data folder's size. Not a test file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { cpuMsOf, rssKiBOf } from './exporter';

// ---- the server's process tree ---------------------------------------------------

/** Child pids of a process (every thread's children), from /proc/<pid>/task/<tid>/children. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // Gone.
  }
  return out;
}

export interface TreeSample {
  at: number;
  /** CPU ms so far of every pid seen in the tree (a pid that exited keeps its last reading). */
  cpuMs: number;
  serverRssKiB: number;
  workersRssKiB: number[];
  workers: number;
}

/**
 * The server and its direct children (the local probe workers), sampled every second: CPU is
 * summed over every pid ever seen, so a worker that died and was restarted is still counted.
 */
export class ProcessTree {
  private readonly lastCpu = new Map<number, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  readonly samples: TreeSample[] = [];
  workerPids: number[] = [];

  constructor(readonly serverPid: number) {}

  sample(): TreeSample {
    this.workerPids = childrenOf(this.serverPid);
    for (const pid of [this.serverPid, ...this.workerPids]) {
      const cpu = cpuMsOf(pid);
      if (cpu > 0 || !this.lastCpu.has(pid)) this.lastCpu.set(pid, Math.max(cpu, this.lastCpu.get(pid) ?? 0));
    }
    let cpuMs = 0;
    for (const v of this.lastCpu.values()) cpuMs += v;
    const s: TreeSample = {
      at: Date.now(),
      cpuMs,
      serverRssKiB: rssKiBOf(this.serverPid),
      workersRssKiB: this.workerPids.map(rssKiBOf),
      workers: this.workerPids.length,
    };
    this.samples.push(s);
    return s;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1_000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples taken in [from, to]. */
  between(from: number, to: number): TreeSample[] {
    return this.samples.filter((s) => s.at >= from && s.at <= to);
  }
}

export function totalRss(s: TreeSample): number {
  return s.serverRssKiB + s.workersRssKiB.reduce((a, b) => a + b, 0);
}

// ---- /metrics ------------------------------------------------------------------------

export interface Scrape {
  at: number;
  ms: number;
  bytes: number;
  status: number;
  /** The series the bench reads, by name (a family with labels: the largest value). */
  values: Map<string, number>;
}

const WANTED = [
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'pulse_server_event_loop_delay_seconds',
  'pulse_scheduler_lag_seconds',
  'pulse_worker_event_loop_delay_seconds',
  'pulse_worker_connections',
];

/** GET /metrics on a fresh connection, timed to the last byte; picks out the WANTED series. */
export function scrapeMetrics(base: string): Promise<Scrape> {
  const at = Date.now();
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`${base}/metrics`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        const body = Buffer.concat(chunks);
        const values = new Map<string, number>();
        // Each wanted family found by its name at a line start (the body is 5 MB: no split).
        for (const name of WANTED) {
          const needle = Buffer.from(`\n${name}`);
          for (let i = body.indexOf(needle); i >= 0; i = body.indexOf(needle, i + needle.length)) {
            const next = body[i + needle.length];
            if (next !== 0x20 && next !== 0x7b) continue; // ' ' or '{'
            const end = body.indexOf(0x0a, i + 1);
            const line = body.subarray(i + 1, end < 0 ? body.length : end).toString('utf8');
            const value = Number(line.slice(line.lastIndexOf(' ') + 1));
            if (Number.isFinite(value)) values.set(name, Math.max(values.get(name) ?? -Infinity, value));
          }
        }
        resolve({ at, ms, bytes: body.length, status: res.statusCode ?? 0, values });
      });
      res.on('error', () => resolve({ at, ms: performance.now() - started, bytes: 0, status: 0, values: new Map() }));
    });
    // Wall-clock bound (a connect the server never accepts is not an idle socket).
    const timer = setTimeout(() => req.destroy(), 30_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', () => resolve({ at, ms: performance.now() - started, bytes: 0, status: 0, values: new Map() }));
    req.end();
  });
}

// ---- the live feed -------------------------------------------------------------------

interface PracticeLine {
  ods: string;
  status: string;
  cause: string | null;
}

/**
 * A dashboard's view through /ws with a display link: every practice's status as the live
 * feed says it, and when each one changed (as received here).
 */
export class LiveView {
  readonly status = new Map<string, string>();
  /** ods → its cause line now, with the practice's own code written `*` (so causes can be tallied). */
  readonly cause = new Map<string, string>();
  /** ods → [received at, status] for each change after the first snapshot. */
  readonly changes = new Map<string, [number, string][]>();
  private ws: WebSocket | undefined;
  snapshots = 0;
  messages = 0;
  resyncs = 0;
  private seq: number | undefined;
  closed: string | null = null;
  private resolveSnapshot: (() => void) | undefined;

  constructor(private readonly url: string) {}

  open(): Promise<void> {
    const first = new Promise<void>((resolve) => (this.resolveSnapshot = resolve));
    const ws = new WebSocket(this.url, { maxPayload: 256 * 1024 * 1024 });
    this.ws = ws;
    ws.on('message', (data) => {
      this.messages++;
      const message = JSON.parse(String(data)) as { type: string; seq?: number; practices?: PracticeLine[] };
      if (message.seq !== undefined) {
        // A gap (a delta this socket never got): ask for a fresh snapshot, as the dashboard does.
        if (message.type !== 'snapshot' && this.seq !== undefined && message.seq !== this.seq + 1) {
          this.resyncs++;
          ws.send(JSON.stringify({ type: 'resync' }));
        }
        this.seq = message.seq;
      }
      if (message.type !== 'snapshot' && message.type !== 'delta') return;
      const at = Date.now();
      for (const p of message.practices ?? []) {
        this.cause.set(p.ods, (p.cause ?? '').split(p.ods).join('*'));
        const before = this.status.get(p.ods);
        if (before !== p.status) {
          this.status.set(p.ods, p.status);
          if (this.snapshots > 0 || message.type === 'delta') {
            const list = this.changes.get(p.ods) ?? [];
            list.push([at, p.status]);
            this.changes.set(p.ods, list);
          }
        }
      }
      if (message.type === 'snapshot') {
        this.snapshots++;
        this.resolveSnapshot?.();
      }
    });
    ws.on('close', (code, reason) => (this.closed = `${code} ${String(reason)}`));
    ws.on('error', (err) => (this.closed = err.message));
    return first;
  }

  /** How many of `ods` show `status` now. */
  count(ods: readonly string[], test: (status: string | undefined) => boolean): number {
    let n = 0;
    for (const o of ods) if (test(this.status.get(o))) n++;
    return n;
  }

  /** For each of `ods`: ms from `since` to its first change after `since` passing `test` (undefined: none yet). */
  delays(ods: readonly string[], since: number, test: (status: string) => boolean): (number | undefined)[] {
    return ods.map((o) => {
      const hit = (this.changes.get(o) ?? []).find(([at, s]) => at >= since && test(s));
      return hit ? hit[0] - since : undefined;
    });
  }

  close(): void {
    this.ws?.terminate();
  }
}

// ---- the data folder ------------------------------------------------------------------------

/**
 * Bytes of every file under `dir`, leaving out SQLite's -wal and -shm files when `withWal` is
 * false: the write-ahead log is reused after each checkpoint, so its size is a high-water mark,
 * not growth.
 */
export function folderBytes(dir: string, withWal = true): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isDirectory()) total += folderBytes(path, withWal);
      else if (withWal || !/-(wal|shm)$/.test(name)) total += st.size;
    } catch {
      // Removed meanwhile (a temporary file).
    }
  }
  return total;
}

// ---- figures ------------------------------------------------------------------------------

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}
