// The server's side of the probe-worker protocol (probes/protocol.ts): authenticates
// workers, hands each its share of the checks, and passes validated results on.
// It never judges a result; the status engine does. What it decides is what a worker may
// not: a result's location (the connection's hello), its time (the server's receive time),
// and whether its observer could judge it (the worker's own health, from its stats).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { ERROR_CLASSES, type CheckAssignment, type CheckResult } from '../../probes/types';
import type { ObserverHealth, ServerToWorker, WorkerToServer } from '../../probes/protocol';
import type { Permission } from '../auth/permissions';
import { WORKER_PROTOCOL_VERSION } from '../../probes/protocol';

/** A certificate's notAfter, epoch ms (zod 4 numbers are finite: it becomes a metric value). */
const certExpiresAt = z.number();
/** Plain words from a worker, shown to operators: bounded, one line. */
const reason = z.string().min(1).max(500).regex(/^[^\p{Cc}]*$/u, 'no control characters');

// A result carries no location (protocol 2): an extra `location` key is stripped, never read.
const resultSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    checkId: z.string(),
    at: z.number(),
    latencyMs: z.number(),
    detail: z.string().optional(),
    degraded: z.string().max(1_000).optional(),
    certExpiresAt: certExpiresAt.optional(),
    impaired: reason.optional(),
  }),
  z.object({
    ok: z.literal(false),
    checkId: z.string(),
    at: z.number(),
    latencyMs: z.number(),
    error: z.enum(ERROR_CLASSES),
    detail: z.string(),
    certExpiresAt: certExpiresAt.optional(),
    impaired: reason.optional(),
  }),
]);

const observerHealthSchema = z.object({
  lagMs: z.number(),
  eventLoopDelayMs: z.number(),
  stalledMs: z.number(),
  canary: z.object({ ok: z.boolean(), latencyMs: z.number(), detail: z.string().max(500) }).nullable(),
  timeoutShare: z.number().min(0).max(1),
  impaired: reason.nullable(),
}) satisfies z.ZodType<ObserverHealth>;

const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocol: z.number(),
    // Checked in hello(), so a bad one is refused with a close reason the worker sees.
    location: z.string().max(10_000),
    pid: z.number(),
  }),
  z.object({ type: z.literal('results'), results: z.array(resultSchema).max(10_000) }),
  z.object({ type: z.literal('stats'), lagMs: z.number(), running: z.number(), checks: z.number(), self: observerHealthSchema }),
]);

/**
 * Every message a probe worker may send, with the permission it needs. The connection was
 * already authenticated with a worker token on upgrade (`public` here means: nothing beyond
 * that token); a worker token can do nothing else. A Record over the union: none can be missed.
 */
export const WORKER_MESSAGES: Record<WorkerToServer['type'], Permission> = { hello: 'public', results: 'public', stats: 'public' };

/** Why a result was refused: dated too far ahead of its receive time, or finished too long before it. */
export const REJECT_REASONS = ['future', 'late'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * Why a worker's hello was refused for its location: not a location name (`invalid`), its
 * token already claimed its most (`token_limit`), or the estate already has its most (`estate_limit`).
 */
export const LOCATION_REJECT_REASONS = ['invalid', 'token_limit', 'estate_limit'] as const;
export type LocationRejectReason = (typeof LOCATION_REJECT_REASONS)[number];

/** Distinct locations one credential may claim, and the estate in all, by default. */
export const DEFAULT_MAX_LOCATIONS_PER_TOKEN = 4;
export const DEFAULT_MAX_LOCATIONS = 64;
export const MAX_LOCATION_LENGTH = 64;
/** Letters or digits first, then letters, digits, spaces and `. _ - : / ( )`. */
const LOCATION_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._:/()-]*$/u;

/** Why `location` is not a location name, in words for a close reason; null when it is one. */
export function locationProblem(location: string): string | null {
  if (location.length === 0) return 'empty';
  if (location.length > MAX_LOCATION_LENGTH) return `longer than ${MAX_LOCATION_LENGTH} characters`;
  if (!LOCATION_NAME.test(location)) return 'expected letters, digits, spaces and . _ - : / ( ), starting with a letter or digit';
  return null;
}

/** A hello refused for its location, once per connection (also counted: locationsRejected()). */
export interface RejectedLocation {
  source: string;
  pid: number;
  /** As the worker sent it, cut to 100 characters. */
  location: string;
  reason: LocationRejectReason;
  /** What the worker was told, and more (the token's locations). */
  detail: string;
}

