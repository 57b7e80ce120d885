// The live hub: the dashboards' WebSocket connections. Sends hello + snapshot on connect,
// then numbered deltas and heartbeats. A slow client never slows the others: past the
// buffer limit it stops receiving deltas and gets a fresh snapshot once it has drained.
// It relays what the engine decided; it never computes status.
import type { WebSocket } from 'ws';
import type { Counts, IncidentView, LiveClientMessage, LiveServerMessage, PracticeView, ServiceView } from './protocol';
import { LIVE_PROTOCOL_VERSION } from './protocol';

export interface LiveState {
  practices: PracticeView[];
  services: ServiceView[];
  counts: Counts;
  incidents: IncidentView[];
}

interface Client {
  ws: WebSocket;
  seq: number;
  needsSnapshot: boolean;
}

export interface LiveHubOptions {
  heartbeatMs: number;
  /** Bytes queued on one socket before it is dropped to "needs snapshot". */
  bufferLimitBytes: number;
  snapshot: () => LiveState;
  now: () => number;
  onMessage?: (type: LiveServerMessage['type']) => void;
}

export class LiveHub {
  private readonly clients = new Set<Client>();

  constructor(private readonly opts: LiveHubOptions) {}

  get size(): number {
    return this.clients.size;
  }

  attach(ws: WebSocket): void {
    const client: Client = { ws, seq: 0, needsSnapshot: false };
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
      this.send(client, { type: 'delta', seq: ++client.seq, at, ...delta });
    }
  }

  heartbeat(): void {
    const at = new Date(this.opts.now()).toISOString();
    for (const client of this.clients) {
      if (this.catchUp(client)) continue;
      this.send(client, { type: 'heartbeat', seq: ++client.seq, at });
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
    this.send(client, { type: 'snapshot', seq: ++client.seq, at, ...this.opts.snapshot() });
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
