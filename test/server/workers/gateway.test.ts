// The workers' gateway: protocol 2 only, location from the connection's hello, results
// stamped with the server's receive time (a worker's clock cannot pin a check), failures from
// an impaired worker tagged as no evidence, and checks spread over a location's workers by
// rendezvous hashing with a grace before a departed worker's share moves.
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { WORKER_PROTOCOL_VERSION, type ObserverHealth, type ServerToWorker } from '../../../probes/protocol';
import type { CheckAssignment, CheckResult } from '../../../probes/types';
import { parseEstate } from '../../../server/config/estate';
import { StatusEngine } from '../../../server/status/engine';
import { WorkerGateway, type GatewayTimers, type WorkerGatewayOptions } from '../../../server/workers/gateway';
import { waitFor } from '../../helpers/wait';

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
const HEALTHY: ObserverHealth = { lagMs: 3, eventLoopDelayMs: 12, stalledMs: 20, canary: { ok: true, latencyMs: 1, detail: 'ok' }, timeoutShare: 0, impaired: null };
const OVERLOADED: ObserverHealth = { ...HEALTHY, lagMs: 4_600, impaired: '4.6 s behind' };

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  assigned: string[] | null = null;
  assignments = 0;
  closed: { code: number; reason: string } | null = null;
  pings = 0;
  send(text: string): void {
    const message = JSON.parse(text) as ServerToWorker;
    this.assigned = message.checks.map((c) => c.id);
    this.assignments++;
  }
  ping(): void {
    this.pings++;
  }
  close(code: number, reason: string): void {
    if (this.readyState !== 1) return;
    this.closed = { code, reason };
    this.readyState = 3;
    this.emit('close', code, Buffer.from(reason));
  }
  terminate(): void {
    this.close(1006, '');
  }
  say(message: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(message)));
  }
}

/** Timers run by hand: `advance` fires what falls due. */
function manualTimers(): GatewayTimers & { advance(ms: number): void; pending(): number } {
  let t = 0;
  let queue: { at: number; fn: () => void }[] = [];
  return {
    setTimeout(fn, ms) {
      const handle = { at: t + ms, fn };
      queue.push(handle);
      return handle;
    },
    clearTimeout(handle) {
      queue = queue.filter((h) => h !== handle);
    },
    advance(ms) {
      t += ms;
      for (const h of queue.filter((x) => x.at <= t)) {
        queue = queue.filter((x) => x !== h);
        h.fn();
      }
    },
    pending: () => queue.length,
  };
}

const assignment = (id: string, intervalMs = 60_000): CheckAssignment => ({ id, kind: 'http', target: 'http://127.0.0.1:9/', intervalMs, timeoutMs: 10_000, options: {} });
const manyChecks = (n: number, intervalMs = 60_000) => Array.from({ length: n }, (_, i) => assignment(`c${i}`, intervalMs));

const oneCheckEstate = () =>
  parseEstate(
    `defaults: { interval: 10s, timeout: 2s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
practices:
  - { ods: A00001, name: One, pcn: P1, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
`,
    'e.yaml',
  );

let now = T0;
function gateway(opts: Partial<WorkerGatewayOptions> = {}) {
  now = T0;
  const received: { results: CheckResult[]; source: string }[] = [];
  const g = new WorkerGateway({
    token: 'shared-token',
    checks: () => [assignment('gw1'), assignment('gw2')],
    onResults: (results, source) => received.push({ results, source }),
    now: () => now,
    ...opts,
  });
  const connect = (location = 'leeds', pid = 1, source = 'shared') => {
    const ws = new FakeSocket();
    g.attach(ws as unknown as WebSocket, source);
    ws.say({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location, pid });
    return ws;
  };
  return { g, received, connect, results: () => received.flatMap((r) => r.results) };
}

const ok = (checkId: string, at = now, extra: Record<string, unknown> = {}) => ({ ok: true, checkId, at, latencyMs: 40, ...extra });
const fail = (checkId: string, at = now, extra: Record<string, unknown> = {}) => ({ ok: false, checkId, at, latencyMs: 10_000, error: 'timeout', detail: 'no answer within 10000 ms', ...extra });
const stats = (self: ObserverHealth) => ({ type: 'stats', lagMs: self.lagMs, running: 0, checks: 2, self });

