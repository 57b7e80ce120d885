// The probe worker process: connects to the server's /workers WebSocket, runs
// the checks it is assigned and streams their results back, surviving
// disconnects (checks keep running; results are buffered, oldest dropped past
// a bound) until SIGTERM/SIGINT.
// It watches itself (probes/self.ts) and runs a loopback canary through its own
// scheduler (probes/canary.ts): every second it tells the server its own health,
// and a failed run it could not judge (it stalled, ran late or its canary was not
// answering meanwhile) goes out tagged `impaired` with the reason.
// It must never decide what a result means (the server does), never print a
// stack trace or the token, never send a location with a result (the server
// takes it from the connection), and never start anything merely by being imported.
import { isEntryPoint } from './entry';
import WebSocket from 'ws';
import { z } from 'zod';
import { CANARY_CHECK_ID, CANARY_HOST_KEY, CANARY_KIND, canaryKind, startCanary, type Canary } from './canary';
import { WORKER_PROTOCOL_VERSION, type ServerToWorker, type WorkerResult, type WorkerToServer } from './protocol';
import { checkKinds, type CheckKindLookup } from './registry';
import { Scheduler, hostOf, type AssignmentSummary, type Clock } from './scheduler';
import { SelfWatch, DEFAULT_SELF_WINDOW_MS } from './self';
import type { CheckAssignment } from './types';

export const RESULT_FLUSH_MS = 250;
export const RESULT_BATCH_MAX = 500;
export const STATS_EVERY_MS = 1_000;
export const RESULT_BUFFER_MAX = 10_000;
/** The scheduler wakes at most this often and starts everything then due together (see SchedulerOptions.tickMs). */
export const SCHEDULER_TICK_MS = 20;
/**
 * Checks newly assigned to this worker (all of them after a restart, of the worker or of the
 * server) run within this first part of their interval, then at their slots (SchedulerOptions.catchUpFraction).
 */
export const CATCH_UP_FRACTION = 0.2;
/**
 * …and no more than this many of them start a second (the window stretches, up to half the
 * interval): 25,000 checks on a worker at 30 s catch up over 15 s, not in a 6 s burst at
 * five times the steady rate that the worker, beside the server on two cores, cannot carry.
 */
export const CATCH_UP_RATE_PER_SECOND = 1_500;
const PING_EVERY_MS = 15_000;
const RECONNECT_BASE_MS = 500;
/**
 * Longest wait between reconnect attempts. Short on purpose: a server back after a restart
 * should have its workers back within seconds (a 30 s cap left them up to 30 s behind it,
 * on top of the interval). A refused connection costs the server next to nothing, and the
 * jitter keeps the workers from arriving together.
 */
export const RECONNECT_CAP_MS = 5_000;
/** Stop handing data to a socket that already has this much unsent (slow or stuck link). */
const SOCKET_BACKLOG_MAX_BYTES = 4 * 1024 * 1024;
const CLOSE_GRACE_MS = 1_000;

export interface WorkerOptions {
  /** ws:// or wss:// (http(s):// accepted); `/workers` is appended when the URL has no path. */
  serverUrl: string;
  token: string;
  location: string;
  /** Most checks in flight at once (default: the scheduler's). */
  concurrency?: number;
  /** Most checks in flight against one host at once (default: the scheduler's). */
  perHostConcurrency?: number;
  resultBufferMax?: number;
  /** For the scheduler and the self-watch only; connection timers are real. */
  clock?: Clock;
  kinds?: CheckKindLookup;
  /** How far back the worker's view of its own health looks (default 10 s; also the scheduler's lag window). */
  selfWindowMs?: number;
  /** Impaired when the event-loop delay p99 over the window passes this (ms, default 1,000). */
  impairedEventLoopDelayMs?: number;
  /** Impaired when the longest stall in the window passes this (ms, default 1,000). */
  impairedStallMs?: number;
  /** A gap in the worker's own event loop at least this long is a stall (ms, default 500); a failed run overlapping one is tagged. */
  stallMinMs?: number;
  /** How often the loopback canary is probed (ms, default 2,000) and its timeout (ms, default 1,000). */
  canaryIntervalMs?: number;
  canaryTimeoutMs?: number;
  /** One line per call, no trailing newline. Default: stderr. */
  log?: (line: string) => void;
}

export type WorkerExit = { reason: 'stopped' } | { reason: 'unauthorized'; message: string };

