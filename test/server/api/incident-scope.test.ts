// Issue 13 (9): an incident as one ICB's people see it — its peak counted over their practices,
// and only their ICB's and national notes and references on its timeline.
import { beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../../server/app';
import { hashPassword } from '../../../server/auth/password';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';

const ESTATE = `incidents: { groupWait: 0s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Moorside, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00004, name: Hillside, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw4, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00005, name: Dale View, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw5, kind: http, target: "http://127.0.0.1:9/" }] }
`;

let pulse: Pulse;
let store: SqliteStore;
const as: Record<'qwo' | 'qhm' | 'national', Record<string, string>> = {} as never;

async function signIn(username: string, icb: string | null) {
  await store.accounts.createUser({ username, displayName: username, role: 'ops', icb, practices: [], passwordHash: await hashPassword('long enough password', { N: 2 ** 10 }), now: Date.now() });
  const res = await pulse.app.request('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'long enough password' }) });
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie, 'x-csrf-token': csrf, origin: 'http://localhost', 'content-type': 'application/json' };
}

type Detail = { id: number; kind: string; affected: string[]; peakAffected: number; timeline: { type: string; text: string }[]; references: { reference: string }[] };
const get = async (who: keyof typeof as, path: string) => (await pulse.app.request(path, { headers: as[who] })).json() as Promise<Detail & { incidents: Detail[] }>;

beforeAll(async () => {
  store = new SqliteStore(':memory:');
  pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store, clock: { now: () => Date.now() }, log: silentLogger, workerToken: 'w' });
  await pulse.restore();
  as.qwo = await signIn('opsqwo', 'QWO');
  as.qhm = await signIn('opsqhm', 'QHM');
  as.national = await signIn('opsall', null);
});

describe('incidents as one ICB sees them', () => {
  it('counts the peak over the caller’s practices, and shows only their ICB’s and national notes and references', async () => {
    // EMIS Web is down: every practice on it is affected, three of QHM's and one of QWO's.
    const at = Date.now();
    for (const t of [at, at + 1]) {
      pulse.ingest([{ ok: false, checkId: 'emis-api', at: t, location: 'l', latencyMs: 1, error: 'refused', detail: 'refused' }]);
      pulse.ingest(['gw1', 'gw3', 'gw4', 'gw5'].map((checkId) => ({ ok: true as const, checkId, at: t, location: 'l', latencyMs: 1 })));
      await pulse.tick();
    }
    const open = pulse.incidents.open();
    expect(open.length).toBeGreaterThan(0);
    const estateWide = open.reduce((a, b) => (b.peakAffected > a.peakAffected ? b : a));
    expect(estateWide.peakAffected).toBe(4);
    const qwoPeaks = (await get('qwo', '/api/incidents')).incidents.map((i) => i.peakAffected);
    expect(qwoPeaks.every((p) => p <= 1)).toBe(true);
    const qwoView = await get('qwo', `/api/incidents/${estateWide.id}`);
    expect(qwoView.affected).toEqual(['A00001']);
    expect(qwoView.peakAffected).toBe(1);
    expect((await get('qhm', `/api/incidents/${estateWide.id}`)).peakAffected).toBe(3);
    expect((await get('national', `/api/incidents/${estateWide.id}`)).peakAffected).toBe(4);

    const note = (who: keyof typeof as, text: string) => pulse.app.request(`/api/incidents/${estateWide.id}/notes`, { method: 'POST', headers: as[who], body: JSON.stringify({ by: who, text }) });
    expect((await note('qhm', 'QHM: our switch in Dale View is being replaced')).status).toBe(200);
    expect((await note('qwo', 'QWO: Riverside told')).status).toBe(200);
    expect((await note('national', 'National: supplier engaged')).status).toBe(200);
    const ref = await pulse.app.request(`/api/incidents/${estateWide.id}/references`, { method: 'POST', headers: as.qhm, body: JSON.stringify({ system: 'service-desk', reference: 'QHM-123', by: 'qhm' }) });
    expect(ref.status).toBe(200);

    const notes = async (who: keyof typeof as) => (await get(who, `/api/incidents/${estateWide.id}`)).timeline.filter((e) => e.type === 'note' || e.type === 'reference').map((e) => e.text.split(':')[0]);
    expect(await notes('qwo')).toEqual(['QWO', 'National']);
    expect((await get('qwo', `/api/incidents/${estateWide.id}`)).references).toEqual([]);
    expect(await notes('qhm')).toEqual(['QHM', 'National', 'IT service desk reference QHM-123']);
    expect(await notes('national')).toEqual(['QHM', 'QWO', 'National', 'IT service desk reference QHM-123']);
  });
});