describe('the worker protocol', () => {
  it('refuses a protocol 1 worker with a close reason that says what to do', () => {
    const { g } = gateway();
    const ws = new FakeSocket();
    g.attach(ws as unknown as WebSocket, 'shared');
    ws.say({ type: 'hello', protocol: 1, location: 'leeds', pid: 1 });
    expect(ws.closed).toEqual({ code: 4400, reason: 'worker protocol 1 is not supported: this server needs protocol 2; upgrade the worker' });
    expect(g.workers()).toEqual([]);
  });

  it("takes the location from the connection's hello, never from a result, and stamps each result with the receive time", () => {
    const { connect, received } = gateway();
    const ws = connect('leeds', 1, 'token:4');
    now += 5_000;
    ws.say({ type: 'results', results: [ok('gw1', now - 2_000, { location: 'london' }), fail('gw2', now - 12_000)] });
    expect(received).toHaveLength(1);
    expect(received[0]!.source).toBe('token:4');
    expect(received[0]!.results.map((r) => [r.checkId, r.location, r.at])).toEqual([
      ['gw1', 'leeds', now],
      ['gw2', 'leeds', now],
    ]);
  });

  it('rejects and counts a result dated more than 30 s from its receive time: future ahead, late behind', () => {
    const rejections: unknown[] = [];
    const { g, connect, results } = gateway({ onRejected: (r) => rejections.push(r) });
    const ws = connect();
    ws.say({ type: 'results', results: [ok('gw1', now + 31_000), ok('gw1', now + 29_000), fail('gw2', now - 41_000), fail('gw2', now - 39_000)] });
    // (A late result's run ended at `at` + its latency: 10 s of timeout is not lateness.)
    expect(results().map((r) => r.checkId)).toEqual(['gw1', 'gw2']);
    expect(g.rejected()).toEqual({ future: 1, late: 1 });
    expect(rejections).toEqual([
      { location: 'leeds', pid: 1, source: 'shared', reason: 'future', count: 1, worstSkewMs: 31_000 },
      { location: 'leeds', pid: 1, source: 'shared', reason: 'late', count: 1, worstSkewMs: 31_000 },
    ]);
  });

  it('does not let a year-3000 result pin a check green: later honest failures take it down', () => {
    const estate = oneCheckEstate();
    const engine = new StatusEngine(estate, T0);
    const { connect } = gateway({ onResults: (results, source) => engine.ingest(results, source) });
    const ws = connect();
    ws.say({ type: 'results', results: [ok('gw1', Date.UTC(3000, 0, 1))] });
    for (const step of [1_000, 1_000]) {
      now += step;
      ws.say({ type: 'results', results: [fail('gw1')] });
    }
    engine.recompute(now);
    expect(engine.checkStatus('gw1', now)!.status).toBe('down');
    expect(engine.status('practice:A00001')!.status).toBe('down');
  });
});

