import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { WORKER_PROTOCOL_VERSION, type ServerToWorker, type WorkerToServer } from '../../probes/protocol';
import { BoundedBuffer, RESULT_BATCH_MAX, parseWorkerArgs, workersUrl } from '../../probes/worker';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'test-token';

/** Rejects after `ms` with a message naming what was awaited. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A stand-in for the server's /workers endpoint, checking the bearer token like the real one. */
class FakeServer {
  readonly wss: WebSocketServer;
  private readonly connectionWaiters: ((c: WorkerConnection) => void)[] = [];
  private readonly connections: WorkerConnection[] = [];

  constructor() {
    this.wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/workers',
      verifyClient: (info, done) => done(info.req.headers.authorization === `Bearer ${TOKEN}`, 401, 'Unauthorized'),
    });
    this.wss.on('connection', (ws) => {
      const connection = new WorkerConnection(ws);
      const waiter = this.connectionWaiters.shift();
      if (waiter) waiter(connection);
      else this.connections.push(connection);
    });
  }

  async listening(): Promise<string> {
    if (!this.wss.address()) await once(this.wss, 'listening');
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  nextConnection(ms = 10_000): Promise<WorkerConnection> {
    const ready = this.connections.shift();
    if (ready) return Promise.resolve(ready);
    return within(ms, 'a worker connection', new Promise((resolve) => this.connectionWaiters.push(resolve)));
  }

  close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

class WorkerConnection {
  private readonly inbox: WorkerToServer[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.inbox.push(JSON.parse(data.toString()) as WorkerToServer);
      this.waiter?.();
    });
  }

  send(message: ServerToWorker): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next message matching `predicate`, skipping others. */
  async next<T extends WorkerToServer>(predicate: (m: WorkerToServer) => m is T, what: string, ms = 10_000): Promise<T> {
    return within(
      ms,
      what,
      (async () => {
        for (;;) {
          const index = this.inbox.findIndex(predicate);
          if (index >= 0) return this.inbox.splice(index, 1)[0] as T;
          await new Promise<void>((resolve) => {
            this.waiter = resolve;
          });
        }
      })(),
    );
  }
}

const isHello = (m: WorkerToServer): m is Extract<WorkerToServer, { type: 'hello' }> => m.type === 'hello';
const isResults = (m: WorkerToServer): m is Extract<WorkerToServer, { type: 'results' }> => m.type === 'results';

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnWorker(args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'probes/worker.ts', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  children.push(child);
  return { child, stderr: () => stderr, exited };
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function startFakeServer(): Promise<{ server: FakeServer; url: string }> {
  const server = new FakeServer();
  cleanups.push(() => server.close());
  return { server, url: await server.listening() };
}

async function startWebsite(): Promise<string> {
  const site: Server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        site.closeAllConnections();
        site.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
}

describe('probe worker process', () => {
  it('says hello, runs an assigned check, streams results, reconnects after a drop and exits 0 on SIGTERM', async () => {
    const { server, url } = await startFakeServer();
    const website = await startWebsite();
    const worker = spawnWorker(['--server', url, '--token', TOKEN, '--location', 'test']);

    const connection = await server.nextConnection();
    const hello = await connection.next(isHello, 'hello');
    expect(hello).toEqual({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location: 'test', pid: worker.child.pid });

    connection.send({
      type: 'assign',
      checks: [{ id: 'surgery-web', kind: 'http', target: website, intervalMs: 200, timeoutMs: 1_000, options: {} }],
    });
    const batch = await connection.next(isResults, 'a results batch');
    expect(batch.results[0]).toMatchObject({ checkId: 'surgery-web', ok: true, location: 'test', detail: 'status 200' });

    // The server drops the worker: it comes back by itself and keeps reporting.
    connection.ws.terminate();
    const again = await server.nextConnection();
    await again.next(isHello, 'hello after reconnecting');
    await again.next(isResults, 'results after reconnecting');

    worker.child.kill('SIGTERM');
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(0);
  });

  it('batches results and opens a fresh connection for every http check', async () => {
    const { server, url } = await startFakeServer();
    // Counts connections and the requests each carried, so keep-alive would show.
    let connections = 0;
    let reused = 0;
    let keepAliveAsked = 0;
    const carried = new WeakSet<object>();
    const site: Server = createServer((req, res) => {
      if (carried.has(req.socket)) reused++;
      carried.add(req.socket);
      if (req.headers.connection !== 'close') keepAliveAsked++;
      res.end('ok');
    });
    site.on('connection', () => connections++);
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => site.close(() => resolve())));
    const port = (site.address() as AddressInfo).port;

    const worker = spawnWorker(['--server', url, '--token', TOKEN, '--location', 'test']);
    const connection = await server.nextConnection();
    await connection.next(isHello, 'hello');
    connection.send({
      type: 'assign',
      checks: Array.from({ length: 100 }, (_, i) => ({
        id: `web-${i}`,
        kind: 'http',
        target: `http://127.0.0.1:${port}/${i}`,
        intervalMs: 200,
        timeoutMs: 2_000,
        options: {},
      })),
    });
    // ~500 results a second, flushed every 250 ms: batches of many, never more than the cap.
    const sizes: number[] = [];
    while (sizes.reduce((a, b) => a + b, 0) < 1_000) {
      const batch = await connection.next(isResults, 'a results batch');
      expect(batch.results.every((r) => r.ok)).toBe(true);
      sizes.push(batch.results.length);
    }
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(RESULT_BATCH_MAX);
    expect(sizes.length).toBeLessThan(1_000 / 5);
    worker.child.kill('SIGTERM');
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(0);
    expect(connections).toBeGreaterThanOrEqual(1_000);
    expect(reused).toBe(0);
    expect(keepAliveAsked).toBe(0);
  });

  it('exits with code 2 and one clear line when the server rejects the token', async () => {
    const { url } = await startFakeServer();
    const worker = spawnWorker(['--server', url, '--token', 'wrong', '--location', 'test']);
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(2);
    const lines = worker.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/rejected the worker token \(HTTP 401\)/);
    expect(worker.stderr()).not.toContain('wrong');
  });

  it('exits with code 2 and a one-line usage message when --token is missing', async () => {
    const worker = spawnWorker(['--server', 'ws://127.0.0.1:9']);
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(2);
    const lines = worker.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pulse worker: missing --token; usage:/);
  });
});