export interface WorkerHandle {
  /** Settles once the worker has stopped, by stop() or because the server refused the token. */
  readonly done: Promise<WorkerExit>;
  /** Flushes what it can, closes the socket and stops every check and timer. */
  stop(): Promise<void>;
  /** Results dropped so far because the buffer was full while disconnected. */
  droppedResults(): number;
}

// Validated at the edge: nothing from the socket reaches the scheduler unchecked.
const assignmentSchema = z.object({
  id: z.string().min(1),
  kind: z.string().min(1),
  target: z.string(),
  intervalMs: z.number(),
  timeoutMs: z.number(),
  options: z.record(z.string(), z.unknown()).default({}),
});
const assignMessage = z.object({ type: z.literal('assign'), checks: z.array(assignmentSchema) });

/** Normalises the server address to the /workers endpoint; throws a one-line Error if unusable. */
export function workersUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`"${server}" is not a valid server URL (expected ws://host:port)`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`"${server}" must be a ws:// or wss:// URL`);
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/workers';
  return url.toString();
}

/** Results waiting to be sent: drops the oldest past `max` (counting them), O(1) per push. */
export class BoundedBuffer<T> {
  private items: T[] = [];
  private head = 0;
  dropped = 0;
  constructor(private readonly max: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.size > this.max) {
      this.head++;
      this.dropped++;
    }
    if (this.head > this.max) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  take(n: number): T[] {
    const batch = this.items.slice(this.head, this.head + n);
    this.head += batch.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return batch;
  }
}

