// The incident routes on their own, over a real tracker and SQLite store: the finding and the
// new kinds in the answers and in the OpenAPI document, and who sees Pulse's own incident
// and the estate-wide one.
import { OpenAPIHono } from '@hono/zod-openapi';
import { afterEach, describe, expect, it } from 'vitest';
import type { MiddlewareHandler } from 'hono';
import type { ApiContext } from '../../../server/api/context';
import { incidentRoutes, incidentSummary } from '../../../server/api/incidents';
import { IncidentTracker } from '../../../server/incidents';
import { openDatabase, type Db } from '../../../server/store/sqlite/db';
import { SqliteIncidentStore } from '../../../server/store/sqlite/incidents';
import { checks, practice } from '../incidents/fixtures';

const T0 = 1_700_000_000_000;
const FINDING = '94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)';
const REASON = "Pulse's probes in local are overloaded: 4.6 s behind";

const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

async function setup(sees: (ods: string) => boolean = () => true) {
  const db = openDatabase(':memory:');
  dbs.push(db);
  const store = new SqliteIncidentStore(db);
  const tracker = new IncidentTracker({ nextId: () => store.nextIncidentId(), describe: (key) => (key === 'estate:endpoints' ? { finding: FINDING } : {}) });
  const wave = Array.from({ length: 9 }, (_, i) => `A0000${i + 1}`).map((ods, i) => practice(ods, 'down', checks(`${ods}-fleet`, 'all silent'), `PCN ${i % 3}`));
  await store.applyIncidentEvents(tracker.update(T0, wave, REASON));
  const pass: MiddlewareHandler = async (_c, next) => next();
  const ctx = {
    incidents: tracker,
    store: { incidents: store },
    guard: () => pass,
    sees: () => sees,
    now: () => T0,
    actor: () => 'test',
    log: () => {},
  } as unknown as ApiContext;
  const app = new OpenAPIHono();
  app.route('/', incidentRoutes(ctx));
  app.doc('/openapi.json', { openapi: '3.0.0', info: { title: 't', version: '1' } });
  const get = async (path: string) => (await app.request(path)).json() as Promise<any>;
  return { tracker, get };
}

describe('incident routes', () => {
  it('answer with the finding and the kinds endpoints and pulse, open and recent and one by id', async () => {
    const { get } = await setup();
    const open = (await get('/api/incidents')).incidents;
    expect(open.map((i: any) => [i.kind, i.key, i.finding, i.affected.length])).toEqual([
      ['endpoints', 'estate:endpoints', FINDING, 9],
      ['pulse', 'pulse:self', REASON, 0],
    ]);
    const recent = (await get('/api/incidents?status=recent')).incidents;
    expect(recent.map((i: any) => i.finding).sort()).toEqual([FINDING, REASON].sort());
    const one = await get(`/api/incidents/${open[0].id}`);
    expect(one.finding).toBe(FINDING);
    expect(one.timeline.map((e: any) => e.type)).toEqual(['opened', 'finding']);
  });

  it("shows Pulse's own incident to everyone, and the estate-wide one narrowed to the caller's practices", async () => {
    const { get } = await setup((ods) => ods === 'A00002');
    const open = (await get('/api/incidents')).incidents;
    expect(open.map((i: any) => [i.kind, i.affected, i.title])).toEqual([
      ['endpoints', ['A00002'], 'Workstations silent across 9 practices in 3 PCNs — 1 of your practices'],
      ['pulse', [], "Pulse's own monitoring is impaired"],
    ]);
    const none = await setup(() => false);
    expect((await none.get('/api/incidents')).incidents.map((i: any) => i.kind)).toEqual(['pulse']);
  });

  it('declares the finding, the new kinds and the finding timeline entry in the OpenAPI document', async () => {
    const { get } = await setup();
    const schemas = (await get('/openapi.json')).components.schemas;
    expect(schemas.IncidentSummary.properties.finding).toMatchObject({ type: 'string', nullable: true });
    expect(schemas.IncidentSummary.properties.kind.enum).toEqual(['service', 'practice', 'pcn', 'endpoints', 'pulse']);
    expect(schemas.TimelineEntry.properties.type.enum).toContain('finding');
    expect(schemas.IncidentSummary.required).toContain('finding');
  });

  it('puts the finding in the summary the live feed spreads', async () => {
    const { tracker } = await setup();
    expect(tracker.open().map((i) => incidentSummary(i).finding)).toEqual([FINDING, REASON]);
  });
});
