// Heartbeat load child: posts workstation heartbeats to a running Pulse from many distinct
// agents spread over the estate's fleets, at a fixed offered rate, and reports what came back.
// Used by `npm run bench:heartbeats` (test/bench/heartbeats.ts) and by `npm run bench:national`.
// Not a test file. Loopback only; needs an IPC channel (fork it); exits when its parent goes.
//
// Start: fork('test/bench/heartbeat-load.ts', [flags], { execArgv: ['--import', 'tsx'] })
//
// argv flags
//   --url URL             Pulse's base address, e.g. http://127.0.0.1:8080 (loopback only; required)
//   --fleets FILE         JSON file: [{ "ods": "A81001", "token": "<practice token>", "agents": 20 }, …]
//                         (required; tokens go in a file, never on the command line)
//   --rate N              heartbeats offered per second (default 5000); changeable over IPC
//   --connections N       keep-alive sockets in the pool (default 64): at most N requests in flight
//   --software MODE       `always` (default: every beat carries a software map, as the documented
//                         scripts do), `first` (only an agent's first beat) or `never`
//   --late-ms N           a beat whose slot is more than N ms past when the schedule reaches it is
//                         not sent but counted `behindLate` (default 100)
//   --timeout-ms N        a request unanswered this long is aborted and counted `timeout` (default 10000)
//
// Agents: practice p's agent i is `<ODS>-PC-<ii>` (hostname `<ods>-pc-<ii>.practice.nhs.uk`),
// sending with the practice's token in exactly the format the server accepts (docs/configuration.md,
// POST /api/heartbeats/:ods). Beats go round the agents in turn, interleaved across practices
// (agent 0 of every practice, then agent 1 of every practice, …), so each agent beats once per
// pass and one pass over 126,000 agents at 5,000/s takes 25.2 s.
//
// Schedule: open loop. Beat k is due at start + k / rate, whatever happened to earlier beats.
// Every millisecond or so the due beats are sent; a due beat finds no free socket (all
// `connections` in flight) → counted `behindBusy` and not sent; the schedule reached it more than
// `--late-ms` late (this process starved) → `behindLate`, not sent. It never sends faster
// than the rate to catch up, and never slows the schedule down because the server is slow.
// Latency: from writing the request to the end of the response, per request.
//
// IPC, parent → child
//   { type: 'start', rate?: number }   start (or restart) the schedule now, at `rate` if given
//   { type: 'rate', rate: number }     change the offered rate from now on (schedule restarts at now)
//   { type: 'stop' }                   stop offering (requests in flight still complete and count)
//   { type: 'report' }                 answered with a `report` message, then the interval counters reset
// IPC, child → parent
//   { type: 'ready', agents, fleets, connections }                     once, before any beat is sent
//   { type: 'report', …LoadReport }                                    answer to each `report`
//   { type: 'error', message }                                         bad flags or fleets file, then exit 2
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';

export interface LoadFleet {
  ods: string;
  token: string;
  agents: number;
}

