// POST /api/heartbeats/:ods through the real route (Hono's request(), no socket): the
// software map's bounds answered as 400s naming the field, what the tracker keeps, and the
// server observer timing every request whatever its answer.
import { describe, expect, it } from 'vitest';
import type { ApiContext } from '../../../server/api/context';
import { heartbeatRoutes } from '../../../server/api/heartbeats';
import type { Guard } from '../../../server/auth/middleware';
import { FleetTracker, fleetSchema, secretReader } from '../../../server/fleet';
import { ServerObserver } from '../../../server/self/observer';

const NOW = 1_721_362_140_000;
const TOKEN = 'riverside-fleet-token-0123456789';

function setup() {
  const fleet = new FleetTracker({
    fleets: [['A81001', fleetSchema.parse({ token: { env: 'PULSE_FLEET_A81001' } })]],
    startedAt: NOW,
    readSecret: secretReader({ env: { PULSE_FLEET_A81001: TOKEN } }),
  });
  let mono = 0;
  const observer = new ServerObserver({ tickMs: 250, monoNow: () => mono, eventLoop: null });
  let intakes = 0;
  const pass = (async (_c, next) => next()) as Guard;
  const ctx = { fleet, now: () => NOW, guard: () => pass } as unknown as ApiContext;
  const app = heartbeatRoutes(ctx, {
    intake: () => {
      intakes++;
      mono += 1;
      return observer.intakeStart();
    },
  });
  const post = async (body: unknown, token = TOKEN) => {
    const res = await app.request('/api/heartbeats/A81001', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
  };
  return { fleet, observer, post, intakes: () => intakes };
}

describe('POST /api/heartbeats/:ods with software', () => {
  it('records the software the agent reports', async () => {
    const { fleet, post } = setup();
    const software = { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291' };
    expect((await post({ agent: 'PC-01', software })).status).toBe(202);
    expect(fleet.softwareOfAgent('A81001', 'PC-01')).toEqual(software);
    expect(fleet.softwareOf(['A81001'], NOW)).toEqual({ silent: [], healthy: [software] });
  });

  it.each([
    [{ 'falcon-sensor': '7.16\u0007' }, 'software.falcon-sensor: expected printable text without control characters'],
    [{ 'falcon-sensor': 'v'.repeat(65) }, 'software.falcon-sensor: expected at most 64 characters'],
    [{ 'falcon-sensor': 7 }, 'software.falcon-sensor: expected a version as a string, e.g. "7.16.18605"'],
    [Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, '1'])), 'software: at most 16 entries (got 20)'],
    ['7.16.18605', 'software: expected an object of software names to versions, e.g. {"falcon-sensor": "7.16.18605"}'],
  ])('answers 400 naming the field for %j', async (software, message) => {
    const { fleet, post } = setup();
    const res = await post({ agent: 'PC-01', software });
    expect(res).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message } } });
    // Nothing recorded: not the beat, not the software.
    expect(fleet.evaluate('A81001', NOW).agents).toBe(0);
  });

  it('refuses a bad software name, naming it', async () => {
    const { post } = setup();
    const res = await post('{"agent":"PC-01","software":{"falcon sensor":"7.16"}}');
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/^software\.falcon sensor: expected a name of letters, digits/);
  });

  it('times every request with the server observer, answered or refused', async () => {
    const { observer, post, intakes } = setup();
    await post({ agent: 'PC-01' });
    await post({ agent: 'PC-01', software: { os: '\u0000' } });
    await post({ agent: 'PC-01' }, 'a-wrong-token-of-some-length');
    await post('not json');
    expect(intakes()).toBe(4);
    expect(observer.health().intakeInFlight).toBe(0);
  });
});

