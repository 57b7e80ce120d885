// A restart mid-incident changes nothing: the incident, its timeline and every status are
// as they were, and the incident still resolves when its cause recovers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEstateFile } from '../../server/config/estate';
import type { PracticeView } from '../../server/live/protocol';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse, type StartOptions } from '../../server/main';
import { startSimulator, type Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { waitFor } from '../helpers/wait';

let sim: Simulator;
let dir: string;
let session: SignedIn;
let pulse: RunningPulse | null = null;
let options: StartOptions;

const get = async <T>(path: string): Promise<T> => (await (await session.fetch(`${path}`)).json()) as T;
const practices = async () => (await get<{ practices: PracticeView[] }>('/api/practices?limit=10000')).practices;
interface IncidentJson {
  id: number;
  key: string;
  title: string;
  status: string;
  affected: string[];
  timeline: { type: string; text: string; by?: string }[];
}

beforeAll(async () => {
  sim = await startSimulator({ seed: 5 });
  dir = mkdtempSync(join(tmpdir(), 'pulse-restart-'));
  writeFileSync(join(dir, 'estate.yaml'), sim.estateYaml({ interval: '2s', timeout: '500ms' }));
  options = {
    estate: loadEstateFile(join(dir, 'estate.yaml')),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: 1,
    tickMs: 100,
    heartbeatMs: 1_000,
  };
  pulse = await startPulse(options);
  session = await signIn(pulse.url, pulse.store.accounts);
  await waitFor('every practice up', async () => (await practices()).every((p) => p.status === 'up'), 20_000);
}, 40_000);

afterAll(async () => {
  await pulse?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('restart mid-incident', () => {
  it('keeps the incident, its timeline and every status, then resolves on recovery', async () => {
    const emis = sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods).sort();
    await sim.fail('service:emis-web', 'down');
    const [incident] = await waitFor('one EMIS Web incident with every EMIS practice', async () => {
      const { incidents } = await get<{ incidents: IncidentJson[] }>('/api/incidents');
      return incidents.length === 1 && incidents[0]!.affected.length === emis.length ? incidents : null;
    }, 20_000);
    expect(incident).toMatchObject({ key: 'service:emis-web', title: `EMIS Web down — ${emis.length} practices` });
    const noted = await session.fetch(`/api/incidents/${incident!.id}/references`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ system: 'supplier', reference: 'EMIS-INC-20240719', by: 'ICB ops' }),
    });
    expect(noted.status).toBe(200);

    const before = await practices();
    const detailBefore = await get<IncidentJson>(`/api/incidents/${incident!.id}`);
    await pulse!.stop();

    pulse = await startPulse(options);
    session = await signIn(pulse.url, pulse.store.accounts);
    // Straight after the restart, before new results: the same statuses, since and causes.
    expect(await practices()).toEqual(before);
    const { incidents } = await get<{ incidents: IncidentJson[] }>('/api/incidents');
    expect(incidents.map((i) => i.id)).toEqual([incident!.id]);
    expect(await get<IncidentJson>(`/api/incidents/${incident!.id}`)).toEqual(detailBefore);

    await sim.restore('service:emis-web');
    const resolved = await waitFor('the incident to resolve', async () => {
      const one = await get<IncidentJson>(`/api/incidents/${incident!.id}`);
      return one.status === 'resolved' ? one : null;
    }, 20_000);
    expect(resolved.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['opened', 'reference', 'resolved']));
    expect((await get<{ incidents: IncidentJson[] }>('/api/incidents')).incidents).toEqual([]);
  });
});
