// The server's side of the probe-worker protocol (probes/protocol.ts): authenticates
// workers, hands each its share of the checks, and passes validated results on.
// It never judges a result; the status engine does.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { ERROR_CLASSES, type CheckAssignment, type CheckResult } from '../../probes/types';
import type { ServerToWorker, WorkerToServer } from '../../probes/protocol';
import type { Permission } from '../auth/permissions';
import { WORKER_PROTOCOL_VERSION } from '../../probes/protocol';

/** A certificate's notAfter, epoch ms (zod 4 numbers are finite: it becomes a metric value). */
const certExpiresAt = z.number();

const resultSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    checkId: z.string(),
    at: z.number(),
    location: z.string(),
    latencyMs: z.number(),
    detail: z.string().optional(),
    degraded: z.string().max(1_000).optional(),
    certExpiresAt: certExpiresAt.optional(),
  }),
  z.object({
    ok: z.literal(false),
    checkId: z.string(),
    at: z.number(),
    location: z.string(),
    latencyMs: z.number(),
    error: z.enum(ERROR_CLASSES),
    detail: z.string(),
    certExpiresAt: certExpiresAt.optional(),
  }),
]);

const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), protocol: z.number(), location: z.string().min(1).max(64), pid: z.number() }),
  z.object({ type: z.literal('results'), results: z.array(resultSchema).max(10_000) }),
  z.object({ type: z.literal('stats'), lagMs: z.number(), running: z.number(), checks: z.number() }),
]);

/**
 * Every message a probe worker may send, with the permission it needs. The connection was
 * already authenticated with a worker token on upgrade (`public` here means: nothing beyond
 * that token); a worker token can do nothing else. A Record over the union: none can be missed.
 */
export const WORKER_MESSAGES: Record<WorkerToServer['type'], Permission> = { hello: 'public', results: 'public', stats: 'public' };

export interface WorkerInfo {
  id: number;
  location: string;
  pid: number;
  checks: number;
  lagMs: number;
}

interface Connection {
  ws: WebSocket;
  info: WorkerInfo | null;
  awaitingPong: boolean;
}

export interface WorkerGatewayOptions {
  token: string;
  checks: () => CheckAssignment[];
  onResults: (results: CheckResult[]) => void;
  onProtocolError?: (reason: string) => void;
}

export class WorkerGateway {
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  private readonly tokenDigest: Buffer;

  constructor(private readonly opts: WorkerGatewayOptions) {
    this.tokenDigest = digest(opts.token);
  }

  /** Constant-time check of the upgrade request's bearer token. */
  authorize(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    return match !== null && timingSafeEqual(digest(match[1]!), this.tokenDigest);
  }

  workers(): WorkerInfo[] {
    return [...this.connections].flatMap((c) => (c.info ? [c.info] : []));
  }

  attach(ws: WebSocket): void {
    const connection: Connection = { ws, info: null, awaitingPong: false };
    this.connections.add(connection);
    ws.on('pong', () => (connection.awaitingPong = false));
    ws.on('close', () => {
      this.connections.delete(connection);
      if (connection.info) this.rebalance();
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => this.receive(connection, String(data)));
  }

  /**
   * Re-sends assignments (after a configuration reload, or when workers come and go).
   * Every location runs every check (so locations can vote); within a location the
   * checks are split between its workers by a stable hash of the check id.
   */
  rebalance(): void {
    const byLocation = new Map<string, Connection[]>();
    for (const c of this.connections) {
      if (!c.info) continue;
      const list = byLocation.get(c.info.location) ?? [];
      list.push(c);
      byLocation.set(c.info.location, list);
    }
    const checks = this.opts.checks();
    for (const workers of byLocation.values()) {
      workers.sort((a, b) => a.info!.id - b.info!.id);
      const shares: CheckAssignment[][] = workers.map(() => []);
      for (const check of checks) shares[bucket(check.id, workers.length)]!.push(check);
      workers.forEach((c, i) => {
        c.info!.checks = shares[i]!.length;
        send(c.ws, { type: 'assign', checks: shares[i]! });
      });
    }
  }

  /**
   * Drops workers that did not answer the previous ping (a silently dead connection), so
   * their checks move to the others; call every few seconds.
   */
  sweep(): void {
    for (const c of this.connections) {
      if (c.awaitingPong) {
        c.ws.terminate();
        continue;
      }
      c.awaitingPong = true;
      c.ws.ping();
    }
  }

  closeAll(code: number, reason: string): void {
    for (const c of this.connections) c.ws.close(code, reason);
  }

  private receive(connection: Connection, text: string): void {
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
        if (parsed.protocol !== WORKER_PROTOCOL_VERSION) {
          connection.ws.close(4400, `protocol ${parsed.protocol} not supported; expected ${WORKER_PROTOCOL_VERSION}`);
          return;
        }
        connection.info = { id: this.nextId++, location: parsed.location, pid: parsed.pid, checks: 0, lagMs: 0 };
        this.rebalance();
        return;
      case 'results':
        if (!connection.info) return;
        this.opts.onResults(parsed.results);
        return;
      case 'stats':
        if (connection.info) connection.info.lagMs = parsed.lagMs;
        return;
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A stable bucket for a check id, so a check stays with the same worker while the set is stable. */
function bucket(id: string, n: number): number {
  return createHash('sha1').update(id).digest().readUInt32BE(0) % n;
}

function send(ws: WebSocket, message: ServerToWorker): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}