describe('a heartbeat flood (issue 13, item 7)', () => {
  const OTHER = 'moorside-fleet-token-0123456789x';
  function two() {
    let now = NOW;
    const fleet = new FleetTracker({
      fleets: [
        ['A81001', fleetSchema.parse({ token: { env: 'T1' }, interval: '60s' })],
        ['B82005', fleetSchema.parse({ token: { env: 'T2' }, interval: '60s' })],
      ],
      startedAt: NOW,
      readSecret: secretReader({ env: { T1: TOKEN, T2: OTHER } }),
    });
    const rejected: string[] = [];
    const pass = (async (_c, next) => next()) as Guard;
    const ctx = { fleet, now: () => now, guard: () => pass } as unknown as ApiContext;
    const app = heartbeatRoutes(ctx, { onRejected: (reason) => rejected.push(reason) });
    const post = async (ods: string, token: string, agent = 'PC-01') => {
      const res = await app.request(`/api/heartbeats/${ods}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ agent }),
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code: string; message: string } } };
    };
    return { post, rejected, advance: (ms: number) => (now += ms) };
  }

  it('answers a flooding practice token 429 with Retry-After and the error body, counted, while another practice is still accepted', async () => {
    const { post, rejected } = two();
    const statuses: number[] = [];
    for (let i = 0; i < 1_000; i++) statuses.push((await post('A81001', TOKEN)).status);
    // One agent beating every 60 s, at 10 × its rate: a burst of 10, then refused.
    expect(statuses.filter((s) => s === 202).length).toBe(10);
    const refused = await post('A81001', TOKEN);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(refused.body.error?.code).toBe('RATE_LIMITED');
    expect(refused.body.error?.message).toMatch(/^practice A81001 sent more heartbeats than 10 × its agents' rate/);
    expect(rejected.filter((r) => r === 'rate_limited').length).toBe(991);
    expect((await post('B82005', OTHER)).status).toBe(202);
  });

  it('lets the practice in again once the wait is over, and a practice with more agents gets more', async () => {
    const { post, advance } = two();
    for (let a = 0; a < 50; a++) expect((await post('B82005', OTHER, `PC-${a}`)).status).toBe(202);
    for (let i = 0; i < 11; i++) await post('A81001', TOKEN);
    const refused = await post('A81001', TOKEN);
    expect(refused.status).toBe(429);
    advance(Number(refused.retryAfter) * 1000);
    expect((await post('A81001', TOKEN)).status).toBe(202);
  });
});

describe('the lean path (issue 14): its own checks, over a real socket too', () => {
  it('answers a malformed ODS code 400 naming the field, and an unknown one 404', async () => {
    const { fleet } = setup();
    const pass = (async (_c, next) => next()) as Guard;
    const app = heartbeatRoutes({ fleet, now: () => NOW, guard: () => pass } as unknown as ApiContext);
    const post = (ods: string) => app.request(`/api/heartbeats/${ods}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"agent":"PC-01"}' });
    const bad = await post('a81001');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'BAD_REQUEST', message: 'ods: expected an ODS practice code: one capital letter and five digits, e.g. A81001' } });
    expect((await post('B99999')).status).toBe(404);
  });

  it('refuses a declared length over 4 KiB unread, and a longer chunked body once it passes 4 KiB', async () => {
    const { fleet } = setup();
    const pass = (async (_c, next) => next()) as Guard;
    const app = heartbeatRoutes({ fleet, now: () => NOW, guard: () => pass } as unknown as ApiContext);
    const { serve } = await import('@hono/node-server');
    const { request } = await import('node:http');
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as import('node:http').Server;
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const port = (server.address() as { port: number }).port;
    const send = (body: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/heartbeats/A81001', headers: { authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const ok = await send('{"agent":"PC-01","software":{"os":"10.0.19045.4651"}}', { 'content-type': 'application/json' });
      expect(ok).toEqual({ status: 202, body: '{"accepted":true}' });
      const big = JSON.stringify({ agent: 'PC-02', hostname: 'h'.repeat(5_000) });
      const declared = await send(big, { 'content-length': String(Buffer.byteLength(big)) });
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.body)).toEqual({ error: { code: 'TOO_LARGE', message: 'a heartbeat is at most 4 KiB' } });
      const chunked = await send(big, { 'transfer-encoding': 'chunked' });
      expect(chunked.status).toBe(413);
      // Only the first beat was recorded.
      expect(fleet.evaluate('A81001', NOW).agents).toBe(1);
      expect(fleet.softwareOfAgent('A81001', 'PC-01')).toEqual({ os: '10.0.19045.4651' });
    } finally {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