describe('an impaired worker', () => {
  it("tags its failing and degraded results in the server's words; its clean successes are judged as usual", () => {
    const { g, connect, results } = gateway();
    const ws = connect();
    ws.say(stats(OVERLOADED));
    ws.say({ type: 'results', results: [fail('gw1'), ok('gw2', now, { degraded: 'latency 9000 ms above 2 s' }), ok('gw1')] });
    const words = "Pulse's probes in leeds are overloaded: 4.6 s behind";
    expect(results().map((r) => r.impaired)).toEqual([words, words, undefined]);
    expect(g.impairments()).toEqual([{ location: 'leeds', pid: 1, detail: words }]);
    expect(g.workers()).toMatchObject([{ location: 'leeds', pid: 1, source: 'shared', lagMs: 4_600, self: OVERLOADED, impaired: words }]);

    ws.say(stats(HEALTHY));
    ws.say({ type: 'results', results: [fail('gw1')] });
    expect(results().at(-1)!.impaired).toBeUndefined();
    expect(g.impairments()).toEqual([]);
    expect(g.workers()[0]!.impaired).toBeNull();
  });

  it('rewords a result the worker tagged itself, and counts a failing canary as impaired', () => {
    const { g, connect, results } = gateway();
    const ws = connect();
    ws.say(stats(HEALTHY));
    ws.say({ type: 'results', results: [fail('gw1', now, { impaired: 'timed out while 3.1 s behind' })] });
    expect(results()[0]!.impaired).toBe("Pulse's probes in leeds are overloaded: timed out while 3.1 s behind");
    ws.say(stats({ ...HEALTHY, canary: { ok: false, latencyMs: 2_000, detail: 'loopback canary did not answer within 2000 ms' } }));
    expect(g.impairments()[0]!.detail).toBe("Pulse's probes in leeds are overloaded: canary failing: loopback canary did not answer within 2000 ms");
  });

  it('is impaired while its health reports have stopped for more than 3 s but its results still arrive', () => {
    const { g, connect, results } = gateway();
    const ws = connect();
    ws.say(stats(HEALTHY));
    now += 3_000;
    ws.say({ type: 'results', results: [fail('gw1')] });
    expect(results()[0]!.impaired).toBeUndefined();
    now += 1_500;
    ws.say({ type: 'results', results: [fail('gw1')] });
    expect(results()[1]!.impaired).toBe("Pulse's probes in leeds are overloaded: no health report for 5 s");
    expect(g.impairments()).toHaveLength(1);
  });
});

