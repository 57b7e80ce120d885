// Test helpers for the simulator: a fake clock that tests advance by hand, and a plain
// HTTP GET on a fresh connection each time (no keep-alive pool, so a refused or reset
// connection shows as its own error code rather than a stale pooled socket's).
import { request } from 'node:http';
import { connect } from 'node:net';
import type { SimulatorClock } from '../../../server/simulator';

export class FakeClock implements SimulatorClock {
  private current = Date.UTC(2024, 6, 19, 5, 0, 0); // a Friday morning in July 2024
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.current + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time on, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      const [id, timer] = due;
      this.timers.delete(id);
      this.current = timer.at;
      timer.fn();
    }
    this.current = end;
  }
}

export interface Got {
  status: number;
  body: string;
}

/** GET on a fresh connection; rejects with the socket error (err.code) or on timeout (code 'TIMEOUT'). */
export function get(url: string, opts: { timeoutMs?: number; method?: string; body?: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, method: opts.method ?? 'GET', headers: opts.body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    if (opts.timeoutMs !== undefined) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
    }
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function send(method: string, url: string, body?: unknown): Promise<Got> {
  return get(url, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
}

/** Resolves 'connected' or rejects with the socket error. */
export function tcpConnect(hostPort: string): Promise<'connected'> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port) }, () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', reject);
  });
}

export function errorCode(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'no error',
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
}
