// GET /api/audit?format=csv|json over the real app and a real SQLite store: the whole log as a
// download, oldest first, for operations staff only; the paged view without `format` unchanged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../../server/app';
import { auditToCsv, auditToJson } from '../../../server/auth/audit-export';
import { hashPassword } from '../../../server/auth/password';
import type { Role } from '../../../server/auth/types';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';

const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside Medical Practice, pcn: North, icb: QWO, system: emis-web }
`;
const PASSWORD = 'a long enough password';
const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);

let now = NOW;
let dir: string;
let store: SqliteStore;
let pulse: Pulse;

async function signIn(username: string, role: Role, icb: string | null, practices: string[] = []): Promise<Record<string, string>> {
  await store.accounts.createUser({ username, displayName: username, role, icb, practices, passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }), now });
  const res = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
  return { cookie: /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0] };
}

const get = (path: string, headers: Record<string, string> = {}) => pulse.app.request(path, { headers });
const allEntries = async () => (await store.accounts.auditEntries(10_000, 0)).reverse();

beforeEach(async () => {
  now = NOW;
  dir = mkdtempSync(join(tmpdir(), 'pulse-audit-api-'));
  store = new SqliteStore(dir);
  pulse = createPulse({ estate: parseEstate(ESTATE, 'estate.yaml'), store, clock: { now: () => now }, log: silentLogger, workerToken: 'w' });
  await pulse.restore();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /api/audit?format=', () => {
  it('format=csv: the whole log, oldest first, as a dated attachment, its own making recorded last', async () => {
    const ops = await signIn('ops', 'ops', null);
    // A failed sign-in with a crafted name, and enough entries to need more than one page inside.
    await pulse.app.request('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: '=cmd|calc', password: 'x' }) });
    for (let i = 0; i < 1_205; i++) await store.accounts.appendAudit({ at: now + i, actor: i % 2 ? '@ops' : '-x', action: 'test.fill', subject: null, detail: { i, note: 'a, "b"' } });
    now += 3_600_000;

    const res = await get('/api/audit?format=csv', ops);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="pulse-audit-2026-11-27.csv"');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pulse-audit-intact')).toBe('true');
    const body = await res.text();
    const entries = await allEntries();
    expect(entries).toHaveLength(1 + 1 + 1_205 + 1);
    expect(entries.at(-1)).toMatchObject({ actor: 'ops', action: 'audit.export', detail: { format: 'csv' } });
    expect(body).toBe(auditToCsv(entries));
    const lines = body.split('\r\n');
    expect(lines[0]).toBe('seq,at,actor,action,subject,detail,prev_hash,hash');
    expect(lines[1]).toMatch(/^1,2026-11-27T10:00:00\.000Z,ops,auth\.signin,user:ops,/);
    expect(lines[3]).toMatch(/^3,[^,]+,'-x,test\.fill,,"{""i"":0,""note"":""a, \\""b\\""""}",/);
    expect(lines[4]).toMatch(/^4,[^,]+,'@ops,/);
  });

  it('format=json: an array, oldest first, ISO times, with prevHash and hash', async () => {
    const ops = await signIn('ops', 'ops', 'QWO');
    const res = await get('/api/audit?format=json', ops);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="pulse-audit-2026-11-27.json"');
    const text = await res.text();
    expect(text).toBe(auditToJson(await allEntries()));
    const parsed = JSON.parse(text) as { seq: number; at: string; action: string; prevHash: string; hash: string }[];
    expect(parsed.map((e) => [e.seq, e.action, e.at])).toEqual([
      [1, 'auth.signin', '2026-11-27T10:00:00.000Z'],
      [2, 'audit.export', '2026-11-27T10:00:00.000Z'],
    ]);
    expect(parsed[1]!.prevHash).toBe(parsed[0]!.hash);
  });

  it('says when the chain does not verify, and still answers the file', async () => {
    const ops = await signIn('ops', 'ops', null);
    const db = store.db;
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare(`UPDATE audit SET actor = 'someone-else' WHERE seq = 1`).run();
    const res = await get('/api/audit?format=json', ops);
    expect(res.status).toBe(200);
    expect(res.headers.get('pulse-audit-intact')).toBe('false');
    expect((JSON.parse(await res.text()) as { actor: string }[])[0]!.actor).toBe('someone-else');
  });

  it('without format: the paged view, newest first, as before, and nothing recorded', async () => {
    const ops = await signIn('ops', 'ops', null);
    await store.accounts.appendAudit({ at: now, actor: 'x', action: 'test.one', subject: null, detail: {} });
    const res = await get('/api/audit?limit=1', ops);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBeNull();
    const body = (await res.json()) as { intact: boolean; entries: { seq: number; action: string }[] };
    expect(body.intact).toBe(true);
    expect(body.entries.map((e) => [e.seq, e.action])).toEqual([[2, 'test.one']]);
    expect((await allEntries()).map((e) => e.action)).toEqual(['auth.signin', 'test.one']);
  });

  it('an unknown format is a 400 naming the parameter and the allowed values; limit/offset do not mix with an export', async () => {
    const ops = await signIn('ops', 'ops', null);
    const bad = await get('/api/audit?format=xlsx', ops);
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toBe('format: expected one of csv, json (or no format for one page as JSON)');
    const mixed = await get('/api/audit?format=csv&limit=10', ops);
    expect(mixed.status).toBe(400);
    expect(((await mixed.json()) as { error: { message: string } }).error.message).toBe('limit: an export (format=csv) is the whole log; leave out limit and offset');
    // Refused requests export nothing and record nothing.
    expect((await allEntries()).map((e) => e.action)).toEqual(['auth.signin']);
  });

  it('needs audit.read: operations staff only', async () => {
    const display = await store.accounts.createToken({ kind: 'display', name: 'wall', icb: 'QWO', createdBy: 'test', now });
    const callers: [string, Record<string, string>, number][] = [
      ['anonymous', {}, 401],
      ['display link', { authorization: `Bearer ${display.secret}` }, 403],
      ['viewer', await signIn('viewer', 'viewer', 'QWO'), 403],
      ['manager', await signIn('manager', 'manager', null, ['A00001']), 403],
      ['ops of one ICB', await signIn('opsqwo', 'ops', 'QWO'), 200],
    ];
    for (const [who, headers, status] of callers) {
      for (const format of ['csv', 'json']) {
        const res = await get(`/api/audit?format=${format}`, headers);
        expect(res.status, `${who} ${format}`).toBe(status);
        if (status !== 200) expect(res.headers.get('content-disposition')).toBeNull();
      }
    }
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await (await get('/api/openapi.json')).json()) as { paths: Record<string, { get: { parameters: { name: string; schema: { enum?: string[] } }[]; responses: Record<string, { content: Record<string, unknown> }> } }> };
    const op = doc.paths['/api/audit']!.get;
    expect(op.parameters.find((p) => p.name === 'format')?.schema.enum).toEqual(['csv', 'json']);
    expect(Object.keys(op.responses['200']!.content).sort()).toEqual(['application/json', 'text/csv']);
  });
});
