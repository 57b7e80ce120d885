// The live hub: the dashboards' WebSocket connections. Sends hello + snapshot on connect,
// then numbered deltas and heartbeats. A slow client never slows the others: past the
// buffer limit it receives nothing more — no delta, no heartbeat, no snapshot — and gets a
// fresh snapshot once it has drained. A snapshot is built and serialised once per change and
// scope, shared by every connection of that scope, and sent from a queue drained a slice at
// a time, so a burst of connections never holds the event loop. `resync` is limited per
// connection (one snapshot a second, extra ones coalesced); a flood is closed.
// It relays what the engine decided; it never computes status.
import type { WebSocket } from 'ws';
import type { Counts, IncidentView, LiveClientMessage, LiveServerMessage, PracticeView, ProbesState, ServiceView } from './protocol';
import { LIVE_PROTOCOL_VERSION } from './protocol';
import type { Permission } from '../auth/permissions';
import { practiceCounts } from '../views';

export interface LiveState {
  probes?: ProbesState;
  /** Why Pulse's own view is impaired, when `probes` is `impaired`. */
  impaired?: string | null;
  practices: PracticeView[];
  services: ServiceView[];
  counts: Counts;
  incidents: IncidentView[];
}

/** The practices one connection may see, and a key naming that scope (equal keys, equal `sees`). */
export interface LiveScope {
  key: string;
  sees: (ods: string) => boolean;
}

/** What the hub refused or put off, for a counter: */
export type LiveLimited =
  /** a snapshot not queued on a socket over the buffer limit (it gets one once drained) */
  | 'snapshot-deferred'
  /** a resync within a second of the last snapshot, folded into one pending snapshot */
  | 'resync-coalesced'
  /** a connection closed for flooding messages (code 4429) */
  | 'flood-closed';

interface Client {
  ws: WebSocket;
  seq: number;
  needsSnapshot: boolean;
  /** Waiting in the snapshot queue: receives nothing else until it is sent. */
  queued: boolean;
  scope: LiveScope | null;
  lastSnapshotAt: number;
  /** A coalesced resync's snapshot, due when the interval has passed. */
  pending: ReturnType<typeof setTimeout> | null;
  windowStart: number;
  windowMessages: number;
}

/**
 * Every message a dashboard may send, with the permission it needs (auth/permissions.ts).
 * A Record over the message union: a new message type cannot be added without one.
 */
export const LIVE_CLIENT_MESSAGES: Record<LiveClientMessage['type'], Permission> = { resync: 'read' };

/** Close code for a connection that sends far more than a dashboard ever does. */
export const LIVE_FLOOD_CLOSE_CODE = 4429;

export interface LiveHubOptions {
  heartbeatMs: number;
  /** Bytes queued on one socket before it is dropped to "needs snapshot". */
  bufferLimitBytes: number;
  snapshot: () => LiveState;
  /** Every practice's current view (for per-connection counts). */
  allPractices: () => PracticeView[];
  /** The ODS codes an incident affects. */
  incidentPractices: (id: number) => string[];
  now: () => number;
  onMessage?: (type: LiveServerMessage['type']) => void;
  onLimited?: (what: LiveLimited) => void;
  /** Least time between two snapshots on one connection (default 1 s). */
  resyncIntervalMs?: number;
  /** Messages from one connection within 10 s past which it is closed (default 100). */
  resyncFloodLimit?: number;
  /** Snapshots sent per slice of the queue before yielding to the event loop (default 50). */
  snapshotsPerSlice?: number;
}

const FLOOD_WINDOW_MS = 10_000;

export class LiveHub {
  private readonly clients = new Set<Client>();
  /** Serialised snapshot bodies (everything after `seq`), by scope key; cleared on every change. */
  private readonly bodies = new Map<string, Buffer>();
  /** The whole state those bodies are cut from, taken once per change. */
  private state: LiveState | null = null;
  private readonly queue: Client[] = [];
  private draining = false;
  private readonly resyncIntervalMs: number;
  private readonly floodLimit: number;
  private readonly perSlice: number;