/**
 * How long to wait before reconnect attempt `attempt` (0 first): doubling from 500 ms up to
 * RECONNECT_CAP_MS, jittered over its upper half so that workers do not arrive together.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

export function runWorker(options: WorkerOptions): WorkerHandle {
  const url = workersUrl(options.serverUrl);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const buffer = new BoundedBuffer<WorkerResult>(options.resultBufferMax ?? RESULT_BUFFER_MAX);
  let socket: WebSocket | undefined;
  let stopping = false;
  let attempt = 0;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let droppedReported = 0;
  let resolveDone!: (exit: WorkerExit) => void;
  const done = new Promise<WorkerExit>((resolve) => {
    resolveDone = resolve;
  });

  const send = (message: WorkerToServer): void => {
    socket?.send(JSON.stringify(message));
  };
  const isOpen = (): boolean => socket !== undefined && socket.readyState === WebSocket.OPEN;

  const flush = (): void => {
    while (buffer.size > 0 && isOpen() && (socket?.bufferedAmount ?? 0) < SOCKET_BACKLOG_MAX_BYTES) {
      send({ type: 'results', results: buffer.take(RESULT_BATCH_MAX) });
    }
  };

  const selfWindowMs = options.selfWindowMs ?? DEFAULT_SELF_WINDOW_MS;
  const self = new SelfWatch({
    clock: options.clock,
    windowMs: selfWindowMs,
    impairedEventLoopDelayMs: options.impairedEventLoopDelayMs,
    impairedStallMs: options.impairedStallMs,
    stallMinMs: options.stallMinMs,
  });
  self.start();
  /** The checks the server assigned; the canary runs beside them once it listens. */
  let assigned: CheckAssignment[] = [];
  let canary: Canary | undefined;
  let impairedWords: string | null = null;

  const scheduler = new Scheduler({
    concurrency: options.concurrency,
    perHostConcurrency: options.perHostConcurrency,
    tickMs: SCHEDULER_TICK_MS,
    catchUpFraction: CATCH_UP_FRACTION,
    catchUpRatePerSecond: CATCH_UP_RATE_PER_SECOND,
    clock: options.clock,
    kinds: { ...(options.kinds ?? checkKinds), [CANARY_KIND]: canaryKind },
    // The canary does not share a loopback estate's per-host bound…
    hostOf: (a) => (a.id === CANARY_CHECK_ID ? CANARY_HOST_KEY : hostOf(a.target)),
    // …nor the total slots: hanging targets filling every slot are the estate's trouble, not the worker's.
    unbounded: (a) => a.id === CANARY_CHECK_ID,
    lagWindowMs: selfWindowMs,
    onResult: (result, timing) => {
      if (result.checkId === CANARY_CHECK_ID) {
        self.recordCanary(result);
        return;
      }
      self.recordFinished(result);
      const impaired = self.judge(result, timing);
      buffer.push(impaired === null ? result : { ...result, impaired });
      if (buffer.size >= RESULT_BATCH_MAX) flush();
    },
  });
  const runChecks = (): AssignmentSummary => scheduler.setChecks(canary ? [...assigned, canary.assignment] : assigned);

  startCanary({ intervalMs: options.canaryIntervalMs, timeoutMs: options.canaryTimeoutMs }).then(
    (started) => {
      if (stopping) {
        void started.close();
        return;
      }
      canary = started;
      self.expectCanary();
      runChecks();
    },
    (err: unknown) => log(`pulse worker: cannot start the loopback canary (${describeError(err)}); running without one`),
  );

  const handleMessage = (data: WebSocket.RawData): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      log('pulse worker: ignoring a message from the server that is not JSON');
      return;
    }
    const type = typeof parsed === 'object' && parsed !== null ? (parsed as { type?: unknown }).type : undefined;
    if (type !== 'assign') {
      log(`pulse worker: ignoring a server message of unknown type ${JSON.stringify(type)}`);
      return;
    }
    const assign = assignMessage.safeParse(parsed);
    if (!assign.success) {
      const first = assign.error.issues[0];
      log(`pulse worker: ignoring an invalid assign message (${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'})`);
      return;
    }
    const message: ServerToWorker = assign.data;
    assigned = message.checks.filter((c) => c.id !== CANARY_CHECK_ID);
    if (assigned.length < message.checks.length) log(`pulse worker: ignoring an assigned check whose id is the canary's own`);
    const { added, firstRunsWithinMs } = runChecks();
    log(`pulse worker: assigned ${assigned.length} check(s); ${added} new, first runs within ${(firstRunsWithinMs / 1000).toFixed(1)} s`);
  };

  const scheduleReconnect = (why: string): void => {
    const delay = reconnectDelayMs(attempt);
    attempt++;
    log(`pulse worker: ${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    reconnectTimer = setTimeout(connect, delay);
  };

  const finish = (exit: WorkerExit): void => {
    stopping = true;
    clearTimers();
    scheduler.stop();
    self.stop();
    const closing = canary?.close();
    canary = undefined;
    void (closing ?? Promise.resolve()).then(() => resolveDone(exit));
  };

  function connect(): void {
    reconnectTimer = undefined;
    if (stopping) return;
    let rejectedStatus: number | undefined;
    let lastError: string | undefined;
    let alive = true;
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${options.token}` },
      handshakeTimeout: 10_000,
    });
    socket = ws;

    ws.on('unexpected-response', (_req, res) => {
      rejectedStatus = res.statusCode;
      res.resume();
      ws.terminate(); // aborts the handshake; 'close' follows
    });
    ws.on('open', () => {
      attempt = 0;
      log(`pulse worker: connected to ${url} as location "${options.location}"`);
      send({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location: options.location, pid: process.pid });
      if (buffer.dropped > droppedReported) {
        log(`pulse worker: dropped ${buffer.dropped - droppedReported} result(s) while disconnected (buffer holds ${RESULT_BUFFER_MAX})`);
        droppedReported = buffer.dropped;
      }
      flush();
    });
    ws.on('message', handleMessage);
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('ping', () => {
      alive = true;
    });
    ws.on('error', (err) => {
      lastError = describeError(err);
    });
    ws.on('close', (code, reasonBytes) => {
      if (socket === ws) socket = undefined;
      clearInterval(pinger);
      if (stopping) return;
      if (rejectedStatus === 401 || rejectedStatus === 403) {
        const message = `pulse worker: the server at ${url} rejected the worker token (HTTP ${rejectedStatus}); check --token or PULSE_WORKER_TOKEN`;
        finish({ reason: 'unauthorized', message });
        return;
      }
      const why =
        rejectedStatus !== undefined
          ? `the server at ${url} answered HTTP ${rejectedStatus} instead of a WebSocket upgrade`
          : lastError !== undefined
            ? `cannot reach ${url}: ${lastError}`
            : `connection to ${url} closed (code ${code}${reasonBytes.length > 0 ? `: ${reasonBytes.toString()}` : ''})`;
      scheduleReconnect(why);
    });
    // A link that dies silently never emits 'close'; a missed pong forces one.
    const pinger = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (!alive) {
        lastError = `no pong within ${PING_EVERY_MS / 1000} s`;
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, PING_EVERY_MS);
  }

  const flushTimer = setInterval(flush, RESULT_FLUSH_MS);
  const statsTimer = setInterval(() => {
    const { lagMs, running, checks } = scheduler.stats();
    const health = self.health(lagMs);
    if (health.impaired !== impairedWords) {
      log(health.impaired === null ? 'pulse worker: no longer impaired' : `pulse worker: impaired: ${health.impaired}`);
      impairedWords = health.impaired;
    }
    if (!isOpen()) return;
    send({ type: 'stats', lagMs: health.lagMs, running, checks: canary ? checks - 1 : checks, self: health });
  }, STATS_EVERY_MS);

  function clearTimers(): void {
    clearInterval(flushTimer);
    clearInterval(statsTimer);
    if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
  }

  connect();

  return {
    done,
    droppedResults: () => buffer.dropped,
    async stop(): Promise<void> {
      if (stopping) {
        await done;
        return;
      }
      stopping = true;
      scheduler.stop();
      self.stop();
      clearTimers();
      const ws = socket;
      if (ws && ws.readyState === WebSocket.OPEN) {
        flush();
        const closed = new Promise<void>((resolve) => {
          const grace = setTimeout(() => {
            ws.terminate();
            resolve();
          }, CLOSE_GRACE_MS);
          ws.once('close', () => {
            clearTimeout(grace);
            resolve();
          });
        });
        ws.close(1000, 'worker stopping');
        await closed;
      } else {
        ws?.terminate();
      }
      finish({ reason: 'stopped' });
    },
  };
}

