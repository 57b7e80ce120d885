// Every route and every WebSocket message declares who may use it; this file enumerates
// them all and tries each against every kind of caller. A route added without a declared
// permission, or one that lets the wrong caller in or leaks another practice, fails here.
import { describe, expect, it, beforeAll } from 'vitest';
import { createPulse, type Pulse } from '../../../server/app';
import { hashPassword } from '../../../server/auth/password';
import { PERMISSIONS } from '../../../server/auth/permissions';
import type { Role } from '../../../server/auth/types';
import { parseEstate } from '../../../server/config/estate';
import { LIVE_CLIENT_MESSAGES } from '../../../server/live/hub';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import { WORKER_MESSAGES } from '../../../server/workers/gateway';

// A lone practice's incident opens at once (no group wait): these tests are about other things.
const ESTATE = `incidents: { groupWait: 0s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: "Riverside <script>alert(1)</script>", pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: Oakwood Surgery, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Moorside Health Centre, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
`;

type Caller = 'anonymous' | 'display' | 'viewer' | 'manager' | 'ops-icb' | 'ops-national';
const CALLERS: Caller[] = ['anonymous', 'display', 'viewer', 'manager', 'ops-icb', 'ops-national'];

let pulse: Pulse;
let store: SqliteStore;
const headers: Record<Caller, Record<string, string>> = {} as never;
let incidentId = 0;

async function user(username: string, role: Role, icb: string | null, practices: string[]) {
  await store.accounts.createUser({
    username,
    displayName: username,
    role,
    icb,
    practices,
    passwordHash: await hashPassword('long enough password', { N: 2 ** 10 }),
    now: Date.now(),
  });
  const res = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'long enough password' }),
  });
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie, 'x-csrf-token': csrf, origin: 'http://localhost' };
}

beforeAll(async () => {
  store = new SqliteStore(':memory:');
  pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store, clock: { now: () => Date.now() }, log: silentLogger, workerToken: 'w' });
  await pulse.restore();
  headers.anonymous = {};
  const display = await store.accounts.createToken({ kind: 'display', name: 'QWO wall', icb: 'QWO', createdBy: 'test', now: Date.now() });
  headers.display = { authorization: `Bearer ${display.secret}` };
  headers.viewer = await user('viewer', 'viewer', 'QWO', []);
  headers.manager = await user('manager', 'manager', null, ['A00001']);
  headers['ops-icb'] = await user('opsqwo', 'ops', 'QWO', []);
  headers['ops-national'] = await user('opsall', 'ops', null, []);
  // An incident at A00002 (QWO), so incident routes have something to act on.
  const at = Date.now();
  for (const t of [at, at + 1]) {
    pulse.ingest([{ ok: false, checkId: 'gw2', at: t, location: 'l', latencyMs: 1, error: 'refused', detail: 'refused' }]);
    pulse.ingest([{ ok: true, checkId: 'gw1', at: t, location: 'l', latencyMs: 1 }, { ok: true, checkId: 'gw3', at: t, location: 'l', latencyMs: 1 }, { ok: true, checkId: 'emis-api', at: t, location: 'l', latencyMs: 1 }]);
    await pulse.tick();
  }
  incidentId = pulse.incidents.open()[0]!.id;
});

describe('declared permissions', () => {
  it('every REST route declares a permission before any handler runs', () => {
    const byRoute = new Map<string, unknown[]>();
    for (const r of pulse.app.routes) {
      if (r.method === 'ALL' && (r.path === '/*' || r.path === '/api/*') && byRoute.size === 0) continue; // global middleware
      const key = `${r.method} ${r.path}`;
      byRoute.set(key, [...(byRoute.get(key) ?? []), r.handler]);
    }
    const undeclared = [...byRoute].filter(([, handlers]) => !(handlers[0] as { permission?: string }).permission).map(([k]) => k);
    expect(undeclared).toEqual([]);
    for (const [, handlers] of byRoute) expect(PERMISSIONS).toContain((handlers[0] as { permission: string }).permission);
  });

  it('every WebSocket message type declares a permission', () => {
    for (const table of [LIVE_CLIENT_MESSAGES, WORKER_MESSAGES]) {
      for (const permission of Object.values(table)) expect(PERMISSIONS).toContain(permission);
    }
    expect(Object.keys(LIVE_CLIENT_MESSAGES)).toEqual(['resync']);
    expect(Object.keys(WORKER_MESSAGES).sort()).toEqual(['hello', 'results', 'stats']);
  });
});