export interface LatencySummary {
  /** Requests answered (any status) in the interval. */
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** What the child reports, for the interval since the previous report (totals: since start). */
export interface LoadReport {
  /** Length of the interval in ms (since the last report, or since `start`). */
  intervalMs: number;
  /** The offered rate now (beats/s). */
  rate: number;
  /** Beats whose slot fell in the interval. offered = sent + behindBusy + behindLate. */
  offered: number;
  sent: number;
  behindBusy: number;
  behindLate: number;
  /** Requests answered in the interval, by HTTP status (`"202"`, `"429"`, …), plus `error` and `timeout`. */
  byStatus: Record<string, number>;
  /** 202s in the interval. */
  accepted: number;
  /** Anything else answered or failed in the interval. */
  rejected: number;
  /** Latency (ms) of requests answered in the interval. */
  latencyMs: LatencySummary;
  /** The interval's latency histogram, sparse: [bucket, count] pairs (Histogram.merge adds them up). */
  buckets: [number, number][];
  inFlight: number;
  /** Distinct agents that have had a beat sent, since start (cumulative). */
  agentsSent: number;
  /** Distinct agents with at least one 202, since start (cumulative). */
  agentsAccepted: number;
  totals: { offered: number; sent: number; behind: number; accepted: number; rejected: number };
  /** The first few distinct non-202 answers (status and body start), since start. */
  samples: string[];
}

export type LoadRequest = { type: 'start'; rate?: number } | { type: 'rate'; rate: number } | { type: 'stop' } | { type: 'report' };
export type LoadMessage =
  | { type: 'ready'; agents: number; fleets: number; connections: number }
  | ({ type: 'report' } & LoadReport)
  | { type: 'error'; message: string };

/**
 * Latency histogram: log-linear buckets (16 per power of two) from 1 µs to ~70 s — about
 * 4 % resolution, fixed memory, no allocation per sample.
 */
export class Histogram {
  static readonly SUB = 16;
  readonly counts = new Float64Array(40 * Histogram.SUB);
  count = 0;
  max = 0;

  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const exp = Math.floor(Math.log2(us));
    const sub = Math.floor((us / 2 ** exp - 1) * Histogram.SUB);
    const i = Math.min(this.counts.length - 1, exp * Histogram.SUB + sub);
    this.counts[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile in ms (upper edge of its bucket, never above the max); 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const exp = Math.floor(i / Histogram.SUB);
        const sub = i % Histogram.SUB;
        return Math.min(this.max, (2 ** exp * (1 + (sub + 1) / Histogram.SUB)) / 1000);
      }
    }
    return this.max;
  }

  /** Non-empty buckets as [index, count] pairs. */
  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  /** Adds another histogram's sparse buckets (and its max). */
  merge(buckets: readonly [number, number][], max: number): void {
    for (const [i, n] of buckets) {
      this.counts[i]! += n;
      this.count += n;
    }
    if (max > this.max) this.max = max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

function fail(message: string): never {
  process.send?.({ type: 'error', message } satisfies LoadMessage);
  process.stderr.write(`[heartbeat-load] ${message}\n`);
  process.exit(2);
}

function main(): void {
  if (!process.send) fail('needs an IPC channel: start it with child_process.fork');
  const argv = process.argv.slice(2);
  const text = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number): number => {
    const t = text(name);
    if (t === undefined) return fallback;
    const n = Number(t);
    if (!Number.isFinite(n) || n < 0) fail(`--${name}: "${t}" is not a non-negative number`);
    return n;
  };
  const urlText = text('url') ?? fail('--url is required (e.g. http://127.0.0.1:8080)');
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    fail(`--url: "${urlText}" is not an address`);
  }
  if (url.protocol !== 'http:') fail(`--url: "${urlText}" is not http://`);
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname)) fail(`--url: "${urlText}" is not a loopback address`);
  const fleetsPath = text('fleets') ?? fail('--fleets FILE is required');
  let fleets: LoadFleet[];
  try {
    fleets = JSON.parse(readFileSync(fleetsPath, 'utf8')) as LoadFleet[];
  } catch (err) {
    fail(`--fleets: cannot read ${fleetsPath} (${(err as Error).message})`);
  }
  if (!Array.isArray(fleets) || fleets.length === 0) fail(`--fleets: ${fleetsPath} is not a non-empty JSON array`);
  fleets.forEach((f, i) => {
    if (typeof f?.ods !== 'string' || typeof f.token !== 'string' || !Number.isInteger(f.agents) || f.agents < 1) {
      fail(`--fleets: ${fleetsPath} entry ${i}: expected { ods, token, agents ≥ 1 }`);
    }
  });
  let rate = num('rate', 5000);
  const connections = Math.max(1, Math.floor(num('connections', 64)));
  const lateMs = num('late-ms', 100);
  const timeoutMs = num('timeout-ms', 10_000);
  const softwareMode = text('software') ?? 'always';
  if (!['always', 'first', 'never'].includes(softwareMode)) fail(`--software: "${softwareMode}" is not always, first or never`);

  // Agents, interleaved across practices: slot j → practice j % P at round floor(j / P).
  const maxAgents = Math.max(...fleets.map((f) => f.agents));
  const order: number[] = []; // agent slot → fleet index * 65536 + agent number
  for (let i = 0; i < maxAgents; i++) for (let p = 0; p < fleets.length; p++) if (i < fleets[p]!.agents) order.push(p * 65536 + i);
  const agentCount = order.length;
  const paths = fleets.map((f) => `/api/heartbeats/${encodeURIComponent(f.ods)}`);
  const auths = fleets.map((f) => `Bearer ${f.token}`);
  const sentOnce = new Uint8Array(agentCount);
  const acceptedOnce = new Uint8Array(agentCount);
  const SOFTWARE = ',"software":{"falcon-sensor":"7.16.18605","channel-file":"C-00000291","os":"10.0.19045.4651"}';

  const pool = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'fifo' });
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 80);

  const hist = new Histogram();
  let iv = { offered: 0, sent: 0, behindBusy: 0, behindLate: 0, accepted: 0, rejected: 0, byStatus: {} as Record<string, number> };
  const totals = { offered: 0, sent: 0, behind: 0, accepted: 0, rejected: 0 };
  let agentsSent = 0;
  let agentsAccepted = 0;
  const samples: string[] = [];
  let inFlight = 0;
  let lastReport = performance.now();

  let running = false;
  let scheduleStart = 0; // performance.now() of beat 0 of the current schedule
  let scheduled = 0; // beats of the current schedule already handled (sent or behind)
  let slot = 0; // next agent slot, carried across schedules
  let timer: NodeJS.Timeout | null = null;
  let sentAt = new Date().toISOString();

  const answered = (status: string, ms: number, k: number, body?: string) => {
    inFlight--;
    hist.record(ms);
    iv.byStatus[status] = (iv.byStatus[status] ?? 0) + 1;
    if (status === '202') {
      iv.accepted++;
      totals.accepted++;
      if (!acceptedOnce[k]) {
        acceptedOnce[k] = 1;
        agentsAccepted++;
      }
    } else {
      iv.rejected++;
      totals.rejected++;
      if (samples.length < 5) {
        const sample = `${status}${body ? ` ${body.slice(0, 160)}` : ''}`;
        if (!samples.includes(sample)) samples.push(sample);
      }
    }
  };

  const send = (k: number) => {
    const code = order[k]!;
    const p = code >>> 16;
    const n = String(code & 0xffff).padStart(2, '0');
    const ods = fleets[p]!.ods;
    const agent = `${ods}-PC-${n}`;
    const withSoftware = softwareMode === 'always' || (softwareMode === 'first' && !sentOnce[k]);
    const body = `{"agent":"${agent}","hostname":"${agent.toLowerCase()}.practice.nhs.uk","version":"2.3.1","sentAt":"${sentAt}"${withSoftware ? SOFTWARE : ''}}`;
    if (!sentOnce[k]) {
      sentOnce[k] = 1;
      agentsSent++;
    }
    inFlight++;
    const started = performance.now();
    let done = false;
    const finish = (status: string, body?: string) => {
      if (done) return;
      done = true;
      answered(status, performance.now() - started, k, body);
    };
    const req = request(
      {
        agent: pool,
        host,
        port,
        method: 'POST',
        path: paths[p],
        headers: { authorization: auths[p], 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const status = String(res.statusCode);
        if (status === '202') {
          res.resume();
          res.on('end', () => finish(status));
        } else {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => finish(status, text));
        }
        res.on('error', () => finish('error'));
      },
    );
    req.setTimeout(timeoutMs, () => {
      finish('timeout');
      req.destroy();
    });
    req.on('error', (err) => finish('error', err.message));
    req.end(body);
  };

  const tick = () => {
    if (!running) return;
    const now = performance.now();
    sentAt = new Date().toISOString();
    const due = Math.floor(((now - scheduleStart) * rate) / 1000);
    for (; scheduled < due; scheduled++) {
      const slotAt = scheduleStart + (scheduled * 1000) / rate;
      const k = slot;
      slot = (slot + 1) % agentCount;
      iv.offered++;
      totals.offered++;
      if (now - slotAt > lateMs) {
        iv.behindLate++;
        totals.behind++;
      } else if (inFlight >= connections) {
        iv.behindBusy++;
        totals.behind++;
      } else {
        iv.sent++;
        totals.sent++;
        send(k);
      }
    }
    timer = setTimeout(tick, 1);
  };

  const startSchedule = () => {
    scheduleStart = performance.now();
    scheduled = 0;
    if (!running) {
      running = true;
      timer = setTimeout(tick, 1);
    }
  };

  process.on('message', (m: LoadRequest) => {
    if (m.type === 'start') {
      if (m.rate !== undefined) rate = m.rate;
      if (!running) lastReport = performance.now();
      startSchedule();
    } else if (m.type === 'rate') {
      rate = m.rate;
      if (running) startSchedule();
    } else if (m.type === 'stop') {
      running = false;
      if (timer) clearTimeout(timer);
    } else if (m.type === 'report') {
      const now = performance.now();
      const report: LoadReport = {
        intervalMs: now - lastReport,
        rate,
        ...iv,
        latencyMs: { count: hist.count, p50: hist.quantile(0.5), p99: hist.quantile(0.99), max: hist.max },
        buckets: hist.sparse(),
        inFlight,
        agentsSent,
        agentsAccepted,
        totals: { ...totals },
        samples: [...samples],
      };
      process.send!({ type: 'report', ...report } satisfies LoadMessage);
      lastReport = now;
      hist.reset();
      iv = { offered: 0, sent: 0, behindBusy: 0, behindLate: 0, accepted: 0, rejected: 0, byStatus: {} };
    }
  });
  // Never outlive the parent.
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', agents: agentCount, fleets: fleets.length, connections } satisfies LoadMessage);
}

// Only when run as the child itself (the types above may be imported by the benches).
if (process.argv[1] && new URL(import.meta.url).pathname === resolve(process.argv[1])) main();
