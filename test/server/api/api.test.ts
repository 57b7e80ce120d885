// The REST API over a real store and engine, driven through Hono's request() with a fake
// clock: filters and pagination, people's reports, maintenance windows, heartbeats,
// validation errors and the OpenAPI document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { createPulse, type Pulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { hashPassword } from '../../../server/auth/password';
import { SqliteStore } from '../../../server/store/sqlite';

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }]
  - id: systmone
    name: TPP SystmOne
    kind: clinical-system
    checks: [{ id: s1-api, kind: http, target: "http://127.0.0.1:9/" }]
practices:
  - { ods: A00001, name: Riverside Medical Practice, pcn: North PCN, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: Oakwood Surgery, pcn: North PCN, system: emis-web }
  - ods: B00003
    name: Moorside Health Centre
    pcn: South PCN
    system: systmone
    fleet: { token: { env: FLEET_B00003 }, interval: 60s, silentAfter: 2, degradedAt: 0.2, downAt: 0.5 }
`;
const TOKEN = 'a-practice-token-of-length';

let now = 1_000_000;
let pulse: Pulse;
let store: SqliteStore;
let dir: string;

const ok = (checkId: string, at = now): CheckResult => ({ ok: true, checkId, at, location: 'l', latencyMs: 5 });
let cookie = '';
let csrf = '';
const req = async (path: string, init?: RequestInit & { json?: unknown }) => {
  const res = await pulse.app.request(path, {
    ...init,
    body: init?.json === undefined ? init?.body : JSON.stringify(init.json),
    headers: {
      'content-type': 'application/json',
      origin: 'http://localhost',
      cookie,
      'x-csrf-token': csrf,
      ...(init?.headers as Record<string, string>),
    },
  });
  return { status: res.status, body: (await res.json()) as any };
};

/** Signs in as a national ops user through the API, as a browser would. */
async function signInAsOps() {
  await store.accounts.createUser({
    username: 'ops',
    displayName: 'Ops',
    role: 'ops',
    icb: null,
    practices: [],
    passwordHash: await hashPassword('a long enough password', { N: 2 ** 10 }),
    now,
  });
  const res = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ops', password: 'a long enough password' }),
  });
  cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  csrf = ((await res.json()) as { csrf: string }).csrf;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-api-'));
  store = new SqliteStore(dir);
  pulse = createPulse({
    estate: parseEstate(ESTATE, 'estate.yaml'),
    store,
    clock: { now: () => now },
    log: silentLogger,
    workerToken: 'w',
    readSecret: (ref) => ('env' in ref && ref.env === 'FLEET_B00003' ? TOKEN : ''),
  });
  await pulse.restore();
  await signInAsOps();
  pulse.ingest(['emis-api', 's1-api', 'gw1'].map((id) => ok(id)));
  await pulse.tick();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('practices', () => {
  it('filters by status, system, PCN and text, and paginates', async () => {
    const all = await req('/api/practices');
    expect(all.body.total).toBe(3);
    expect((await req('/api/practices?system=emis-web')).body.practices.map((p: any) => p.ods)).toEqual(['A00001', 'A00002']);
    expect((await req('/api/practices?pcn=South%20PCN')).body.total).toBe(1);
    expect((await req('/api/practices?q=oak')).body.practices[0].ods).toBe('A00002');
    expect((await req('/api/practices?q=b0000')).body.practices[0].ods).toBe('B00003');
    // B00003's fleet has never reported: unknown, never up.
    expect((await req('/api/practices?status=unknown')).body.practices.map((p: any) => p.ods)).toEqual(['B00003']);
    const page = await req('/api/practices?limit=1&offset=1');
    expect(page.body).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(page.body.practices).toHaveLength(1);
    expect((await req('/api/practices?limit=0')).status).toBe(400);
  });

  it('records a person’s “we’re down”, rolls it up, keeps it across a restart, and clears it on “we’re back”', async () => {
    const down = await req('/api/practices/A00002/reports', {
      method: 'POST',
      json: { state: 'down', by: 'Jane Smith, practice manager', note: 'no clinical system on any PC' },
    });
    expect(down.status).toBe(200);
    await pulse.tick();
    const detail = (await req('/api/practices/A00002')).body;
    expect(detail.status).toBe('down');
    expect(detail.cause).toBe('reported down by Jane Smith, practice manager (ops) at 00:16 UTC: no clinical system on any PC');
    expect(detail.report).toMatchObject({ state: 'down', by: 'Jane Smith, practice manager (ops)' });
    expect(detail.history[0]).toMatchObject({ from: 'up', to: 'down' });

    // A restart (new Pulse on the same store) keeps the report.
    const again = createPulse({
      estate: parseEstate(ESTATE, 'e.yaml'),
      store,
      clock: { now: () => now },
      log: silentLogger,
      workerToken: 'w',
      readSecret: () => TOKEN,
    });
    await again.restore();
    expect(again.engine.report('A00002')).toMatchObject({ by: 'Jane Smith, practice manager (ops)' });

    await req('/api/practices/A00002/reports', { method: 'POST', json: { state: 'up', by: 'Jane Smith, practice manager' } });
    await pulse.tick();
    expect((await req('/api/practices/A00002')).body.status).toBe('up');
  });

  it('answers bad input with 400 naming the field, never 500', async () => {
    const cases: [string, RequestInit & { json?: unknown }, string][] = [
      ['/api/practices/A00002/reports', { method: 'POST', json: { state: 'sideways', by: 'x' } }, 'state:'],
      ['/api/practices/A00002/reports', { method: 'POST', json: { state: 'down' } }, 'by:'],
      ['/api/practices/A00002/reports', { method: 'POST', json: { state: 'down', by: 'x', extra: 1 } }, 'Unrecognized key'],
      ['/api/practices/A00002/reports', { method: 'POST', body: '{not json' }, ''],
      ['/api/practices/a2/reports', { method: 'POST', json: { state: 'down', by: 'x' } }, 'ods: expected an ODS practice code'],
      ['/api/maintenance', { method: 'POST', json: { subject: 'service:emis-web', start: 'soon', end: 'later', author: 'a', reason: 'r' } }, 'start:'],
    ];
    for (const [path, init, fragment] of cases) {
      const res = await req(path, init);
      expect(res.status, path).toBe(400);
      expect(res.body.error.message, path).toContain(fragment);
    }
    const big = await req('/api/practices/A00002/reports', { method: 'POST', json: { state: 'down', by: 'x', note: 'y'.repeat(70_000) } });
    expect(big.status).toBe(413);
    expect((await req('/api/practices/Z99999')).status).toBe(404);
  });
});

describe('maintenance windows', () => {
  it('shows a service in planned maintenance, its practices too, raises nothing, and ends by itself', async () => {
    const start = new Date(now + 60_000).toISOString();
    const end = new Date(now + 3_600_000).toISOString();
    const created = await req('/api/maintenance', {
      method: 'POST',
      json: { subject: 'service:emis-web', start, end, author: 'EMIS (supplier notice 4411)', reason: 'Annual failover test' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ subject: 'service:emis-web', source: 'api', active: false });

    now += 120_000;
    pulse.ingest(['s1-api', 'gw1'].map((id) => ok(id)));
    await pulse.tick();
    expect((await req('/api/practices/A00001')).body.status).toBe('maintenance');
    expect((await req('/api/services/emis-web')).body.cause).toBe(`maintenance until ${end}: Annual failover test`);
    expect((await req('/api/maintenance')).body.windows[0]).toMatchObject({ active: true });

    const cancelled = await req(`/api/maintenance/${created.body.id}/cancel`, { method: 'POST', json: { by: 'ICB ops' } });
    expect(cancelled.status).toBe(200);
    pulse.ingest(['emis-api', 's1-api', 'gw1'].map((id) => ok(id)));
    await pulse.tick();
    expect((await req('/api/practices/A00001')).body.status).toBe('up');
    expect((await req('/api/maintenance')).body.windows).toEqual([]);
    expect((await req(`/api/maintenance/${created.body.id}/cancel`, { method: 'POST', json: { by: 'x' } })).status).toBe(404);
  });

  it('refuses a window on an unknown subject or ending before it starts', async () => {
    const body = { start: new Date(now).toISOString(), end: new Date(now + 1000).toISOString(), author: 'a', reason: 'r' };
    expect((await req('/api/maintenance', { method: 'POST', json: { ...body, subject: 'service:nope' } })).body.error.message).toBe(
      'subject: unknown service "nope"',
    );
    const backwards = { ...body, subject: 'practice:A00001', end: new Date(now - 1000).toISOString() };
    expect((await req('/api/maintenance', { method: 'POST', json: backwards })).body.error.message).toBe('end: must be after start');
  });
});

describe('workstation heartbeats', () => {
  const beat = (agent: string, token = TOKEN) =>
    req('/api/heartbeats/B00003', { method: 'POST', json: { agent }, headers: { authorization: `Bearer ${token}` } });

  it('takes a practice down when most of its workstations go silent (a bad endpoint update)', async () => {
    for (let i = 0; i < 10; i++) expect((await beat(`PC-${i}`)).status).toBe(202);
    await pulse.tick();
    await pulse.tick();
    expect((await req('/api/practices/B00003')).body.status).toBe('up');

    // Seven PCs stop beating; three keep going.
    for (const step of [60_000, 60_000, 60_000]) {
      now += step;
      for (let i = 7; i < 10; i++) await beat(`PC-${i}`);
      await pulse.tick();
    }
    pulse.ingest(['emis-api', 's1-api', 'gw1'].map((id) => ok(id)));
    await pulse.tick();
    const detail = (await req('/api/practices/B00003')).body;
    expect(detail.status).toBe('down');
    expect(detail.cause).toContain('7 of 10 workstations silent (70%)');
  });

  it('refuses a wrong token, an unknown practice and a bad body', async () => {
    expect((await beat('PC-1', 'wrong-token-wrong-token')).status).toBe(401);
    expect((await req('/api/heartbeats/A00001', { method: 'POST', json: { agent: 'x' } })).status).toBe(404);
    const bad = await req('/api/heartbeats/B00003', { method: 'POST', json: { agent: '' }, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^agent:/);
  });
});

describe('OpenAPI', () => {
  it('publishes every API route', async () => {
    const doc = (await req('/api/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/api/practices', '/api/practices/{ods}', '/api/practices/{ods}/reports', '/api/services', '/api/checks', '/api/maintenance', '/api/heartbeats/{ods}']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe('incidents', () => {
  const failEmis = async () => {
    for (const at of [now + 1, now + 2]) {
      pulse.ingest([{ ok: false, checkId: 'emis-api', at, location: 'l', latencyMs: 1, error: 'status', detail: 'status 503, expected 2xx' }]);
      await pulse.tick();
    }
  };

  it('opens one incident for an EMIS Web outage, takes notes and references, and resolves on recovery', async () => {
    await failEmis();
    const open = (await req('/api/incidents')).body.incidents;
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ key: 'service:emis-web', title: 'EMIS Web down — 2 practices', affected: ['A00001', 'A00002'] });
    const id = open[0].id;

    const note = await req(`/api/incidents/${id}/notes`, { method: 'POST', json: { by: 'ICB ops', text: 'EMIS confirm a hosting fault' } });
    expect(note.status).toBe(200);
    const ref = await req(`/api/incidents/${id}/references`, {
      method: 'POST',
      json: { system: 'service-desk', reference: 'INC0012345', by: 'ICB ops' },
    });
    expect(ref.body.references).toEqual([expect.objectContaining({ system: 'service-desk', reference: 'INC0012345' })]);

    pulse.ingest([ok('emis-api', now + 3)]);
    await pulse.tick();
    const resolved = (await req(`/api/incidents/${id}`)).body;
    expect(resolved.status).toBe('resolved');
    expect(resolved.timeline.map((e: any) => e.type)).toEqual(['opened', 'note', 'reference', 'resolved']);
    expect((await req('/api/incidents')).body.incidents).toEqual([]);
    expect((await req('/api/incidents?status=recent')).body.incidents[0].id).toBe(id);

    // References go on open incidents; notes may follow after.
    expect((await req(`/api/incidents/${id}/references`, { method: 'POST', json: { system: 'supplier', reference: 'X1', by: 'a' } })).status).toBe(409);
    expect((await req(`/api/incidents/${id}/notes`, { method: 'POST', json: { by: 'a', text: 'post-incident review booked' } })).status).toBe(200);
  });

  it('answers unknown incidents with 404 and bad notes with 400 naming the field', async () => {
    expect((await req('/api/incidents/999')).status).toBe(404);
    expect((await req('/api/incidents/abc')).status).toBe(400);
    await failEmis();
    const id = (await req('/api/incidents')).body.incidents[0].id;
    const empty = await req(`/api/incidents/${id}/notes`, { method: 'POST', json: { by: 'a', text: '   ' } });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/text/);
    const badSystem = await req(`/api/incidents/${id}/references`, { method: 'POST', json: { system: 'fax', reference: 'x', by: 'a' } });
    expect(badSystem.status).toBe(400);
    expect(badSystem.body.error.message).toMatch(/^system:/);
  });
});

describe('history', () => {
  it('keeps per-minute summaries and recent results of a check, and availability from transitions', async () => {
    const start = now;
    for (let i = 0; i < 6; i++) {
      now = start + i * 30_000;
      pulse.ingest([
        i === 3
          ? { ok: false, checkId: 'gw1', at: now, location: 'l', latencyMs: 3, error: 'refused', detail: 'connection refused' }
          : { ok: true, checkId: 'gw1', at: now, location: 'l', latencyMs: 40 + i, detail: 'status 200' },
      ]);
      await pulse.tick();
    }
    now = start + 4 * 60_000;
    await pulse.flushHistory();
    const history = (await req('/api/checks/gw1/history?hours=1')).body;
    expect(history.minutes.reduce((n: number, m: any) => n + m.count, 0)).toBe(7); // one from beforeEach
    expect(history.minutes.reduce((n: number, m: any) => n + m.failures, 0)).toBe(1);
    expect(history.recent.at(-1)).toMatchObject({ ok: true, location: 'l' });
    expect(history.recent.some((r: any) => r.error === 'refused')).toBe(true);
    expect((await req('/api/checks/nope/history')).status).toBe(404);

    const detail = (await req('/api/practices/A00001')).body;
    const day = detail.availability.find((a: any) => a.window === '24h');
    // Known only since it came up a few minutes ago, and up all that time.
    expect(day.availability).toBe(1);
    expect(day.msByStatus.up).toBeGreaterThan(0);
  });
});
