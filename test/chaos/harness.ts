// The chaos harness: a real Pulse and a real simulated estate, each its own process, stressed
// from outside the way real hosts are (a starved CPU, a long pause, a late listen) and watched
// the way an operator watches — through the REST API, with the store read afterwards for
// anything shown between two polls. Everything is on loopback, bounded in count and time, and
// every process started here is killed (its whole process group) in close(), or on exit if a
// test dies first. Never imported by Pulse.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOOPBACK = '127.0.0.1';
const FLEET_TOKEN_ENV = 'PULSE_CHAOS_FLEET_TOKEN';
const LISTEN_DELAY = fileURLToPath(new URL('./listen-delay.ts', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Parses `500ms`, `5s`, `2m` (the estate's units). */
export function ms(duration: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}

const seconds = (value: number | null) => (value === null ? 'never' : `${(value / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------------------------------------
// Processes

/** Every process group started here and not yet reaped: killed on exit whatever happens. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pgid of live) signalGroup(pgid, 'SIGCONT');
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
});

/**
 * A watchdog for a process group that outlives a harness killed outright (a test runner
 * stopped with SIGKILL runs no exit handler): a tiny shell that waits while both the harness
 * and the group live, then kills the group. It ends by itself once the group is gone.
 */
function reaper(pgid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 -${pgid} 2>/dev/null; do sleep 1; done; kill -CONT -${pgid} 2>/dev/null; kill -KILL -${pgid} 2>/dev/null; exit 0`;
  spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

export class Proc {
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    live.add(child.pid!);
    reaper(child.pid!);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** The last lines of its log, for a failure message. */
  tail(lines = 15): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Stops the whole process group: resumed first (a stopped process cannot exit), TERM, then KILL. */
  async stop(graceMs = 5_000): Promise<void> {
    const pgid = this.pid;
    if (this.running) {
      signalGroup(pgid, 'SIGCONT');
      signalGroup(pgid, 'SIGTERM');
      const killed = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!killed) signalGroup(pgid, 'SIGKILL');
      await Promise.race([this.exited, sleep(2_000)]);
    }
    // Children it left behind (a worker of a killed server) share its group.
    signalGroup(pgid, 'SIGCONT');
    signalGroup(pgid, 'SIGKILL');
    live.delete(pgid);
  }
}

/** A node process running a TypeScript entry point through tsx, in its own process group, logging to a file. */
function spawnNode(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string, preload: string[] = []): Proc {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', ...preload.flatMap((p) => ['--import', p]), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    return new Proc(name, child, logFile);
  } finally {
    closeSync(fd);
  }
}

/** A port free on loopback now (for a Pulse the agents must find before it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Direct children of a process, from /proc (Linux): Pulse's local probe workers. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
  }
}

export class Api {
  constructor(
    readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request<T>(method: string, path: string, body?: unknown, timeoutMs = 3_000): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { ...this.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new HttpError(res.status, text, `${method} ${path}`);
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  get<T>(path: string, timeoutMs?: number): Promise<T> {
    return this.request<T>('GET', path, undefined, timeoutMs);
  }

  post<T>(path: string, body: unknown = {}, timeoutMs?: number): Promise<T> {
    return this.request<T>('POST', path, body, timeoutMs);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

// ---------------------------------------------------------------------------------------------
// What Pulse shows (the REST API's shapes, as much as the harness reads of them)

export interface PracticeRow {
  ods: string;
  name: string;
  pcn: string;
  status: string;
  cause: string | null;
}

export interface IncidentRow {
  id: number;
  key: string;
  kind: string;
  title: string;
  status: 'open' | 'resolved';
  openedAt: string;
  resolvedAt: string | null;
  affected: string[];
  finding?: string | null;
}

export interface CheckRow {
  id: string;
  status: string;
  detail: string;
  subject: { type: string; id: string };
  locations: { location: string; status: string; detail: string }[];
}

// ---------------------------------------------------------------------------------------------
// The stack: a simulated estate and a Pulse watching it

export interface StackOptions {
  /** Names the temp folder and the summary line. */
  name: string;
  practices: number;
  seed?: number;
  /** The estate's check interval and timeout. */
  checkInterval?: string;
  checkTimeout?: string;
  /** Workstation agents beating to Pulse (the estate gets fleet blocks for them); null for none. */
  agents?: { interval: string; perPractice: [number, number]; software?: boolean } | null;
  /** Pulse's local probe workers (PULSE_WORKERS). */
  workers?: number;
  /** Hold back Pulse's listen this long after it has built its app (listen-delay.ts). */
  listenDelayMs?: number;
  /** Start Pulse only this long after the agents began beating (they beat into a closed port meanwhile). */
  pulseStartDelayMs?: number;
}

const USERNAME = 'chaos-ops';

export class Stack {
  readonly dir: string;
  readonly dataDir: string;
  readonly fleetToken = randomBytes(24).toString('base64url');
  readonly workerToken = randomBytes(24).toString('base64url');
  private readonly password = `chaos ${randomBytes(12).toString('base64url')} harness`;
  sim!: Proc;
  simApi!: Api;
  estateFile!: string;
  pulse: Proc | null = null;
  port!: number;
  api!: Api;
  readonly checkIntervalMs: number;
  readonly fleetIntervalMs: number | null;

  private constructor(readonly opts: StackOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `pulse-chaos-${opts.name}-`));
    this.dataDir = join(this.dir, 'data');
    this.checkIntervalMs = ms(opts.checkInterval ?? '5s');
    this.fleetIntervalMs = opts.agents ? ms(opts.agents.interval) : null;
  }

  get url(): string {
    return `http://${LOOPBACK}:${this.port}`;
  }

  /** The longest interval in the estate: "within two intervals" is measured in it. */
  get intervalMs(): number {
    return Math.max(this.checkIntervalMs, this.fleetIntervalMs ?? 0);
  }

  static async start(opts: StackOptions): Promise<Stack> {
    const stack = new Stack(opts);
    try {
      await stack.startSimulator();
      stack.addOpsUser();
      if (opts.pulseStartDelayMs) await sleep(opts.pulseStartDelayMs);
      await stack.startPulse();
      return stack;
    } catch (err) {
      const logs = [stack.sim, stack.pulse].filter((p): p is Proc => p !== null && p !== undefined).map((p) => `--- ${p.name} ---\n${p.tail()}`);
      await stack.close();
      throw new Error(`${(err as Error).message}\n${logs.join('\n')}`);
    }
  }

  private async startSimulator(): Promise<void> {
    this.port = await freePort();
    const a = this.opts.agents;
    const args = [
      'server/simulator/cli.ts',
      '--practices', String(this.opts.practices),
      '--seed', String(this.opts.seed ?? 1),
      '--out', join(this.dir, 'estate.yaml'),
      '--interval', this.opts.checkInterval ?? '5s',
      '--timeout', this.opts.checkTimeout ?? '2s',
      ...(a
        ? ['--agents-token-env', FLEET_TOKEN_ENV, '--agents-to', this.url, '--agents-interval', a.interval,
            '--agents-per-practice', `${a.perPractice[0]}-${a.perPractice[1]}`, '--agents-software', a.software === false ? 'off' : 'on']
        : []),
    ];
    this.sim = spawnNode('simulator', args, { ...process.env, [FLEET_TOKEN_ENV]: this.fleetToken }, join(this.dir, 'simulator.log'));
    const ready = await until('the simulator to print its ready line', 30_000, () => {
      if (!this.sim.running) throw new Error(`the simulator exited with ${this.sim.exitCode}`);
      const line = this.sim.log().split('\n').find((l) => l.startsWith('{"simulator":"ready"'));
      return line ? (JSON.parse(line) as { controlUrl: string; estateFile: string }) : null;
    });
    this.simApi = new Api(ready.controlUrl);
    this.estateFile = ready.estateFile;
  }

  /** An ops account made the way an operator makes one: `npm run users -- add`, against the data folder. */
  private addOpsUser(): void {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'server/users-cli.ts', 'add', USERNAME, '--role', 'ops', '--national', '--name', 'Chaos harness', '--password-stdin', '--data-dir', this.dataDir],
      { cwd: ROOT, input: `${this.password}\n`, encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) throw new Error(`npm run users -- add failed (${r.status}): ${r.stderr}`);
  }

  /** Starts (or restarts) Pulse on the stack's port; resolves once it answers /healthz and the ops user is signed in. */
  async startPulse(opts: { listenDelayMs?: number } = {}): Promise<void> {
    if (this.pulse?.running) throw new Error('Pulse is already running');
    const listenDelayMs = opts.listenDelayMs ?? this.opts.listenDelayMs ?? 0;
    this.pulse = spawnNode(
      'pulse',
      ['server/cli.ts', '--config', this.estateFile, '--port', String(this.port)],
      {
        ...process.env,
        PULSE_DATA_DIR: this.dataDir,
        PULSE_WORKERS: String(this.opts.workers ?? 1),
        PULSE_WORKER_TOKEN: this.workerToken,
        [FLEET_TOKEN_ENV]: this.fleetToken,
        PULSE_CHAOS_LISTEN_DELAY_MS: String(listenDelayMs),
      },
      join(this.dir, 'pulse.log'),
      listenDelayMs > 0 ? [LISTEN_DELAY] : [],
    );
    const pulse = this.pulse;
    await until('Pulse to answer /healthz', 60_000 + listenDelayMs, async () => {
      if (!pulse.running) throw new Error(`Pulse exited with ${pulse.exitCode}`);
      const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
      return res?.ok ?? false;
    });
    await this.signIn();
  }

  private async signIn(): Promise<void> {
    const res = await fetch(`${this.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: this.url },
      body: JSON.stringify({ username: USERNAME, password: this.password }),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
    const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
    const { csrf } = (await res.json()) as { csrf: string };
    this.api = new Api(this.url, { cookie, 'x-csrf-token': csrf, origin: this.url });
  }

  /** Pulse's local probe workers, by pid. */
  workerPids(): number[] {
    return this.pulse?.running ? childPids(this.pulse.pid) : [];
  }

  async stopPulse(): Promise<void> {
    await this.pulse?.stop(10_000);
  }

  /** Transitions Pulse stored since `since` (epoch ms), read from its database (WAL: safe beside it). */
  storedTransitions(since: number): { subject: string; from: string; to: string; cause: string | null; at: number }[] {
    const file = join(this.dataDir, 'pulse.db');
    if (!existsSync(file)) return [];
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return db
        .prepare('SELECT subject, from_status AS "from", to_status AS "to", cause, at FROM status_events WHERE at >= ? ORDER BY id')
        .all(since) as { subject: string; from: string; to: string; cause: string | null; at: number }[];
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pulse?.stop(), this.sim?.stop()]);
    if (process.env.CHAOS_KEEP) process.stdout.write(`chaos[${this.opts.name}]: logs and data kept in ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls until `probe` gives a truthy value; throws after `timeoutMs` naming what it waited for. */
export async function until<T>(what: string, timeoutMs: number, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Fault injectors. Each is bounded in time and always leaves its targets running.

/**
 * Starves processes of CPU: stopped, then let run `runMs` in every `periodMs`, for `durationMs`.
 * `pids` is asked afresh every cycle (a restarted worker has a new pid). Resolves with the
 * number of cycles once everything is running again.
 */
export async function dutyCycle(pids: () => number[], o: { runMs: number; periodMs: number; durationMs: number }): Promise<number> {
  const end = Date.now() + o.durationMs;
  let cycles = 0;
  let stopped: number[] = [];
  try {
    while (Date.now() < end) {
      stopped = pids();
      for (const pid of stopped) signal(pid, 'SIGSTOP');
      await sleep(Math.min(o.periodMs - o.runMs, Math.max(0, end - Date.now())));
      for (const pid of stopped) signal(pid, 'SIGCONT');
      stopped = [];
      cycles++;
      await sleep(o.runMs);
    }
  } finally {
    for (const pid of stopped) signal(pid, 'SIGCONT');
  }
  return cycles;
}

/** Stops a process for `durationMs` (a long GC pause, a VM migration, a swap storm), then resumes it. */
export async function pause(pid: number, durationMs: number): Promise<void> {
  signal(pid, 'SIGSTOP');
  try {
    await sleep(durationMs);
  } finally {
    signal(pid, 'SIGCONT');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Exited meanwhile.
  }
}

// ---------------------------------------------------------------------------------------------
// The observer: what Pulse showed, polled as an operator's screen would, plus the store

const NORMAL = new Set(['up', 'degraded', 'maintenance']);

export interface Sample {
  at: number;
  practices: PracticeRow[];
  open: IncidentRow[];
  ready: boolean | null;
  readyReasons: string[];
}

export interface Measurements {
  test: string;
  practices: number;
  polls: number;
  /** Polls Pulse did not answer in time (it was stopped, or starved). */
  unanswered: number;
  /** Practices any poll showed down. */
  shownDown: string[];
  /** Practices the store recorded going down (catches a down between two polls). */
  storedDown: string[];
  servicesDown: string[];
  /** Incidents opened since the observer started, by kind. */
  incidentsByKind: Record<string, number>;
  /** Opened incidents other than Pulse's own self-incident (false ones, unless the test broke something). */
  otherIncidents: IncidentRow[];
  /** Most practices shown unknown in one poll. */
  worstUnknown: number;
  /** Fault start → first sign Pulse knew it was impaired (its self-incident, or /readyz not ready). */
  detectMs: number | null;
  /** Fault end → back to normal (every practice up or degraded, no open incident, ready). */
  recoverMs: number | null;
}

export class Observer {
  /** Epoch ms from which incidents and stored transitions count (default: when it was made). */
  readonly since: number;
  readonly samples: Sample[] = [];
  readonly incidents = new Map<number, IncidentRow>();
  private readonly shownDown = new Set<string>();
  private worstUnknown = 0;
  private polls = 0;
  private unanswered = 0;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private faultStart: number | null = null;
  private faultEnd: number | null = null;
  private detectedAt: number | null = null;
  private recoveredAt: number | null = null;

  private readonly everyMs: number;

  constructor(
    private readonly stack: Stack,
    opts: { everyMs?: number; since?: number } = {},
  ) {
    this.everyMs = opts.everyMs ?? 1_000;
    this.since = opts.since ?? Date.now();
  }

  start(): this {
    this.timer = setInterval(() => void this.poll(), this.everyMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get last(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** One poll now (also what the timer runs); skipped while one is still out. */
  async poll(): Promise<Sample | null> {
    if (this.polling) return null;
    this.polling = true;
    this.polls++;
    try {
      const api = this.stack.api;
      const [practices, open, recent, ready] = await Promise.all([
        api.get<{ practices: PracticeRow[] }>('/api/practices?limit=10000'),
        api.get<{ incidents: IncidentRow[] }>('/api/incidents?status=open&limit=500'),
        api.get<{ incidents: IncidentRow[] }>('/api/incidents?status=recent&limit=500'),
        fetch(`${this.stack.url}/readyz`, { signal: AbortSignal.timeout(3_000) }).then(async (r) => (await r.json()) as { ready: boolean; reasons: string[] }),
      ]);
      const sample: Sample = { at: Date.now(), practices: practices.practices, open: open.incidents, ready: ready.ready, readyReasons: ready.reasons };
      this.samples.push(sample);
      if (this.samples.length > 2_000) this.samples.shift();
      for (const p of sample.practices) if (p.status === 'down') this.shownDown.add(p.ods);
      this.worstUnknown = Math.max(this.worstUnknown, sample.practices.filter((p) => p.status === 'unknown').length);
      for (const i of [...recent.incidents, ...open.incidents]) {
        if (Date.parse(i.openedAt) >= this.since - 1_000) this.incidents.set(i.id, i);
      }
      if (this.faultStart !== null && this.detectedAt === null && (sample.open.some((i) => i.kind === 'pulse') || !sample.ready)) {
        this.detectedAt = sample.at;
      }
      if (this.faultEnd !== null && this.recoveredAt === null && isNormal(sample)) this.recoveredAt = sample.at;
      return sample;
    } catch {
      this.unanswered++;
      return null;
    } finally {
      this.polling = false;
    }
  }

  /** The fault began (now, or at `at`): detection is measured from here. */
  faultStarted(at = Date.now()): void {
    this.faultStart = at;
  }

  /** The fault ended (now, or at `at`): recovery is measured from here. */
  faultEnded(at = Date.now()): void {
    this.faultEnd = at;
  }

  /** Waits for a fresh poll that satisfies `test`; throws with the last sample's state otherwise. */
  async waitFor(what: string, timeoutMs: number, test: (s: Sample) => boolean): Promise<Sample> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (;;) {
      // A poll already out (the observer's own timer) answers null here: judge its sample instead,
      // or a wait that keeps meeting the timer's polls never sees what they saw.
      const polled = await this.poll();
      const last = this.last;
      const s = polled ?? (last && last.at >= started ? last : null);
      if (s && test(s)) return s;
      if (Date.now() > deadline) {
        const last = this.last;
        throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}; last seen: ${last ? describe(last) : 'nothing (Pulse never answered)'}`);
      }
      await sleep(this.everyMs);
    }
  }

  /** Waits for the estate to be steady: every practice up or degraded, nothing open, ready. */
  steady(timeoutMs = 90_000): Promise<Sample> {
    return this.waitFor('a steady estate (every practice up or degraded, no open incident, /readyz ready)', timeoutMs, isNormal);
  }

  measure(): Measurements {
    const stored = this.stack.storedTransitions(this.since);
    const storedDown = new Set(stored.filter((t) => t.to === 'down' && t.subject.startsWith('practice:')).map((t) => t.subject.slice(9)));
    const servicesDown = new Set(stored.filter((t) => t.to === 'down' && t.subject.startsWith('service:')).map((t) => t.subject.slice(8)));
    for (const s of this.samples) for (const p of s.practices) if (p.status === 'down') this.shownDown.add(p.ods);
    const byKind: Record<string, number> = {};
    for (const i of this.incidents.values()) byKind[i.kind] = (byKind[i.kind] ?? 0) + 1;
    // Pulse's self-incident may open and close between two polls: the recent list still has it.
    const selfOpened = [...this.incidents.values()]
      .filter((i) => i.kind === 'pulse' && this.faultStart !== null && Date.parse(i.openedAt) >= this.faultStart - 1_000)
      .map((i) => Date.parse(i.openedAt));
    const detectedAt = [this.detectedAt, ...selfOpened].filter((t): t is number => t !== null).sort((a, b) => a - b)[0] ?? null;
    return {
      test: this.stack.opts.name,
      practices: this.last?.practices.length ?? this.stack.opts.practices,
      polls: this.polls,
      unanswered: this.unanswered,
      shownDown: [...this.shownDown].sort(),
      storedDown: [...storedDown].sort(),
      servicesDown: [...servicesDown].sort(),
      incidentsByKind: byKind,
      otherIncidents: [...this.incidents.values()].filter((i) => i.kind !== 'pulse'),
      worstUnknown: this.worstUnknown,
      detectMs: detectedAt === null || this.faultStart === null ? null : Math.max(0, detectedAt - this.faultStart),
      recoverMs: this.recoveredAt === null || this.faultEnd === null ? null : this.recoveredAt - this.faultEnd,
    };
  }
}

export function isNormal(s: Sample): boolean {
  return s.ready === true && s.open.length === 0 && s.practices.length > 0 && s.practices.every((p) => NORMAL.has(p.status));
}

function describe(s: Sample): string {
  const counts: Record<string, number> = {};
  for (const p of s.practices) counts[p.status] = (counts[p.status] ?? 0) + 1;
  const open = s.open.map((i) => `${i.kind}:${i.title}`).slice(0, 5);
  return `practices ${JSON.stringify(counts)}, ${s.open.length} open incident(s)${open.length ? ` [${open.join('; ')}${s.open.length > 5 ? '; …' : ''}]` : ''}, ready ${s.ready}${s.readyReasons.length ? ` (${s.readyReasons.join('; ')})` : ''}`;
}

/** The one line each chaos test prints: what it measured. */
export function summary(m: Measurements, extra: Record<string, string | number> = {}): string {
  const kinds = Object.entries(m.incidentsByKind).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const parts = [
    `${m.practices} practices`,
    `practices down ${m.shownDown.length} shown / ${m.storedDown.length} stored`,
    ...(m.servicesDown.length ? [`services down ${m.servicesDown.join(',')}`] : []),
    `incidents opened: ${kinds}`,
    `incidents besides Pulse's own ${m.otherIncidents.length}`,
    `worst unknown ${m.worstUnknown}`,
    `detect ${seconds(m.detectMs)}`,
    `recover ${seconds(m.recoverMs)}`,
    `polls ${m.polls} (${m.unanswered} unanswered)`,
    ...Object.entries(extra).map(([k, v]) => `${k} ${v}`),
  ];
  return `chaos[${m.test}]: ${parts.join('; ')}`;
}

/** Prints the summary line, and the first false incidents and downs if there are any. */
export function report(m: Measurements, extra: Record<string, string | number> = {}): void {
  const lines = [summary(m, extra)];
  if (m.otherIncidents.length) lines.push(`  incidents besides Pulse's own: ${m.otherIncidents.slice(0, 5).map((i) => `${i.kind} "${i.title}"`).join('; ')}${m.otherIncidents.length > 5 ? `; … ${m.otherIncidents.length - 5} more` : ''}`);
  if (m.storedDown.length || m.shownDown.length) lines.push(`  practices down: ${[...new Set([...m.shownDown, ...m.storedDown])].slice(0, 12).join(', ')}${m.storedDown.length > 12 ? ', …' : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A soft expectation that `items` is empty, naming the first few when it is not (no long diff). */
export function expectNone(items: readonly string[], what: string): void {
  const shown = items.slice(0, 6).join('; ') + (items.length > 6 ? `; … ${items.length - 6} more` : '');
  expect.soft(items.length, `${what}${items.length ? `: ${shown}` : ''}`).toBe(0);
}

/** A soft expectation that a wait ended in the condition, not a timeout. */
export function expectReached(outcome: unknown, what: string): void {
  expect.soft(outcome instanceof Error ? outcome.message : 'reached', what).toBe('reached');
}