// Each route with a request and the callers it must let in; everyone else gets 401 or 403.
const everyoneSignedIn: Caller[] = ['display', 'viewer', 'manager', 'ops-icb', 'ops-national'];
const people: Caller[] = ['viewer', 'manager', 'ops-icb', 'ops-national'];
const ops: Caller[] = ['ops-icb', 'ops-national'];
const future = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
const TABLE: { route: string; path: () => string; body?: unknown; method?: string; allowed: Caller[] }[] = [
  { route: 'GET /healthz', path: () => '/healthz', allowed: CALLERS },
  { route: 'GET /metrics', path: () => '/metrics', allowed: CALLERS },
  { route: 'GET /api/practices', path: () => '/api/practices', allowed: everyoneSignedIn },
  { route: 'GET /api/practices/:ods (own)', path: () => '/api/practices/A00001', allowed: everyoneSignedIn },
  { route: 'GET /api/practices/:ods (other ICB)', path: () => '/api/practices/B00003', allowed: ['ops-national'] },
  { route: 'POST /api/practices/:ods/reports (own)', path: () => '/api/practices/A00001/reports', body: { state: 'up', by: 'x' }, allowed: ['manager', 'ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/reports (not theirs)', path: () => '/api/practices/A00002/reports', body: { state: 'up', by: 'x' }, allowed: ['ops-icb', 'ops-national'] },
  { route: 'GET /api/services', path: () => '/api/services', allowed: everyoneSignedIn },
  { route: 'GET /api/services/:id', path: () => '/api/services/emis-web', allowed: everyoneSignedIn },
  { route: 'GET /api/checks', path: () => '/api/checks', allowed: everyoneSignedIn },
  { route: 'GET /api/checks/:id/history (own practice)', path: () => '/api/checks/gw1/history', allowed: everyoneSignedIn },
  { route: 'GET /api/checks/:id/history (other ICB)', path: () => '/api/checks/gw3/history', allowed: ['ops-national'] },
  { route: 'GET /api/trend', path: () => '/api/trend?window=24h', allowed: everyoneSignedIn },
  { route: 'GET /api/maintenance', path: () => '/api/maintenance', allowed: everyoneSignedIn },
  { route: 'GET /api/backup', path: () => '/api/backup', allowed: everyoneSignedIn },
  { route: 'GET /api/practices/:ods/backup (own)', path: () => '/api/practices/A00001/backup', allowed: everyoneSignedIn },
  { route: 'GET /api/practices/:ods/backup (other ICB)', path: () => '/api/practices/B00003/backup', allowed: ['ops-national'] },
  { route: 'POST /api/practices/:ods/backup/enter (own)', path: () => '/api/practices/A00001/backup/enter', body: { reasonCode: 'planned', reason: 'drill' }, allowed: ['manager', 'ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/backup/enter (not theirs)', path: () => '/api/practices/A00002/backup/enter', body: { reasonCode: 'planned', reason: 'drill' }, allowed: ['ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/backup/leave (own)', path: () => '/api/practices/A00001/backup/leave', body: { reasonCode: 'planned', reason: 'drill' }, allowed: ['manager', 'ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/backup/leave (other ICB)', path: () => '/api/practices/B00003/backup/leave', body: { reasonCode: 'planned', reason: 'drill' }, allowed: ['ops-national'] },
  { route: 'POST /api/practices/:ods/backup/checklist/:itemId (own)', path: () => '/api/practices/A00001/backup/checklist/paper', body: { done: true }, allowed: ['manager', 'ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/backup/readiness/:itemId (not theirs)', path: () => '/api/practices/A00002/backup/readiness/plan-tested', body: { done: true }, allowed: ['ops-icb', 'ops-national'] },
  { route: 'PUT /api/practices/:ods/backup/backlog (own)', path: () => '/api/practices/A00001/backup/backlog', method: 'PUT', body: { urgentReferrals: 1, prescriptions: 2, consultations: 3 }, allowed: ['manager', 'ops-icb', 'ops-national'] },
  { route: 'POST /api/practices/:ods/backup/costs (own ICB)', path: () => '/api/practices/A00001/backup/costs', body: { description: 'locum', amountPence: 100 }, allowed: ops },
  { route: 'POST /api/practices/:ods/backup/costs (other ICB)', path: () => '/api/practices/B00003/backup/costs', body: { description: 'locum', amountPence: 100 }, allowed: ['ops-national'] },
  { route: 'GET /api/backup/costs', path: () => '/api/backup/costs', allowed: ops },
  { route: 'GET /api/backup/bulk', path: () => `/api/backup/bulk?action=enter&incidentId=${incidentId}`, allowed: ops },
  { route: 'POST /api/backup/bulk', path: () => '/api/backup/bulk', body: { action: 'enter', incidentId, reasonCode: 'planned', reason: 'drill', expectedCount: 99 }, allowed: ops },
  {
    route: 'POST /api/maintenance',
    path: () => '/api/maintenance',
    body: { subject: 'service:emis-web', start: future(10), end: future(11), author: 'a', reason: 'r' },
    allowed: ops,
  },
  { route: 'POST /api/maintenance/:id/cancel', path: () => '/api/maintenance/nope/cancel', body: { by: 'x' }, allowed: ops },
  { route: 'GET /api/incidents', path: () => '/api/incidents', allowed: everyoneSignedIn },
  { route: 'GET /api/incidents/:id', path: () => `/api/incidents/${incidentId}`, allowed: everyoneSignedIn },
  { route: 'POST /api/incidents/:id/notes', path: () => `/api/incidents/${incidentId}/notes`, body: { by: 'x', text: 'y' }, allowed: ops },
  { route: 'POST /api/incidents/:id/references', path: () => `/api/incidents/${incidentId}/references`, body: { system: 'other', reference: 'R1', by: 'x' }, allowed: ops },
  { route: 'GET /api/workers', path: () => '/api/workers', allowed: everyoneSignedIn },
  { route: 'GET /api/locations', path: () => '/api/locations', allowed: everyoneSignedIn },
  { route: 'GET /api/openapi.json', path: () => '/api/openapi.json', allowed: CALLERS },
  { route: 'GET /api/auth/me', path: () => '/api/auth/me', allowed: people },
  { route: 'GET /api/auth/providers', path: () => '/api/auth/providers', allowed: CALLERS },
  { route: 'GET /api/tokens', path: () => '/api/tokens', allowed: ops },
  { route: 'POST /api/tokens', path: () => '/api/tokens', body: { kind: 'display', name: 'wall' }, allowed: ops },
  { route: 'POST /api/tokens/:id/revoke', path: () => '/api/tokens/9999/revoke', body: {}, allowed: ops },
  { route: 'GET /api/audit', path: () => '/api/audit', allowed: ops },
  { route: 'POST /api/admin/reload', path: () => '/api/admin/reload', body: {}, allowed: ['ops-national'] },
  { route: 'GET /status/:ods', path: () => '/status/A00001', allowed: CALLERS },
  { route: 'GET /status.css', path: () => '/status.css', allowed: CALLERS },
];

describe('every route against every caller', () => {
  for (const row of TABLE) {
    it(`${row.route}`, async () => {
      for (const caller of CALLERS) {
        const res = await pulse.app.request(row.path(), {
          method: row.method ?? (row.body === undefined ? 'GET' : 'POST'),
          headers: { 'content-type': 'application/json', ...headers[caller] },
          body: row.body === undefined ? undefined : JSON.stringify(row.body),
        });
        const text = await res.text();
        if (row.allowed.includes(caller)) {
          expect([401, 403], `${caller} should be let in to ${row.route}`).not.toContain(res.status);
          expect(res.status, `${caller}: ${text}`).toBeLessThan(500);
        } else {
          expect([401, 403], `${caller} must be refused ${row.route} (got ${res.status})`).toContain(res.status);
          expect(res.status).toBe(caller === 'anonymous' ? 401 : 403);
          // Nothing leaked in a refusal: no practice names, no ODS codes.
          expect(text).not.toMatch(/Riverside|Oakwood|Moorside|A0000|B0000/);
        }
      }
    });
  }

  it('covers every declared route', () => {
    const declared = new Set(pulse.app.routes.filter((r) => (r.handler as { permission?: string }).permission).map((r) => `${r.method} ${r.path}`));
    const tried = new Set(TABLE.map((r) => r.route.replace(/ \(.*\)$/, '')));
    const untested = [...declared].filter((r) => !tried.has(r) && !['GET /assets/*', 'GET /favicon.svg', 'GET /', 'GET /wall', 'GET /practice/:ods', 'GET /incidents/:id', 'ALL /api/*', 'POST /api/auth/login', 'POST /api/auth/logout', 'POST /api/auth/logout-everywhere', 'POST /api/heartbeats/:ods', 'GET /readyz'].includes(r));
    expect(untested).toEqual([]);
  });
});

describe('scope: nothing of another practice leaks', () => {
  it('gives a manager only their own practice, with counts over it alone', async () => {
    const res = await pulse.app.request('/api/practices', { headers: headers.manager });
    const body = (await res.json()) as { practices: { ods: string }[]; counts: { total: number } };
    expect(body.practices.map((p) => p.ods)).toEqual(['A00001']);
    expect(body.counts.total).toBe(1);
    const checks = (await (await pulse.app.request('/api/checks', { headers: headers.manager })).json()) as { checks: { id: string }[] };
    expect(checks.checks.map((c) => c.id).sort()).toEqual(['emis-api', 'gw1']);
    const incidents = (await (await pulse.app.request('/api/incidents', { headers: headers.manager })).json()) as { incidents: unknown[] };
    expect(incidents.incidents).toEqual([]); // the open incident is at A00002
    expect((await pulse.app.request(`/api/incidents/${incidentId}`, { headers: headers.manager })).status).toBe(404);
  });

  it('gives an ICB display link and an ICB ops user that ICB’s practices only', async () => {
    for (const caller of ['display', 'ops-icb', 'viewer'] as const) {
      const body = (await (await pulse.app.request('/api/practices', { headers: headers[caller] })).json()) as { practices: { ods: string }[] };
      expect(body.practices.map((p) => p.ods).sort(), caller).toEqual(['A00001', 'A00002']);
    }
  });

  it('returns practice names as data, never as markup (the page renders them as text)', async () => {
    const res = await pulse.app.request('/api/practices/A00001', { headers: headers['ops-national'] });
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('issue 13: holes an attack found', () => {
  it('lets an ICB’s ops cancel only their ICB’s practice windows, and records the window’s subject', async () => {
    const now = Date.now();
    const plan = async (subject: string) => {
      const res = await pulse.app.request('/api/maintenance', {
        method: 'POST',
        headers: { ...headers['ops-national'], 'content-type': 'application/json' },
        body: JSON.stringify({ subject, start: new Date(now + 3_600_000).toISOString(), end: new Date(now + 7_200_000).toISOString(), author: 'National desk', reason: 'failover test' }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const cancel = (id: string, caller: Caller) =>
      pulse.app.request(`/api/maintenance/${id}/cancel`, {
        method: 'POST',
        headers: { ...headers[caller], 'content-type': 'application/json' },
        body: JSON.stringify({ by: caller }),
      });
    const elsewhere = await plan('practice:B00003'); // QHM, not the QWO ops user's ICB
    const res = await cancel(elsewhere, 'ops-icb');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not one of your practices/);
    expect(pulse.engine.status('practice:B00003')).toBeDefined();
    const own = await plan('practice:A00002');
    expect((await cancel(own, 'ops-icb')).status).toBe(200);
    expect((await cancel(elsewhere, 'ops-national')).status).toBe(200);
    const entries = (await store.accounts.auditEntries(50, 0)).filter((e) => e.action === 'maintenance.cancel');
    expect(entries.map((e) => e.subject).sort()).toEqual(['practice:A00002', 'practice:B00003']);
  });

  it('answers no caller, signed in or not, on a Host Pulse does not answer to (421 naming it)', async () => {
    for (const caller of CALLERS) {
      const res = await pulse.app.request('/api/practices', { headers: { ...headers[caller], host: 'rebind.evil.example' } });
      expect(res.status, caller).toBe(421);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('rebind.evil.example');
    }
  });

  it('shows an ICB’s ops a shared-service incident’s peak over their practices and only their ICB’s and national notes', async () => {
    const qhm = await user('opsqhm13', 'ops', 'QHM', []);
    const emis = (ok: boolean) => {
      const at = Date.now();
      for (const t of [at, at + 1]) pulse.ingest([ok ? { ok, checkId: 'emis-api', at: t, location: 'l', latencyMs: 1 } : { ok, checkId: 'emis-api', at: t, location: 'l', latencyMs: 1, error: 'refused', detail: 'refused' }]);
    };
    emis(false);
    await pulse.tick();
    const service = pulse.incidents.open().find((i) => i.key === 'service:emis-web')!;
    expect(service.peakAffected).toBe(3);
    const note = await pulse.app.request(`/api/incidents/${service.id}/notes`, { method: 'POST', headers: { ...qhm, 'content-type': 'application/json' }, body: JSON.stringify({ by: 'QHM desk', text: 'QHM only' }) });
    expect(note.status).toBe(200);
    const seen = (await (await pulse.app.request(`/api/incidents/${service.id}`, { headers: headers['ops-icb'] })).json()) as { peakAffected: number; timeline: { text: string }[] };
    expect(seen.peakAffected).toBe(2);
    expect(seen.timeline.map((e) => e.text)).not.toContain('QHM only');
    const national = (await (await pulse.app.request(`/api/incidents/${service.id}`, { headers: headers['ops-national'] })).json()) as { timeline: { text: string }[] };
    expect(national.timeline.map((e) => e.text)).toContain('QHM only');
    emis(true);
    await pulse.tick();
  });

  it('keeps a configuration reload (which reconnects every ICB’s screens) to national ops', async () => {
    const icb = await pulse.app.request('/api/admin/reload', { method: 'POST', headers: { ...headers['ops-icb'], 'content-type': 'application/json' }, body: '{}' });
    expect(icb.status).toBe(403);
  });

  it('counts /api/locations over the checks the caller can see, not the whole estate', async () => {
    type Row = { location: string; checks: number; failing: number };
    const locations = async (h: Record<string, string>) => ((await (await pulse.app.request('/api/locations', { headers: h })).json()) as { locations: Row[] }).locations;
    const qhm = await user('viewerqhm', 'viewer', 'QHM', []);
    // gw2 (A00002, QWO) fails at location l; the QHM viewer sees only B00003's gw3 and the shared emis-api.
    expect(await locations(headers['ops-national'])).toMatchObject([{ location: 'l', checks: 4, failing: 1 }]);
    expect(await locations(headers['ops-icb'])).toMatchObject([{ location: 'l', checks: 3, failing: 1 }]);
    expect(await locations(qhm)).toMatchObject([{ location: 'l', checks: 2, failing: 0 }]);
    expect(await locations(headers.manager)).toMatchObject([{ location: 'l', checks: 2, failing: 0 }]);
  });

  it('on a read-only (or full) store: every caller still reads, and sign-in answers 503 STORE_UNAVAILABLE, not 500', async () => {
    await store.accounts.createUser({ username: 'latecomer', displayName: 'latecomer', role: 'viewer', icb: 'QWO', practices: [], passwordHash: await hashPassword('long enough password', { N: 2 ** 10 }), now: Date.now() });
    store.db.pragma('query_only = ON');
    try {
      for (const caller of CALLERS) {
        const res = await pulse.app.request('/api/practices', { headers: headers[caller] });
        expect(res.status, caller).toBe(caller === 'anonymous' ? 401 : 200);
      }
      const login = await pulse.app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'latecomer', password: 'long enough password' }),
      });
      expect(login.status).toBe(503);
      expect(await login.json()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'database: read-only' } });
      expect((await pulse.app.request('/readyz')).status).toBe(503);
    } finally {
      store.db.pragma('query_only = OFF');
    }
  });
});

describe('cross-site requests', () => {
  it('refuses a state change without the CSRF token, or from a foreign origin', async () => {
    const body = JSON.stringify({ state: 'up', by: 'x' });
    const { cookie } = headers['ops-national'];
    const noToken = await pulse.app.request('/api/practices/A00001/reports', { method: 'POST', headers: { cookie: cookie!, 'content-type': 'application/json' }, body });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { error: { code: string } }).error.code).toBe('CSRF');
    const foreign = await pulse.app.request('/api/practices/A00001/reports', {
      method: 'POST',
      headers: { ...headers['ops-national'], origin: 'https://evil.example', 'content-type': 'application/json' },
      body,
    });
    expect(foreign.status).toBe(403);
    const ok = await pulse.app.request('/api/practices/A00001/reports', { method: 'POST', headers: { ...headers['ops-national'], 'content-type': 'application/json' }, body });
    expect(ok.status).toBe(200);
  });
});