export interface WorkerInfo {
  id: number;
  location: string;
  pid: number;
  /** The credential it connected with: 'shared', or 'token:<id>' for a stored worker token. */
  source: string;
  checks: number;
  lagMs: number;
  /** The worker's own view of its health, from its latest stats; null before the first. */
  self: ObserverHealth | null;
  /** Why the server takes its failures as no evidence now, in the server's words; null when it can judge. */
  impaired: string | null;
}

/** One worker that cannot judge now, for Pulse's self-incident. */
export interface Impairment {
  location: string;
  pid: number;
  /** `Pulse's probes in <location> are overloaded: <reason>`. */
  detail: string;
}

export interface RejectedResults {
  location: string;
  pid: number;
  source: string;
  reason: RejectReason;
  count: number;
  /** The largest distance from the receive time among them (ms). */
  worstSkewMs: number;
}

export interface GatewayTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

interface Hello {
  location: string;
  pid: number;
  /** Same worker process, same credential: a reconnect within the grace gets its checks back. */
  key: string;
  /** Its rendezvous hash, from the key. */
  hash: number;
  helloAt: number;
}

interface Connection {
  ws: WebSocket;
  id: number;
  source: string;
  hello: Hello | null;
  awaitingPong: boolean;
  lagMs: number;
  self: ObserverHealth | null;
  statsAt: number | null;
  /** Ids last sent to it, in order, to send only what changed when workers come and go; null before the first. */
  assigned: string[] | null;
}

/** A worker that disconnected: its share waits for it until `timer` fires. */
interface Departed {
  location: string;
  key: string;
  hash: number;
  timer: unknown;
}

export interface WorkerGatewayOptions {
  token: string;
  checks: () => CheckAssignment[];
  /** Validated results, location and time set by the server; `source` is the connection's. */
  onResults: (results: CheckResult[], source: string) => void;
  onProtocolError?: (reason: string) => void;
  /** Results refused for their time, once per batch and reason (also counted: rejected()). */
  onRejected?: (rejected: RejectedResults) => void;
  /** A hello refused for its location (also counted: locationsRejected()). */
  onLocationRejected?: (rejected: RejectedLocation) => void;
  /**
   * Distinct locations one credential may claim since the server started (default 4): what a
   * location reported stays in the engine and the metrics until restart, so a claim does too.
   */
  maxLocationsPerToken?: number;
  /** Distinct locations of every credential together since start (default 64). */
  maxLocations?: number;
  /** Server clock, epoch ms (default Date.now): each result's `at` becomes this receive time. */
  now?: () => number;
  /** A result whose `at` is further than this from its receive time is refused (default 30 s). */
  maxSkewMs?: number;
  /** A worker whose stats are older than this (results still arriving) is impaired (default 3 s; stats come every second). */
  statsOverdueMs?: number;
  /**
   * How long a departed worker's checks wait for it to reconnect before moving to the
   * others (default 10 s). Never more than half the shortest check interval, so waiting
   * never lets a check go stale.
   */
  reassignGraceMs?: number;
  timers?: GatewayTimers;
}

