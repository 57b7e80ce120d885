// The live hub: the dashboards' WebSocket connections. Sends hello + snapshot on connect,
// then numbered deltas and heartbeats. A slow client never slows the others: past the
// buffer limit it stops receiving deltas and gets a fresh snapshot once it has drained.
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

interface Client {
  ws: WebSocket;
  seq: number;
  needsSnapshot: boolean;
  /** The practices this connection may see; null for every practice. */
  sees: ((ods: string) => boolean) | null;
}

/**
 * Every message a dashboard may send, with the permission it needs (auth/permissions.ts).
 * A Record over the message union: a new message type cannot be added without one.
 */
export const LIVE_CLIENT_MESSAGES: Record<LiveClientMessage['type'], Permission> = { resync: 'read' };

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
}

export class LiveHub {
  private readonly clients = new Set<Client>();

  constructor(private readonly opts: LiveHubOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** A new connection, already authenticated; `sees` narrows it to the practices its principal may see. */
  attach(ws: WebSocket, sees: ((ods: string) => boolean) | null = null): void {
    const client: Client = { ws, seq: 0, needsSnapshot: false, sees };
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => {
      const message = parseClientMessage(String(data));
      if (message?.type === 'resync') this.sendSnapshot(client);
    });
    this.send(client, { type: 'hello', protocol: LIVE_PROTOCOL_VERSION, heartbeatMs: this.opts.heartbeatMs });
    this.sendSnapshot(client);
  }

  /** One delta per tick carrying everything that changed in it. */
  publish(delta: LiveState): void {
    if (delta.practices.length === 0 && delta.services.length === 0 && delta.incidents.length === 0) return;
    const at = new Date(this.opts.now()).toISOString();
    for (const client of this.clients) {
      if (this.catchUp(client)) continue;
      const mine = this.scoped(client, delta);
      if (client.sees && mine.practices.length === 0 && mine.services.length === 0 && mine.incidents.length === 0) continue;
      this.send(client, { type: 'delta', seq: ++client.seq, at, ...mine });
    }
  }

  /** What one connection may receive: its practices only, counts over them, incidents touching them. */
  private scoped(client: Client, state: LiveState): LiveState {
    const sees = client.sees;
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
    const at = new Date(this.opts.now()).toISOString();
    const why = probes === 'impaired' ? impaired : null;
    for (const client of this.clients) {
      if (this.catchUp(client)) continue;
      this.send(client, { type: 'heartbeat', seq: ++client.seq, at, probes, impaired: why });
    }
  }

  closeAll(code: number, reason: string): void {
    for (const client of this.clients) client.ws.close(code, reason);
    this.clients.clear();
  }

  /** True when the client is (still) behind: it gets a snapshot once drained, nothing before. */
  private catchUp(client: Client): boolean {
    if (client.ws.readyState !== client.ws.OPEN) return true;
    if (client.ws.bufferedAmount > this.opts.bufferLimitBytes) {
      client.needsSnapshot = true;
      return true;
    }
    if (client.needsSnapshot) {
      this.sendSnapshot(client);
      return true;
    }
    return false;
  }

  private sendSnapshot(client: Client): void {
    client.needsSnapshot = false;
    const at = new Date(this.opts.now()).toISOString();
    const state = this.opts.snapshot();
    const probes = state.probes ?? 'ok';
    const impaired = probes === 'impaired' ? (state.impaired ?? null) : null;
    this.send(client, { type: 'snapshot', seq: ++client.seq, at, probes, impaired, ...this.scoped(client, state) });
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
