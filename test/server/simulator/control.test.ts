// The control API: faults and scenarios over HTTP, with input checked at the edge.
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startSimulator, type Simulator } from '../../../server/simulator';
import { errorCode, get, send } from './helpers';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function started(): Promise<Simulator> {
  sim = await startSimulator();
  expect(sim.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  return sim;
}

function errorOf(body: string): { code: string; message: string; field?: string } {
  return (JSON.parse(body) as { error: { code: string; message: string; field?: string } }).error;
}

describe('simulator control API', () => {
  it('sets a fault with POST /faults, lists it, and clears it with DELETE /faults/:target', async () => {
    const s = await started();
    const emis = s.services.find((x) => x.id === 'emis-web')!;
    const created = await send('POST', `${s.controlUrl}/faults`, { target: 'service:emis-web', mode: 'down' });
    expect(created.status).toBe(201);
    expect(await errorCode(get(emis.url))).toBe('ECONNREFUSED');
    expect(JSON.parse((await get(`${s.controlUrl}/faults`)).body)).toEqual({
      'service:emis-web': { mode: 'down', source: 'manual' },
    });

    const cleared = await send('DELETE', `${s.controlUrl}/faults/${encodeURIComponent('service:emis-web')}`);
    expect(cleared.status).toBe(200);
    expect((await get(emis.url)).status).toBe(200);
  });

  it('DELETE /faults clears everything', async () => {
    const s = await started();
    await send('POST', `${s.controlUrl}/faults`, { target: 'service:spine', mode: 'error', status: 503 });
    await send('POST', `${s.controlUrl}/faults`, { target: `practice:${s.practices[0]!.ods}`, mode: 'hang' });
    expect(Object.keys(s.faults())).toHaveLength(2);
    expect((await send('DELETE', `${s.controlUrl}/faults`)).status).toBe(200);
    expect(s.faults()).toEqual({});
  });

  it.each([
    [{ target: 'service:emis-web', mode: 'broken' }, 'mode'],
    [{ mode: 'down' }, 'target'],
    [{ target: 'service:nope', mode: 'down' }, 'target'],
    [{ target: 'service:spine', mode: 'slow', ms: 'lots' }, 'ms'],
    [{ target: 'service:spine', mode: 'error', status: 200 }, 'status'],
    [{ target: 'service:spine', mode: 'down', status: 503 }, 'status'],
    [{ target: 'service:spine', mode: 'down', colour: 'red' }, 'body'],
    ['{not json', 'body'],
  ])('POST /faults %j answers 400 naming %s', async (body, field) => {
    const s = await started();
    const res = await send('POST', `${s.controlUrl}/faults`, body);
    expect(res.status).toBe(400);
    const error = errorOf(res.body);
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(s.faults()).toEqual({});
  });

  it('DELETE /faults/:target answers 404 for an unknown target', async () => {
    const s = await started();
    const res = await send('DELETE', `${s.controlUrl}/faults/service:nope`);
    expect(res.status).toBe(404);
    expect(errorOf(res.body).field).toBe('target');
  });

  it('lists scenarios with descriptions and plays one with POST /scenarios/:name', async () => {
    const s = await started();
    const list = JSON.parse((await get(`${s.controlUrl}/scenarios`)).body) as { scenarios: { name: string; description: string }[] };
    expect(list.scenarios.map((x) => x.name)).toEqual([
      'emis-web-outage', 'emis-web-partial', 'bad-endpoint-update', 'national-service-slow', 'systmone-contingency',
    ]);
    for (const x of list.scenarios) expect(x.description.length).toBeGreaterThan(10);

    const played = await send('POST', `${s.controlUrl}/scenarios/systmone-contingency`, { durationMs: 60_000 });
    expect(played.status).toBe(202);
    expect((await get(s.services.find((x) => x.id === 'systmone')!.url)).status).toBe(503);

    expect((await send('POST', `${s.controlUrl}/scenarios/meteor-strike`)).status).toBe(404);
    const bad = await send('POST', `${s.controlUrl}/scenarios/emis-web-outage`, { durationMs: -5 });
    expect(bad.status).toBe(400);
    expect(errorOf(bad.body).field).toBe('durationMs');
  });

  it('serves the estate as JSON and as YAML, and names a bad duration', async () => {
    const s = await started();
    const estate = JSON.parse((await get(`${s.controlUrl}/estate`)).body) as { services: unknown[]; practices: unknown[] };
    expect(estate.services).toHaveLength(9);
    expect(estate.practices).toHaveLength(72);

    const yaml = await get(`${s.controlUrl}/estate.yaml?interval=10s`);
    expect(yaml.status).toBe(200);
    expect((parse(yaml.body) as { defaults: { interval: string } }).defaults.interval).toBe('10s');

    const fleet = parse((await get(`${s.controlUrl}/estate.yaml?fleetTokenEnv=FLEET_TOKEN&fleetInterval=5s&degradedAfter=off`)).body) as {
      services: { checks: object[] }[];
      practices: { fleet?: { token: { env: string }; interval: string } }[];
    };
    expect(fleet.practices.filter((p) => p.fleet).length).toBe(36);
    expect(fleet.practices.find((p) => p.fleet)!.fleet).toMatchObject({ token: { env: 'FLEET_TOKEN' }, interval: '5s' });
    expect(fleet.services.flatMap((x) => x.checks).some((c) => 'degradedAfter' in c)).toBe(false);

    const bad = await get(`${s.controlUrl}/estate.yaml?timeout=soon`);
    expect(bad.status).toBe(400);
    expect(errorOf(bad.body).field).toBe('timeout');
  });

  it('reports a taken control port as EADDRINUSE, so a launcher can fall back to port 0', async () => {
    const s = await started();
    const port = Number(new URL(s.controlUrl).port);
    await expect(startSimulator({ controlPort: port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