describe('worker command line', () => {
  it('reads flags, falling back to the environment, with location defaulting to local', () => {
    expect(parseWorkerArgs(['--server=ws://h:1', '--token', 't'], {})).toEqual({ serverUrl: 'ws://h:1', token: 't', location: 'local' });
    expect(parseWorkerArgs([], { PULSE_SERVER_URL: 'ws://h:1', PULSE_WORKER_TOKEN: 't', PULSE_LOCATION: 'leeds' })).toEqual({
      serverUrl: 'ws://h:1',
      token: 't',
      location: 'leeds',
    });
    expect(parseWorkerArgs(['--server', 'ws://h:1'], {})).toMatchObject({ error: expect.stringContaining('missing --token') });
    expect(parseWorkerArgs(['--bogus'], {})).toMatchObject({ error: expect.stringContaining('unknown argument') });
  });

  it('reads the concurrency bounds from flags or the environment, and refuses nonsense', () => {
    expect(parseWorkerArgs(['--server', 'ws://h:1', '--token', 't', '--concurrency', '256', '--per-host-concurrency=4'], {})).toEqual({
      serverUrl: 'ws://h:1',
      token: 't',
      location: 'local',
      concurrency: 256,
      perHostConcurrency: 4,
    });
    expect(parseWorkerArgs([], { PULSE_SERVER_URL: 'ws://h:1', PULSE_WORKER_TOKEN: 't', PULSE_PER_HOST_CONCURRENCY: '2' })).toEqual({
      serverUrl: 'ws://h:1',
      token: 't',
      location: 'local',
      perHostConcurrency: 2,
    });
    expect(parseWorkerArgs(['--server', 'ws://h:1', '--token', 't', '--concurrency', '0'], {})).toMatchObject({
      error: expect.stringContaining('--concurrency (or PULSE_CONCURRENCY) must be a whole number of at least 1, not "0"'),
    });
    expect(parseWorkerArgs(['--server', 'ws://h:1', '--token', 't'], { PULSE_PER_HOST_CONCURRENCY: 'lots' })).toMatchObject({
      error: expect.stringContaining('not "lots"'),
    });
  });

  it('appends /workers only when the server URL has no path', () => {
    expect(workersUrl('ws://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/workers');
    expect(workersUrl('wss://pulse.example.nhs.uk/')).toBe('wss://pulse.example.nhs.uk/workers');
    expect(workersUrl('wss://pulse.example.nhs.uk/pulse/workers')).toBe('wss://pulse.example.nhs.uk/pulse/workers');
    expect(workersUrl('https://pulse.example.nhs.uk')).toBe('wss://pulse.example.nhs.uk/workers');
    expect(() => workersUrl('pulse.example.nhs.uk')).toThrow(/not a valid server URL/);
  });
});

describe('result buffer', () => {
  it('keeps the newest entries past its bound, counts the dropped ones and hands them out in order', () => {
    const buffer = new BoundedBuffer<number>(10_000);
    for (let i = 0; i < 25_000; i++) buffer.push(i);
    expect(buffer.size).toBe(10_000);
    expect(buffer.dropped).toBe(15_000);
    const first = buffer.take(500);
    expect(first).toHaveLength(500);
    expect(first[0]).toBe(15_000);
    expect(first[499]).toBe(15_499);
    const rest: number[] = [];
    while (buffer.size > 0) rest.push(...buffer.take(500));
    expect(rest).toHaveLength(9_500);
    expect(rest[rest.length - 1]).toBe(24_999);
  });
});
