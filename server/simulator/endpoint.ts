// One simulated HTTP endpoint: a node:http server on loopback that answers healthily or
// misbehaves as its current fault says (reset, hang, slow reply, error status), and
// whose listener can be closed and reopened on the same port so `down` is a real
// connection refusal. Must never bind anything but 127.0.0.1 and never outlive close():
// every socket it accepted and every slow-reply timer it set is ended there.
// Never imported by production code.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SimulatorError, type Fault, type SimulatorClock } from './types';

export const LOOPBACK = '127.0.0.1';

export interface Reply {
  status: number;
  body: unknown;
}

/** Which fault target a request is for and what a healthy endpoint would answer; null = 404. */
export type Router = (req: IncomingMessage) => { target: string; healthy: Reply } | null;

const notFound: Reply = { status: 404, body: { status: 'fail', message: 'not found' } };
const RELISTEN_ATTEMPTS = 5;
const RELISTEN_GAP_MS = 100;

export class Endpoint {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<unknown>();
  private pending: Promise<void> = Promise.resolve();
  private wantListening = true;
  private closed = false;
  private boundPort = 0;

  constructor(
    readonly label: string,
    private readonly route: Router,
    private readonly faultOf: (target: string) => Fault | null,
    private readonly clock: SimulatorClock,
  ) {
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** First bind, on an ephemeral port. */
  async start(): Promise<void> {
    await this.listenOnce(0);
    const address = this.server.address();
    if (address === null || typeof address === 'string') {
      throw new SimulatorError('LISTEN_FAILED', `${this.label}: no TCP address after listen`);
    }
    this.boundPort = address.port;
  }

  /**
   * Opens or closes the listener (closing also ends open connections, as a dead host
   * would). Changes run one after another; the promise settles when this one is done.
   */
  setListening(want: boolean): Promise<void> {
    this.wantListening = want;
    // Never rejects: callers may not await it (scenario timers do not), and one failed
    // change must not wedge the ones queued after it.
    this.pending = this.pending
      .then(() => this.reconcile())
      .catch((err: unknown) => {
        process.stderr.write(`simulator: ${this.label}: ${(err as Error).message}\n`);
      });
    return this.pending;
  }

  /** Resolves when every listener change asked for so far is done. */
  settled(): Promise<void> {
    return this.pending;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pending;
    for (const handle of this.timers) this.clock.clearTimeout(handle);
    this.timers.clear();
    await this.stopListening();
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    if (this.wantListening && !this.server.listening) {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.listenOnce(this.boundPort);
          return;
        } catch (err) {
          // The port was free a moment ago; something else may have taken it meanwhile.
          if (attempt >= RELISTEN_ATTEMPTS || this.closed || !this.wantListening) {
            process.stderr.write(`simulator: ${this.label} could not listen again on ${LOOPBACK}:${this.boundPort}: ${(err as Error).message}\n`);
            return;
          }
          await new Promise((r) => setTimeout(r, RELISTEN_GAP_MS));
        }
      }
    }
    if (!this.wantListening && this.server.listening) await this.stopListening();
  }

  private listenOnce(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ port, host: LOOPBACK });
    });
  }

  private stopListening(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        this.destroySockets();
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.destroySockets();
    });
  }

  private destroySockets(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const routed = this.route(req);
    if (!routed) {
      send(res, notFound);
      return;
    }
    const fault = this.faultOf(routed.target);
    if (!fault) {
      send(res, routed.healthy);
      return;
    }
    switch (fault.mode) {
      case 'down':
        // A service that is down has no listener; a connection that slipped in (or a
        // practice gateway, which shares a listener) is reset, as a dead host's would be.
        req.socket.resetAndDestroy();
        return;
      case 'hang':
        // Accept and never answer. The socket stays tracked, so close() still ends it.
        return;
      case 'error':
        send(res, { status: fault.status, body: { status: 'fail', target: routed.target } });
        return;
      case 'slow': {
        const handle = this.clock.setTimeout(() => {
          this.timers.delete(handle);
          if (!res.destroyed) send(res, routed.healthy);
        }, fault.ms);
        this.timers.add(handle);
        res.on('close', () => {
          if (this.timers.delete(handle)) this.clock.clearTimeout(handle);
        });
        return;
      }
    }
  }
}

function send(res: ServerResponse, reply: Reply): void {
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