describe('over a real WebSocket', () => {
  let server: Server | undefined;
  let worker: WebSocket | undefined;
  afterEach(async () => {
    worker?.terminate();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    worker = undefined;
  });

  it("makes an overloaded worker's checks unknown with the reason, never down", async () => {
    const estate = oneCheckEstate();
    const engine = new StatusEngine(estate, Date.now());
    let batches = 0;
    const g = new WorkerGateway({
      token: 'shared-token',
      checks: () => [assignment('gw1')],
      onResults: (results, source) => {
        engine.ingest(results, source);
        batches++;
      },
    });
    const wss = new WebSocketServer({ noServer: true });
    server = createServer();
    server.on('upgrade', (req, socket, head) => {
      if (!g.authorize(req)) return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => g.attach(ws, 'shared'));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    worker = new WebSocket(`ws://127.0.0.1:${port}/workers`, { headers: { authorization: 'Bearer shared-token' } });
    const assigned = new Promise<ServerToWorker>((resolve) => worker!.once('message', (data) => resolve(JSON.parse(String(data)))));
    await new Promise((resolve) => worker!.once('open', resolve));
    worker.send(JSON.stringify({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location: 'leeds', pid: 42 }));
    expect((await assigned).checks.map((c) => c.id)).toEqual(['gw1']);
    worker.send(JSON.stringify(stats(OVERLOADED)));
    for (let i = 0; i < 4; i++) worker.send(JSON.stringify({ type: 'results', results: [fail('gw1', Date.now())] }));
    await waitFor('four batches of results', () => batches === 4, 5_000);

    engine.recompute(Date.now());
    expect(engine.checkStatus('gw1', Date.now())).toMatchObject({ status: 'unknown', detail: "Pulse's probes in leeds are overloaded: 4.6 s behind" });
    expect(engine.status('practice:A00001')!.status).toBe('unknown');
  });
});

describe('sharing checks between the workers of a location', () => {
  const shares = (sockets: FakeSocket[]) => sockets.map((s) => new Set(s.assigned ?? []));

  it('spreads them evenly, and a joining worker takes about 1/n of them, only from the others', () => {
    const checks = manyChecks(2_000);
    const { connect } = gateway({ checks: () => checks });
    const sockets = [1, 2, 3, 4].map((pid) => connect('leeds', pid));
    const before = shares(sockets);
    for (const s of before) expect(s.size).toBeGreaterThan(2_000 / 4 - 100);
    expect(before.reduce((n, s) => n + s.size, 0)).toBe(2_000);

    const fifth = connect('leeds', 5);
    const after = shares(sockets);
    const taken = new Set(fifth.assigned);
    let moved = 0;
    before.forEach((was, i) => {
      for (const id of was) if (!after[i]!.has(id)) moved++;
      for (const id of after[i]!) expect(was.has(id), `${id} moved between old workers`).toBe(true);
    });
    expect(moved).toBe(taken.size);
    expect(moved).toBeLessThanOrEqual(2_000 / 5 + 100);
    expect(moved).toBeGreaterThan(2_000 / 5 - 100);
  });

  it('waits a grace before moving a departed worker’s checks, and gives them back if it reconnects in time', () => {
    const timers = manualTimers();
    const checks = manyChecks(300);
    const { connect } = gateway({ checks: () => checks, timers, reassignGraceMs: 10_000 });
    const [a, b, c] = [1, 2, 3].map((pid) => connect('leeds', pid));
    const aShare = [...a!.assigned!];
    const sent = () => [b!.assignments, c!.assignments];
    const sentBefore = sent();

    a!.terminate();
    timers.advance(9_000);
    expect(sent()).toEqual(sentBefore); // nobody has taken A's checks yet
    const again = connect('leeds', 1);
    expect(again.assigned).toEqual(aShare);
    expect(sent()).toEqual(sentBefore); // and the others were never disturbed
    expect(timers.pending()).toBe(0);

    again.terminate();
    timers.advance(10_000);
    const [bNow, cNow] = shares([b!, c!]);
    expect(bNow!.size + cNow!.size).toBe(300);
    for (const id of aShare) expect(bNow!.has(id) || cNow!.has(id)).toBe(true);
  });

  it('does not hand every check to a worker that reconnects while the others are still coming back', () => {
    const timers = manualTimers();
    const checks = manyChecks(300);
    const { connect } = gateway({ checks: () => checks, timers });
    const [a, b] = [1, 2].map((pid) => connect('leeds', pid));
    const [aShare, bShare] = shares([a!, b!]);
    a!.terminate();
    b!.terminate(); // e.g. the server stalled and both links dropped
    const aBack = connect('leeds', 1);
    expect(new Set(aBack.assigned)).toEqual(aShare);
    const bBack = connect('leeds', 2);
    expect(new Set(bBack.assigned)).toEqual(bShare);
  });

  it('never lets the grace outlast half the shortest check interval (a dead worker’s checks must not go stale)', () => {
    const timers = manualTimers();
    const checks = manyChecks(100, 4_000);
    const { connect } = gateway({ checks: () => checks, timers, reassignGraceMs: 10_000 });
    const [a, b] = [1, 2].map((pid) => connect('leeds', pid));
    a!.terminate();
    timers.advance(1_999);
    expect(b!.assigned!.length).toBeLessThan(100);
    timers.advance(1);
    expect(b!.assigned!.length).toBe(100);
  });

  it('keeps each location running every check; two workers with the same pid (containers) share one location without knocking each other off', () => {
    const checks = manyChecks(200);
    const { g, connect } = gateway({ checks: () => checks });
    const leeds = connect('leeds', 1);
    const london = connect('london', 1);
    expect(leeds.assigned).toHaveLength(200);
    expect(london.assigned).toHaveLength(200);
    const twin = connect('leeds', 1);
    expect(leeds.closed).toBeNull();
    expect(leeds.assigned!.length + twin.assigned!.length).toBe(200);
    expect(twin.assigned!.length).toBeGreaterThan(50);
    expect(g.workers().map((w) => w.location).sort()).toEqual(['leeds', 'leeds', 'london']);
  });
});

describe('the liveness sweep', () => {
  it('keeps a worker whose messages arrived since the last ping, and drops one that sent nothing', async () => {
    const { g, connect } = gateway();
    const talking = connect('leeds', 1);
    const silent = connect('leeds', 2);
    g.sweep();
    talking.say(stats(HEALTHY)); // no pong yet (e.g. behind a backlog), but alive
    g.sweep();
    await new Promise((resolve) => setImmediate(resolve));
    expect(talking.closed).toBeNull();
    expect(silent.closed?.code).toBe(1006);
  });
});

describe('locations a worker may claim (issue 13, item 3)', () => {
  it('lets one token claim at most 4 distinct locations: a fifth is closed 4403 with the reason, counted and reported', () => {
    const refused: unknown[] = [];
    const { g, connect } = gateway({ onLocationRejected: (r) => refused.push(r) });
    const sockets = ['leeds', 'london', 'york', 'hull'].map((l) => connect(l, 1, 'token:7'));
    for (const s of sockets) expect(s.closed).toBeNull();
    const fifth = connect('bristol', 1, 'token:7');
    expect(fifth.closed).toEqual({ code: 4403, reason: 'location refused: this token already claimed 4 locations, the most one token may (PULSE_WORKER_MAX_LOCATIONS_PER_TOKEN)' });
    expect(g.workers().map((w) => w.location).sort()).toEqual(['hull', 'leeds', 'london', 'york']);
    expect(g.locationsRejected()).toMatchObject({ token_limit: 1, estate_limit: 0, invalid: 0 });
    expect(refused).toEqual([{ source: 'token:7', pid: 1, location: 'bristol', reason: 'token_limit', detail: expect.stringContaining('leeds, london, york, hull') }]);
    // More workers in a location it already claimed are welcome, and so is another token.
    expect(connect('leeds', 2, 'token:7').closed).toBeNull();
    expect(connect('bristol', 1, 'token:8').closed).toBeNull();
  });

  it('keeps a claim after its connection leaves (what a location reported stays in the engine until restart)', () => {
    const { connect } = gateway({ maxLocationsPerToken: 1 });
    connect('leeds', 1, 'token:7').terminate();
    expect(connect('london', 1, 'token:7').closed?.code).toBe(4403);
    expect(connect('leeds', 1, 'token:7').closed).toBeNull();
  });

  it('bounds the distinct locations of the whole estate (64 by default), whichever tokens claim them', () => {
    const { g, connect } = gateway();
    for (let t = 0; t < 16; t++) for (let l = 0; l < 4; l++) expect(connect(`site-${t}-${l}`, 1, `token:${t}`).closed).toBeNull();
    const over = connect('site-new', 1, 'token:99');
    expect(over.closed).toEqual({ code: 4403, reason: 'location refused: the estate already has 64 probe locations, the most allowed (PULSE_WORKER_MAX_LOCATIONS)' });
    expect(connect('site-3-1', 1, 'token:99').closed).toBeNull(); // a known location is still welcome
    expect(g.locationsRejected().estate_limit).toBe(1);
    expect(new Set(g.workers().map((w) => w.location)).size).toBe(64);
  });

  it.each([
    ['', 'empty'],
    ['x'.repeat(65), 'longer than 64 characters'],
    ['leeds\u0000dc1', 'letters, digits'],
    ['<script>', 'letters, digits'],
    [' leeds', 'letters, digits'],
  ])('refuses the location %j (%s) with a reason, before anything is assigned', (location, words) => {
    const { g, connect } = gateway();
    const ws = connect(location, 1, 'token:7');
    expect(ws.closed?.code).toBe(4400);
    expect(ws.closed?.reason).toContain(words);
    expect(Buffer.byteLength(ws.closed!.reason)).toBeLessThanOrEqual(123);
    expect(ws.assigned).toBeNull();
    expect(g.workers()).toEqual([]);
    expect(g.locationsRejected().invalid).toBe(1);
  });

  it('accepts the names operators use: leeds-dc1, London DC2, az:uksouth/1, Ōsaka', () => {
    const { connect } = gateway({ maxLocationsPerToken: 10 });
    for (const l of ['leeds-dc1', 'London DC2', 'az:uksouth/1', 'Ōsaka', 'site_3.b']) expect(connect(l, 1, 'shared').closed).toBeNull();
  });

  it('refuses 1,000 made-up locations from one token: only its first 4 ever reach the results', () => {
    const { connect, results } = gateway();
    let refused = 0;
    for (let i = 0; i < 1_000; i++) {
      const ws = connect(`made-up-${i}`, i, 'token:7');
      if (ws.closed) refused++;
      else ws.say({ type: 'results', results: [ok('gw1')] });
    }
    expect(refused).toBe(1_000 - 4);
    expect(new Set(results().map((r) => r.location)).size).toBe(4);
  });
});
