// The backup-mode API over the real app and a real SQLite store: scope across ICBs (a bulk
// switch of an incident that spans two ICBs), what is disclosed to whom (403 before 404),
// validation naming the field, body size, and a switch asked while a reload closes the service.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../../server/app';
import { hashPassword } from '../../../server/auth/password';
import type { Role } from '../../../server/auth/types';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';

const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web }
  - { ods: A00002, name: Oakwood, pcn: North, icb: QWO, system: emis-web }
  - { ods: B00001, name: Hillside, pcn: South, icb: QXX, system: emis-web }
`;
const PASSWORD = 'a long enough password';
const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);

let dir: string;
let store: SqliteStore;
let pulse: Pulse;

interface Session {
  headers: () => Promise<Record<string, string>>;
  post: (path: string, body: unknown) => Promise<Response>;
  get: (path: string) => Promise<Response>;
}

async function signIn(username: string, role: Role, icb: string | null, practices: string[] = []): Promise<Session> {
  await store.accounts.createUser({ username, displayName: username, role, icb, practices, passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }), now: NOW });
  const res = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  return {
    headers: async () => ({ cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }),
    post: async (path, body) =>
      pulse.app.request(path, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: async (path) => pulse.app.request(path, { headers: { cookie } }),
  };
}

const REASON = { reasonCode: 'clinical-system-down', reason: 'EMIS down since 07:40' };
const states = async () => Object.fromEntries((await store.backup.states()).map((s) => [s.ods, s.state]));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-backup-api-'));
  store = new SqliteStore(dir);
  pulse = createPulse({ estate: parseEstate(ESTATE, 'estate.yaml'), store, clock: { now: () => NOW }, log: silentLogger, workerToken: 'w' });
  await pulse.restore();
  // An incident across both ICBs (an EMIS outage), as the tracker keeps it.
  pulse.incidents.remember({
    id: 7,
    key: 'service:emis-web',
    kind: 'service',
    title: 'EMIS Web down',
    status: 'resolved',
    severity: 'down',
    openedAt: NOW - 3_600_000,
    resolvedAt: NOW - 60_000,
    affected: ['A00001', 'A00002', 'B00001'],
    peakAffected: 3,
    subjects: ['practice:A00001', 'practice:A00002', 'practice:B00001', 'service:emis-web'],
    timeline: [],
    references: [],
    finding: null,
  } as Parameters<Pulse['incidents']['remember']>[0]);
});

afterEach(async () => {
  await pulse.backup.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('scope', () => {
  it('a bulk switch by ops of one ICB covers only its practices of an incident that spans ICBs', async () => {
    const ops = await signIn('ops.qwo', 'ops', 'QWO');
    const preview = (await (await ops.get('/api/backup/bulk?action=enter&incidentId=7')).json()) as { count: number; practices: string[] };
    expect(preview).toMatchObject({ count: 2, practices: ['A00001', 'A00002'] });
    const wrong = await ops.post('/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7, expectedCount: 3 });
    expect(wrong.status).toBe(409);
    expect(await states()).toEqual({});
    const res = await ops.post('/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7, expectedCount: 2 });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { switched: string[] }).switched).toEqual(['A00001', 'A00002']);
    expect(await states()).toEqual({ A00001: 'backup', A00002: 'backup' }); // no plan: nothing to send, settled at once
    // The note it writes on the incident is the ICB's: its people see it, another ICB's do not.
    const note = 'practices switched into backup mode (clinical-system-down): EMIS down since 07:40';
    expect(pulse.incidents.get(7)!.timeline.at(-1)).toMatchObject({ type: 'note', by: 'ops.qwo', text: `2 ${note}`, icb: 'QWO' });
    const notes = async (who: Session) =>
      ((await (await who.get('/api/incidents/7')).json()) as { timeline: { type: string; text: string }[] }).timeline.filter((e) => e.type === 'note').map((e) => e.text);
    const other = await signIn('ops.qxx', 'ops', 'QXX');
    expect(await notes(ops)).toEqual([`2 ${note}`]);
    expect(await notes(other)).toEqual([]);
    // A national switch's note is national (null): every ICB's people see it.
    const national = await signIn('ops', 'ops', null);
    expect((await national.post('/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7, expectedCount: 1 })).status).toBe(200);
    expect(pulse.incidents.get(7)!.timeline.at(-1)).toMatchObject({ by: 'ops', text: `1 ${note.replace('practices', 'practice')}`, icb: null });
    expect(await notes(other)).toEqual([`1 ${note.replace('practices', 'practice')}`]);
    // Nor can they switch, tick or cost the other ICB's practice one by one.
    expect((await ops.post('/api/practices/B00001/backup/enter', REASON)).status).toBe(403);
    expect((await ops.post('/api/practices/B00001/backup/costs', { description: 'Locum', amountPence: 100 })).status).toBe(403);
    const list = (await (await ops.get('/api/backup')).json()) as { practices: { ods: string }[] };
    expect(list.practices.map((p) => p.ods)).toEqual(['A00001', 'A00002']);
  });

  it('answers 403 (not 404) for a practice outside one’s scope whether or not it exists, and 404 to those who could see it', async () => {
    const manager = await signIn('pm', 'manager', null, ['A00001']);
    const national = await signIn('ops', 'ops', null);
    for (const ods of ['A00002', 'Z99999']) {
      expect((await manager.post(`/api/practices/${ods}/backup/enter`, REASON)).status).toBe(403);
      expect((await manager.get(`/api/practices/${ods}/backup`)).status).toBe(403);
    }
    expect((await national.post('/api/practices/Z99999/backup/enter', REASON)).status).toBe(404);
    expect((await manager.post('/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7, expectedCount: 1 })).status).toBe(403);
  });
});

describe('bad requests', () => {
  it('names the field that is wrong, and refuses a body over the limit', async () => {
    const ops = await signIn('ops', 'ops', null);
    const cases: [string, unknown, RegExp][] = [
      ['/api/practices/A00001/backup/enter', { reasonCode: 'clinical-system-down', reason: '   ' }, /reason/],
      ['/api/practices/A00001/backup/enter', { reasonCode: 'bored', reason: 'x' }, /reasonCode/],
      ['/api/practices/A00001/backup/costs', { description: 'Locum', amountPence: 1.5 }, /amountPence/],
      ['/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7 }, /expectedCount/],
    ];
    for (const [path, body, field] of cases) {
      const res = await ops.post(path, body);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(field);
    }
    const big = await ops.post('/api/practices/A00001/backup/enter', JSON.stringify({ ...REASON, reason: 'x'.repeat(70 * 1024) }));
    expect(big.status).toBe(413);
    expect(await states()).toEqual({});
  });
});

describe('GET /api/backup', () => {
  it('summarises each practice’s current run: actions by state, its direction’s checklist, the backlog after leaving', async () => {
    process.env.PULSE_API_TEST_SECRET = 'whsec-api-test';
    const withPlan = `${ESTATE.replace('practices:', `backup:
  notify: { sender: log }
  plans:
    - id: standard
      default: true
      actions:
        - { kind: notify, name: Text, on: both, channel: sms, to: ["07700 900123", "07700 900456"], template: f33517ff-2a88-4f6e-b855-c550268ce08a }
        - { kind: webhook, name: Phone, on: enter, url: "http://127.0.0.1:9/phone", secret: { env: PULSE_API_TEST_SECRET } }
      checklist:
        - { id: paper, text: Paper templates out, on: enter }
        - { id: lock, text: Lock the cupboard, on: enter }
        - { id: reenter, text: Re-enter the paper records, on: leave }
practices:`)}`;
    await pulse.backup.close();
    let now = NOW;
    pulse = createPulse({ estate: parseEstate(withPlan, 'estate.yaml'), store, clock: { now: () => now }, log: silentLogger, workerToken: 'w', backupBackoff: () => 60_000 });
    await pulse.restore();
    const ops = await signIn('ops', 'ops', null);
    const summary = async () => ((await (await ops.get('/api/backup')).json()) as { practices: Record<string, unknown>[] }).practices;
    // A00002 in (its webhook given up after the last attempt) and out again: back to normal,
    // with a backlog and one leave item ticked.
    expect((await ops.post('/api/practices/A00002/backup/enter', REASON)).status).toBe(200);
    for (let i = 0; i < 20 && pulse.backup.mode('A00002') !== 'backup'; i++) {
      await pulse.backup.pump();
      now += 61_000;
    }
    expect(pulse.backup.mode('A00002')).toBe('backup');
    expect((await ops.post('/api/practices/A00002/backup/leave', { reasonCode: 'recovered', reason: 'back' })).status).toBe(200);
    await pulse.backup.pump();
    expect(pulse.backup.mode('A00002')).toBe('normal');
    expect((await ops.post('/api/practices/A00002/backup/checklist/reenter', { done: true })).status).toBe(200);
    const backlog = await pulse.app.request('/api/practices/A00002/backup/backlog', { method: 'PUT', headers: await ops.headers(), body: JSON.stringify({ urgentReferrals: 2, prescriptions: 3, consultations: 0 }) });
    expect(backlog.status).toBe(200);
    // A00001 entering (the webhook cannot connect: retrying), with one of two enter items ticked.
    expect((await ops.post('/api/practices/A00001/backup/enter', REASON)).status).toBe(200);
    await pulse.backup.pump();
    expect((await ops.post('/api/practices/A00001/backup/checklist/paper', { done: true })).status).toBe(200);
    const rows = await summary();
    expect(rows).toEqual([
      expect.objectContaining({ ods: 'A00001', mode: 'entering', actions: { pending: 0, retrying: 1, done: 2, failed: 0 }, checklist: { done: 1, total: 2 }, backlog: 0 }),
      expect.objectContaining({ ods: 'A00002', mode: 'normal', actions: { pending: 0, retrying: 0, done: 2, failed: 0 }, checklist: { done: 1, total: 1 }, backlog: 5 }),
    ]);
  });
});

describe('a reload closing the service', () => {
  it('answers 503 to a switch that reaches the old app after its backup service was closed, and writes nothing', async () => {
    const ops = await signIn('ops', 'ops', null);
    await pulse.backup.close();
    const one = await ops.post('/api/practices/A00001/backup/enter', REASON);
    expect(one.status).toBe(503);
    expect(((await one.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    const bulk = await ops.post('/api/backup/bulk', { ...REASON, action: 'enter', incidentId: 7, expectedCount: 3 });
    expect(bulk.status).toBe(503);
    expect(await states()).toEqual({});
  });
});