  constructor(private readonly opts: LiveHubOptions) {
    this.resyncIntervalMs = opts.resyncIntervalMs ?? 1_000;
    this.floodLimit = opts.resyncFloodLimit ?? 100;
    this.perSlice = opts.snapshotsPerSlice ?? 50;
  }

  get size(): number {
    return this.clients.size;
  }

  /** The most bytes queued on any one connection now (the buffer limit bounds it, plus one message). */
  maxBufferedBytes(): number {
    let most = 0;
    for (const client of this.clients) most = Math.max(most, client.ws.bufferedAmount);
    return most;
  }

  /** A new connection, already authenticated; `scope` narrows it to the practices its principal may see (null: all). */
  attach(ws: WebSocket, scope: LiveScope | null = null): void {
    const client: Client = {
      ws, seq: 0, needsSnapshot: false, queued: false, scope, lastSnapshotAt: -Infinity, pending: null,
      windowStart: this.opts.now(), windowMessages: 0,
    };
    this.clients.add(client);
    ws.on('close', () => {
      this.clients.delete(client);
      if (client.pending) clearTimeout(client.pending);
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => this.received(client, data));
    this.send(client, { type: 'hello', protocol: LIVE_PROTOCOL_VERSION, heartbeatMs: this.opts.heartbeatMs });
    this.enqueue(client);
  }

  private received(client: Client, data: unknown): void {
    const now = this.opts.now();
    if (now - client.windowStart >= FLOOD_WINDOW_MS) {
      client.windowStart = now;
      client.windowMessages = 0;
    }
    if (++client.windowMessages > this.floodLimit) {
      this.opts.onLimited?.('flood-closed');
      this.clients.delete(client);
      client.ws.close(LIVE_FLOOD_CLOSE_CODE, `too many messages: at most ${this.floodLimit} in ${FLOOD_WINDOW_MS / 1000} s`);
      return;
    }
    if (parseClientMessage(String(data))?.type !== 'resync') return;
    if (client.queued || client.pending) {
      this.opts.onLimited?.('resync-coalesced');
      return;
    }
    const wait = client.lastSnapshotAt + this.resyncIntervalMs - now;
    if (wait <= 0) return this.enqueue(client);
    this.opts.onLimited?.('resync-coalesced');
    client.pending = setTimeout(() => {
      client.pending = null;
      this.enqueue(client);
    }, Math.min(wait, this.resyncIntervalMs));
    client.pending.unref?.();
  }

  /** One delta per tick carrying everything that changed in it. */
  publish(delta: LiveState): void {
    if (delta.practices.length === 0 && delta.services.length === 0 && delta.incidents.length === 0) return;
    this.changed();
    const at = new Date(this.opts.now()).toISOString();
    for (const client of this.clients) {
      if (this.catchUp(client)) continue;
      const mine = this.scoped(client, delta);
      if (client.scope && mine.practices.length === 0 && mine.services.length === 0 && mine.incidents.length === 0) continue;
      this.send(client, { type: 'delta', seq: ++client.seq, at, ...mine });
    }
  }

  /** What one connection may receive: its practices only, counts over them, incidents touching them. */
  private scoped(client: Client, state: LiveState): LiveState {
    const sees = client.scope?.sees;
    const { probes: _probes, impaired: _impaired, ...rest } = state;
    if (!sees) return rest;
    // A service's outage and Pulse's own trouble concern everyone; other incidents, their practices.
    const everyone = (i: IncidentView) => i.kind === 'service' || i.kind === 'pulse';
    const incidents = state.incidents.filter((i) => everyone(i) || this.opts.incidentPractices(i.id).some(sees));
    return {
      practices: state.practices.filter((p) => sees(p.ods)),
      services: state.services,
      counts: practiceCounts(this.opts.allPractices().filter((p) => sees(p.ods))),
      incidents: incidents.map((i) => (everyone(i) ? i : { ...i, affected: this.opts.incidentPractices(i.id).filter(sees).length })),
    };
  }

  heartbeat(probes: ProbesState = 'ok', impaired: string | null = null): void {
    // A snapshot is at most one heartbeat old, whatever changed outside publish.
    this.changed();
    const at = new Date(this.opts.now()).toISOString();
    const why = probes === 'impaired' ? impaired : null;
    for (const client of this.clients) {
      if (this.catchUp(client)) continue;
      this.send(client, { type: 'heartbeat', seq: ++client.seq, at, probes, impaired: why });
    }
  }

  closeAll(code: number, reason: string): void {
    for (const client of this.clients) {
      if (client.pending) clearTimeout(client.pending);
      client.ws.close(code, reason);
    }
    this.clients.clear();
    this.queue.length = 0;
  }

  private changed(): void {
    this.bodies.clear();
    this.state = null;
  }

  /** True when the client is (still) behind or waiting for its snapshot: it gets nothing else now. */
  private catchUp(client: Client): boolean {
    if (client.ws.readyState !== client.ws.OPEN || client.queued) return true;
    if (this.overLimit(client)) return true;
    if (client.needsSnapshot) {
      this.enqueue(client);
      return true;
    }
    return false;
  }

  private overLimit(client: Client): boolean {
    if (client.ws.bufferedAmount <= this.opts.bufferLimitBytes) return false;
    client.needsSnapshot = true;
    return true;
  }

  private enqueue(client: Client): void {
    if (client.queued) return;
    client.queued = true;
    this.queue.push(client);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** Sends a slice of the queued snapshots, then yields: accepting a burst never holds the loop. */
  private drain(): void {
    let sent = 0;
    while (this.queue.length > 0 && sent < this.perSlice) {
      const client = this.queue.shift()!;
      client.queued = false;
      if (!this.clients.has(client)) continue;
      if (this.sendSnapshot(client)) sent++;
    }
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else this.draining = false;
  }

  /** False when nothing was sent (closed, or over the buffer limit: it gets one once drained). */
  private sendSnapshot(client: Client): boolean {
    if (client.ws.readyState !== client.ws.OPEN) return false;
    if (this.overLimit(client)) {
      this.opts.onLimited?.('snapshot-deferred');
      return false;
    }
    client.needsSnapshot = false;
    client.lastSnapshotAt = this.opts.now();
    const body = this.body(client);
    // Two frames of one message: this connection's own `seq`, then the body every connection
    // of its scope shares (one buffer in memory, however many sockets queue it).
    client.ws.send(`{"type":"snapshot","seq":${++client.seq},`, { binary: false, fin: false });
    client.ws.send(body, { fin: true });
    this.opts.onMessage?.('snapshot');
    return true;
  }

  /** The snapshot after `seq`, serialised once per change for the client's scope. */
  private body(client: Client): Buffer {
    const key = client.scope?.key ?? '';
    let body = this.bodies.get(key);
    if (!body) {
      const state = (this.state ??= this.opts.snapshot());
      const probes = state.probes ?? 'ok';
      const impaired = probes === 'impaired' ? (state.impaired ?? null) : null;
      const at = new Date(this.opts.now()).toISOString();
      body = Buffer.from(JSON.stringify({ at, probes, impaired, ...this.scoped(client, state) }).slice(1));
      this.bodies.set(key, body);
    }
    return body;
  }

  private send(client: Client, message: LiveServerMessage): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    client.ws.send(JSON.stringify(message));
    this.opts.onMessage?.(message.type);
  }
}

function parseClientMessage(text: string): LiveClientMessage | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'resync') return { type: 'resync' };
  } catch {
    // A malformed message is ignored: the feed must keep flowing.
  }
  return null;
}
