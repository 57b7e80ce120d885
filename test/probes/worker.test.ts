import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { WORKER_PROTOCOL_VERSION, type ServerToWorker, type WorkerToServer } from '../../probes/protocol';
import { BoundedBuffer, RECONNECT_CAP_MS, RESULT_BATCH_MAX, parseWorkerArgs, reconnectDelayMs, workersUrl } from '../../probes/worker';
import { waitFor } from '../helpers/wait';

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
type Stats = Extract<WorkerToServer, { type: 'stats' }>;
const isStats = (m: WorkerToServer): m is Stats => m.type === 'stats';

/** probes/protocol.ts's stats message exactly: nothing missing, nothing extra. */
const statsSchema = z
  .object({
    type: z.literal('stats'),
    lagMs: z.number(),
    running: z.number(),
    checks: z.number(),
    self: z
      .object({
        lagMs: z.number(),
        eventLoopDelayMs: z.number(),
        stalledMs: z.number(),
        canary: z.object({ ok: z.boolean(), latencyMs: z.number(), detail: z.string() }).strict().nullable(),
        timeoutShare: z.number().min(0).max(1),
        impaired: z.string().nullable(),
      })
      .strict(),
  })
  .strict();

/** A port on loopback that nothing listens on: connecting is refused at once. */
async function refusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A loopback site that accepts every request and never answers; tells the test when each arrives. */
async function startSilentSite(onRequest: () => void): Promise<string> {
  const site: Server = createServer(() => onRequest());
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
    expect(batch.results[0]).toMatchObject({ checkId: 'surgery-web', ok: true, detail: 'status 200' });
    expect(batch.results[0]).not.toHaveProperty('location');

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

  it('a healthy worker: failures against a refused port go out untagged and without a location, stats every second carry its own health', async () => {
    const { server, url } = await startFakeServer();
    const port = await refusedPort();
    const worker = spawnWorker(['--server', url, '--token', TOKEN, '--location', 'test']);
    const connection = await server.nextConnection();
    await connection.next(isHello, 'hello');
    connection.send({
      type: 'assign',
      checks: [{ id: 'closed-port', kind: 'http', target: `http://127.0.0.1:${port}/`, intervalMs: 200, timeoutMs: 1_000, options: {} }],
    });
    const failures: Record<string, unknown>[] = [];
    while (failures.length < 10) {
      const batch = await connection.next(isResults, 'a results batch');
      for (const result of batch.results) failures.push(result as Record<string, unknown>);
    }
    for (const result of failures) {
      expect(result).toMatchObject({ checkId: 'closed-port', ok: false, error: 'refused' });
      expect(result).not.toHaveProperty('location');
      expect(result).not.toHaveProperty('impaired');
    }
    // The canary runs every 2 s through the same scheduler: wait until its answer shows.
    let stats: Stats | undefined;
    for (let i = 0; i < 10 && !stats?.self.canary; i++) stats = await connection.next(isStats, 'a stats message', 3_000);
    expect(statsSchema.parse(stats)).toMatchObject({
      checks: 1,
      self: { canary: { ok: true, detail: 'status 200' }, impaired: null },
    });
    expect(stats?.self.timeoutShare).toBe(0);
    worker.child.kill('SIGTERM');
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(0);
  });

  it('a worker stopped (SIGSTOP) mid-check past its timeout tags that timeout impaired, and says it stalled in its stats', async () => {
    const { server, url } = await startFakeServer();
    let requests = 0;
    const site = await startSilentSite(() => requests++);
    const worker = spawnWorker(['--server', url, '--token', TOKEN, '--location', 'test']);
    const connection = await server.nextConnection();
    await connection.next(isHello, 'hello');
    connection.send({
      type: 'assign',
      checks: [{ id: 'slow-gateway', kind: 'http', target: site, intervalMs: 3_000, timeoutMs: 1_000, options: {} }],
    });

    // Pause the worker as soon as a run is in flight, for longer than the run's timeout.
    // Should the pause land after the deadline (a slow test host), the timeout is honest and
    // untagged; try the next run.
    let tagged: Record<string, unknown> | undefined;
    for (let attempt = 0; attempt < 3 && !tagged; attempt++) {
      const seen = requests;
      await waitFor('a run in flight against the silent site', () => requests > seen, 10_000, 5);
      worker.child.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      worker.child.kill('SIGCONT');
      for (;;) {
        const batch = await connection.next(isResults, 'the timed-out run', 10_000);
        const result = batch.results.find((r) => r.checkId === 'slow-gateway') as Record<string, unknown> | undefined;
        if (!result) continue;
        expect(result).toMatchObject({ ok: false, error: 'timeout' });
        expect(result).not.toHaveProperty('location');
        if (typeof result.impaired === 'string') tagged = result;
        break;
      }
    }
    expect(tagged?.impaired).toMatch(/stalled for [0-9.]+ s/);

    // The stall stays in the window (10 s) after the timeout was counted.
    const stalled = await waitForStats(connection, (s) => s.self.impaired !== null && s.self.timeoutShare > 0);
    expect(statsSchema.parse(stalled).self.stalledMs).toBeGreaterThanOrEqual(1_500);
    expect(stalled.self.impaired).toMatch(/stalled for [0-9.]+ s/);
    worker.child.kill('SIGTERM');
    expect(await within(10_000, 'the worker to exit', worker.exited)).toBe(0);
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

/** The next stats message that satisfies `wanted`, within a few of them. */
async function waitForStats(connection: WorkerConnection, wanted: (s: Stats) => boolean): Promise<Stats> {
  for (let i = 0; i < 10; i++) {
    const stats = await connection.next(isStats, 'a stats message', 3_000);
    if (wanted(stats)) return stats;
  }
  throw new Error('no stats message within 10 said what was wanted');
}

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

describe('reconnect backoff', () => {
  it('doubles from 500 ms but never waits more than 5 s, so a restarted server has its workers back within seconds', () => {
    expect(RECONNECT_CAP_MS).toBe(5_000);
    expect([0, 1, 2, 3].map((a) => reconnectDelayMs(a, () => 1))).toEqual([500, 1_000, 2_000, 4_000]);
    for (const attempt of [4, 5, 10, 100, 10_000]) {
      expect(reconnectDelayMs(attempt, () => 1)).toBe(5_000);
      // Jittered over the upper half: workers that lost the server together do not return together.
      expect(reconnectDelayMs(attempt, () => 0)).toBe(2_500);
    }
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
