// The probe worker's canary: a tiny HTTP listener the worker runs on loopback, and the
// check that probes it through the worker's own scheduler, beside the real checks, so it
// waits in the same queue and shares the same slots and event loop. A target that must
// always answer: when it does not, the worker cannot trust its own view of anything.
// It must never listen beyond 127.0.0.1, never be sent to the server as a result, and
// never be shared with (or mistaken for) a check the server assigned.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from './http';
import type { CheckAssignment, CheckKind } from './types';

/** The canary's check id: a control character keeps it apart from any id an estate file gives. */
export const CANARY_CHECK_ID = '\u0000pulse-canary';
/** The kind the canary check runs as: the real `http` kind, under a name of its own in the worker's lookup. */
export const CANARY_KIND = '\u0000pulse-canary-http';
/** The per-host key the canary's runs count against: its own, so a loopback estate never queues it on 127.0.0.1. */
export const CANARY_HOST_KEY = '\u0000pulse-canary';
export const DEFAULT_CANARY_INTERVAL_MS = 2_000;
export const DEFAULT_CANARY_TIMEOUT_MS = 1_000;

export const canaryKind: CheckKind<unknown> = http as CheckKind<unknown>;

export interface Canary {
  /** The check to add to the scheduler beside the assigned ones. */
  readonly assignment: CheckAssignment;
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

export interface CanaryOptions {
  intervalMs?: number;
  timeoutMs?: number;
}

/** Starts the loopback listener on an ephemeral port; rejects (with the reason) if it cannot listen. */
export async function startCanary(options: CanaryOptions = {}): Promise<Canary> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end('ok');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const assignment: CheckAssignment = {
    id: CANARY_CHECK_ID,
    kind: CANARY_KIND,
    target: `http://127.0.0.1:${port}/canary`,
    intervalMs: options.intervalMs ?? DEFAULT_CANARY_INTERVAL_MS,
    timeoutMs: options.timeoutMs ?? DEFAULT_CANARY_TIMEOUT_MS,
    options: {},
  };
  return {
    assignment,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