// ---- command line -------------------------------------------------------

const USAGE =
  'usage: npm run worker -- --server ws://HOST:PORT --token TOKEN [--location NAME] ' +
  '[--concurrency N] [--per-host-concurrency N] (the built file: node dist/probes/worker.js, the same flags) ' +
  '(or PULSE_SERVER_URL, PULSE_WORKER_TOKEN, PULSE_LOCATION, PULSE_CONCURRENCY, PULSE_PER_HOST_CONCURRENCY)';

const LIMIT_FLAGS = {
  concurrency: { env: 'PULSE_CONCURRENCY', option: 'concurrency' },
  'per-host-concurrency': { env: 'PULSE_PER_HOST_CONCURRENCY', option: 'perHostConcurrency' },
} as const;

/** Reads flags (`--name value` or `--name=value`), falling back to the environment. Returns a one-line error on misuse. */
export function parseWorkerArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): WorkerOptions | { error: string } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--(server|token|location|concurrency|per-host-concurrency)(?:=(.*))?$/.exec(arg);
    if (!match) return { error: `unknown argument "${arg}"; ${USAGE}` };
    const name = match[1] ?? '';
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '') return { error: `--${name} needs a value; ${USAGE}` };
    flags.set(name, value);
  }
  const serverUrl = flags.get('server') ?? env.PULSE_SERVER_URL;
  const token = flags.get('token') ?? env.PULSE_WORKER_TOKEN;
  const location = flags.get('location') ?? env.PULSE_LOCATION ?? 'local';
  if (!serverUrl) return { error: `missing --server; ${USAGE}` };
  if (!token) return { error: `missing --token; ${USAGE}` };
  try {
    workersUrl(serverUrl);
  } catch (err) {
    return { error: describeError(err) };
  }
  const options: WorkerOptions = { serverUrl, token, location };
  for (const [flag, { env: envName, option }] of Object.entries(LIMIT_FLAGS)) {
    const text = flags.get(flag) ?? env[envName];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) return { error: `--${flag} (or ${envName}) must be a whole number of at least 1, not "${text}"` };
    options[option] = value;
  }
  return options;
}

async function main(): Promise<void> {
  const parsed = parseWorkerArgs(process.argv.slice(2), process.env);
  if ('error' in parsed) {
    process.stderr.write(`pulse worker: ${parsed.error}\n`);
    process.exit(2);
  }
  const worker = runWorker(parsed);
  const shutdown = (): void => {
    void worker.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // A local worker (spawned by the server with an IPC channel) dies with its parent: killed
  // with -9 the server sends no signal, and an orphan would keep probing with a dead token.
  // (Spawned with a channel, `process.send` exists even once the channel has closed.)
  if (process.send) {
    const parentGone = (): void => {
      process.stderr.write('pulse worker: the server that started this worker has gone; stopping\n');
      shutdown();
    };
    // The parent may have died while this worker was still loading: the event is past then.
    if (!process.connected) parentGone();
    else {
      process.once('disconnect', parentGone);
      (process.channel as { unref?: () => void } | undefined)?.unref?.();
    }
  }
  const exit = await worker.done;
  if (exit.reason === 'unauthorized') {
    process.stderr.write(`${exit.message}\n`);
    process.exit(2);
  }
}

if (isEntryPoint(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`pulse worker: ${describeError(err)}\n`);
    process.exit(1);
  });
}