const defaultTimers: GatewayTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class WorkerGateway {
  private readonly connections = new Set<Connection>();
  private readonly departed = new Map<string, Departed>();
  private nextId = 1;
  private closing = false;
  private readonly tokenDigest: Buffer;
  private readonly now: () => number;
  private readonly maxSkewMs: number;
  private readonly statsOverdueMs: number;
  private readonly timers: GatewayTimers;
  private readonly rejectedCounts: Record<RejectReason, number> = { future: 0, late: 0 };
  private readonly locationRejectedCounts: Record<LocationRejectReason, number> = { invalid: 0, token_limit: 0, estate_limit: 0 };
  /** Every location accepted since start, and each credential's. */
  private readonly locations = new Set<string>();
  private readonly claims = new Map<string, Set<string>>();

  constructor(private readonly opts: WorkerGatewayOptions) {
    this.tokenDigest = digest(opts.token);
    this.now = opts.now ?? Date.now;
    this.maxSkewMs = opts.maxSkewMs ?? 30_000;
    this.statsOverdueMs = opts.statsOverdueMs ?? 3_000;
    this.timers = opts.timers ?? defaultTimers;
  }

  /** Constant-time check of the upgrade request's bearer token against the shared one. */
  authorize(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    return match !== null && timingSafeEqual(digest(match[1]!), this.tokenDigest);
  }

  workers(): WorkerInfo[] {
    const now = this.now();
    return [...this.connections].flatMap((c) => {
      if (!c.hello) return [];
      const impaired = this.impairedReason(c, now);
      return [
        {
          id: c.id,
          location: c.hello.location,
          pid: c.hello.pid,
          source: c.source,
          checks: c.assigned?.length ?? 0,
          lagMs: c.lagMs,
          self: c.self,
          impaired: impaired === null ? null : overloaded(c.hello.location, impaired),
        },
      ];
    });
  }

  /** The connected workers that cannot judge now, and why: what Pulse's self-incident reports. */
  impairments(): Impairment[] {
    return this.workers().flatMap((w) => (w.impaired === null ? [] : [{ location: w.location, pid: w.pid, detail: w.impaired }]));
  }

  /** Results refused for their time since start, by reason (pulse_worker_results_rejected_total). */
  rejected(): Record<RejectReason, number> {
    return { ...this.rejectedCounts };
  }

  /** Hellos refused for their location since start, by reason (pulse_worker_connections_rejected_total). */
  locationsRejected(): Record<LocationRejectReason, number> {
    return { ...this.locationRejectedCounts };
  }

  /**
   * Takes an authenticated connection. `source` is the credential it opened with:
   * 'shared' (the server's PULSE_WORKER_TOKEN) or tokenSource(id) of a stored worker token.
   */
  attach(ws: WebSocket, source: string): void {
    const connection: Connection = { ws, id: this.nextId++, source, hello: null, awaitingPong: false, lagMs: 0, self: null, statsAt: null, assigned: null };
    this.connections.add(connection);
    ws.on('pong', () => (connection.awaitingPong = false));
    ws.on('close', () => this.departure(connection));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => this.receive(connection, String(data)));
  }

  /**
   * Re-sends every worker its assignment (after a configuration reload). Every location runs
   * every check (so locations can vote); within a location each check goes to the worker
   * with the highest rendezvous weight for it, so a worker joining or leaving moves only
   * its own share. A departed worker keeps its share, unrun, through the grace.
   */
  rebalance(): void {
    this.assign(true);
  }

  /**
   * Drops workers that neither answered the previous ping nor sent anything since (a
   * silently dead connection), so their checks move to the others; call every few seconds.
   * The verdict waits until I/O already received has been read (setImmediate), so after this
   * server itself stalled, pongs sitting unread in its buffers still count.
   */
  sweep(): void {
    const suspects: Connection[] = [];
    for (const c of this.connections) {
      if (c.awaitingPong) {
        suspects.push(c);
        continue;
      }
      c.awaitingPong = true;
      c.ws.ping();
    }
    if (suspects.length === 0) return;
    setImmediate(() => {
      for (const c of suspects) if (c.awaitingPong && this.connections.has(c)) c.ws.terminate();
    });
  }

  closeAll(code: number, reason: string): void {
    this.closing = true;
    for (const d of this.departed.values()) this.timers.clearTimeout(d.timer);
    this.departed.clear();
    for (const c of this.connections) c.ws.close(code, reason);
  }

  private receive(connection: Connection, text: string): void {
    connection.awaitingPong = false; // any message is a sign of life
    let parsed: z.infer<typeof workerMessageSchema>;
    try {
      parsed = workerMessageSchema.parse(JSON.parse(text));
    } catch (err) {
      const reason = err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : 'not JSON';
      this.opts.onProtocolError?.(`worker message rejected: ${reason}`);
      return;
    }
    switch (parsed.type) {
      case 'hello':
        return this.hello(connection, parsed);
      case 'results':
        if (connection.hello) this.results(connection, connection.hello, parsed.results);
        return;
      case 'stats':
        connection.lagMs = parsed.lagMs;
        connection.self = parsed.self;
        connection.statsAt = this.now();
        return;
    }
  }

  private hello(connection: Connection, hello: { protocol: number; location: string; pid: number }): void {
    if (hello.protocol !== WORKER_PROTOCOL_VERSION) {
      connection.ws.close(4400, `worker protocol ${hello.protocol} is not supported: this server needs protocol ${WORKER_PROTOCOL_VERSION}; upgrade the worker`);
      return;
    }
    if (connection.hello) {
      this.opts.onProtocolError?.(`worker message rejected: a second hello on one connection (location ${connection.hello.location}, pid ${connection.hello.pid})`);
      return;
    }
    if (!this.claim(connection, hello.location, hello.pid)) return;
    const key = this.freeKey(`${connection.source}\u0000${hello.location}\u0000${hello.pid}`);
    connection.hello = { location: hello.location, pid: hello.pid, key, hash: hash32(key), helloAt: this.now() };
    const waiting = this.departed.get(key);
    if (waiting) {
      this.timers.clearTimeout(waiting.timer);
      this.departed.delete(key);
    }
    this.assign(false);
  }

  /**
   * Whether this connection may speak for `location`: a location name, one its credential
   * already claimed or may still claim, in an estate that has it or room for it. Otherwise it
   * is closed with the reason (4400 not a name, 4403 over a bound), counted and reported.
   */
  private claim(connection: Connection, location: string, pid: number): boolean {
    const max = this.opts.maxLocationsPerToken ?? DEFAULT_MAX_LOCATIONS_PER_TOKEN;
    const maxEstate = this.opts.maxLocations ?? DEFAULT_MAX_LOCATIONS;
    const claimed = this.claims.get(connection.source) ?? new Set<string>();
    let refusal: { reason: LocationRejectReason; code: number; words: string; detail: string } | null = null;
    const problem = locationProblem(location);
    if (problem !== null) {
      refusal = { reason: 'invalid', code: 4400, words: `location refused: ${problem}`, detail: problem };
    } else if (!claimed.has(location) && claimed.size >= max) {
      refusal = {
        reason: 'token_limit',
        code: 4403,
        words: `location refused: this token already claimed ${max} locations, the most one token may (PULSE_WORKER_MAX_LOCATIONS_PER_TOKEN)`,
        detail: `the credential already claimed ${max} locations since start (${[...claimed].join(', ')})`,
      };
    } else if (!this.locations.has(location) && this.locations.size >= maxEstate) {
      refusal = {
        reason: 'estate_limit',
        code: 4403,
        words: `location refused: the estate already has ${maxEstate} probe locations, the most allowed (PULSE_WORKER_MAX_LOCATIONS)`,
        detail: `the estate already has ${maxEstate} probe locations since start`,
      };
    }
    if (refusal) {
      this.locationRejectedCounts[refusal.reason]++;
      this.opts.onLocationRejected?.({ source: connection.source, pid, location: location.slice(0, 100), reason: refusal.reason, detail: refusal.detail });
      connection.ws.close(refusal.code, refusal.words);
      return false;
    }
    claimed.add(location);
    this.claims.set(connection.source, claimed);
    this.locations.add(location);
    return true;
  }

  /**
   * A worker's identity for sharing: credential, location and pid, so a reconnect of the same
   * process finds its share waiting. Two live connections never share one: two containers
   * that are both pid 1 on one token and location, or a worker back while its old link is
   * not yet known dead, get `#2`, `#3`… (no connection is dropped for it: that would make
   * them take turns knocking each other off).
   */
  private freeKey(base: string): string {
    const taken = new Set<string>();
    for (const c of this.connections) if (c.hello) taken.add(c.hello.key);
    let key = base;
    for (let n = 2; taken.has(key); n++) key = `${base}#${n}`;
    return key;
  }

  private departure(connection: Connection): void {
    this.connections.delete(connection);
    const hello = connection.hello;
    if (!hello || this.closing) return;
    const graceMs = this.graceMs();
    const entry: Departed = {
      location: hello.location,
      key: hello.key,
      hash: hello.hash,
      timer: this.timers.setTimeout(() => {
        if (this.departed.get(hello.key) !== entry) return;
        this.departed.delete(hello.key);
        this.assign(false);
      }, graceMs),
    };
    const previous = this.departed.get(hello.key);
    if (previous) this.timers.clearTimeout(previous.timer);
    this.departed.set(hello.key, entry);
  }

  /** The grace: the option (10 s), at most half the shortest interval of the checks. */
  private graceMs(): number {
    let shortest = Infinity;
    for (const c of this.opts.checks()) if (c.intervalMs < shortest) shortest = c.intervalMs;
    return Math.max(0, Math.min(this.opts.reassignGraceMs ?? 10_000, shortest / 2));
  }

  /** Each location's checks by rendezvous weight; sends to the workers whose share changed (or all, `force`). */
  private assign(force: boolean): void {
    const byLocation = new Map<string, { hash: number; key: string; connection: Connection | null }[]>();
    const member = (location: string, m: { hash: number; key: string; connection: Connection | null }) => {
      const list = byLocation.get(location) ?? [];
      list.push(m);
      byLocation.set(location, list);
    };
    for (const c of this.connections) if (c.hello) member(c.hello.location, { hash: c.hello.hash, key: c.hello.key, connection: c });
    for (const d of this.departed.values()) member(d.location, { hash: d.hash, key: d.key, connection: null });
    if (byLocation.size === 0) return;

    const checks = this.opts.checks();
    const checkHashes = checks.map((c) => hash32(c.id));
    for (const members of byLocation.values()) {
      members.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // ties go to the same member everywhere
      const shares = members.map((): CheckAssignment[] => []);
      checks.forEach((check, i) => {
        const h = checkHashes[i]!;
        let best = 0;
        let bestWeight = -1;
        for (let m = 0; m < members.length; m++) {
          const weight = mix32(h ^ members[m]!.hash);
          if (weight > bestWeight) {
            best = m;
            bestWeight = weight;
          }
        }
        shares[best]!.push(check);
      });
      members.forEach((m, i) => {
        const c = m.connection;
        if (!c) return; // a departed worker's share waits for it
        const share = shares[i]!;
        if (!force && c.assigned !== null && sameIds(c.assigned, share)) return;
        c.assigned = share.map((a) => a.id);
        send(c.ws, { type: 'assign', checks: share });
      });
    }
  }

  private results(connection: Connection, hello: Hello, results: z.infer<typeof resultSchema>[]): void {
    const now = this.now();
    const impaired = this.impairedReason(connection, now);
    const out: CheckResult[] = [];
    const refused: Record<RejectReason, { count: number; worst: number }> = { future: { count: 0, worst: 0 }, late: { count: 0, worst: 0 } };
    for (const r of results) {
      // A run finishes at `at` + its latency: a long timeout is not lateness.
      const ahead = r.at - now;
      const behind = now - (r.at + Math.max(0, r.latencyMs));
      const verdict: RejectReason | null = ahead > this.maxSkewMs ? 'future' : behind > this.maxSkewMs ? 'late' : null;
      if (verdict) {
        const skew = verdict === 'future' ? ahead : behind;
        refused[verdict].count++;
        refused[verdict].worst = Math.max(refused[verdict].worst, skew);
        continue;
      }
      const { impaired: workerReason, ...rest } = r;
      const result: CheckResult = { ...rest, at: now, location: hello.location };
      // Only a failure or a slow success can be the observer's fault; a clean success is judged.
      const clean = r.ok && r.degraded === undefined;
      const why = workerReason ?? impaired;
      if (!clean && why !== null) result.impaired = overloaded(hello.location, why);
      out.push(result);
    }
    for (const reason of REJECT_REASONS) {
      const { count, worst } = refused[reason];
      if (count === 0) continue;
      this.rejectedCounts[reason] += count;
      this.opts.onRejected?.({ location: hello.location, pid: hello.pid, source: connection.source, reason, count, worstSkewMs: worst });
    }
    if (out.length > 0) this.opts.onResults(out, connection.source);
  }

  /** Why this worker cannot judge now (its own words, or the server's), or null. */
  private impairedReason(c: Connection, now: number): string | null {
    if (!c.hello) return null;
    if (c.self?.impaired) return c.self.impaired;
    if (c.self?.canary && !c.self.canary.ok) return `canary failing: ${c.self.canary.detail}`;
    const since = now - (c.statsAt ?? c.hello.helloAt);
    if (since > this.statsOverdueMs) return `no health report for ${Math.round(since / 1000)} s`;
    return null;
  }
}

/** How the server words a worker's impairment, everywhere it is shown. */
export function overloaded(location: string, reason: string): string {
  return `Pulse's probes in ${location} are overloaded: ${reason}`;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** FNV-1a over UTF-16 units, then mixed: a stable 32-bit hash of a check id or worker key. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** murmur3's finaliser: every input bit moves every output bit (the rendezvous weight). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function sameIds(ids: readonly string[], share: readonly CheckAssignment[]): boolean {
  if (ids.length !== share.length) return false;
  for (let i = 0; i < ids.length; i++) if (ids[i] !== share[i]!.id) return false;
  return true;
}

function send(ws: WebSocket, message: ServerToWorker): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}
