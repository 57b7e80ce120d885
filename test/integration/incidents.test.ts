// Each kind of incident, end to end against the simulator: a practice failing on its own,
// several practices of one PCN failing locally at once (suspected common cause), a partial
// supplier outage (degraded, not down), and planned maintenance (no incident at all).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { PracticeView } from '../../server/live/protocol';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let sim: Simulator;
let pulse: RunningPulse;
let stack: Stack;
let session: SignedIn;

interface IncidentJson {
  id: number;
  key: string;
  kind: string;
  title: string;
  severity: string;
  affected: string[];
}
const get = async <T>(path: string): Promise<T> => (await (await session.fetch(`${path}`)).json()) as T;
const open = async () => (await get<{ incidents: IncidentJson[] }>('/api/incidents')).incidents;
const practices = async () => (await get<{ practices: PracticeView[] }>('/api/practices?limit=10000')).practices;
const allUp = async () => (await practices()).every((p) => p.status === 'up') && (await open()).length === 0;

beforeAll(async () => {
  // A partial outage shows as slowness: EMIS Web's check is degraded above 300 ms.
  stack = await startStack({
    seed: 9,
    timeout: '450ms',
    editEstate: (yaml) => {
      const estate = parse(yaml) as { services: { id: string; checks: Record<string, unknown>[] }[] };
      estate.services.find((s) => s.id === 'emis-web')!.checks[0]!.degradedAfter = '300ms';
      // A practice failing on its own waits before it opens an incident (in case it is one of
      // many); 1 s keeps that wait in the test without waiting the default 30 s.
      (estate as Record<string, unknown>).incidents = { groupWait: '1s' };
      return stringify(estate);
    },
  });
  ({ sim, pulse } = stack);
  session = await signIn(pulse.url, pulse.store.accounts);
  await waitFor('every practice up', allUp, 20_000);
}, 40_000);

afterEach(async () => {
  await sim.restoreAll();
  await waitFor('everything up and no open incident', allUp, 20_000);
});

afterAll(async () => {
  await stack?.stop();
});

describe('incidents by root cause', () => {
  it('gives a practice failing on its own an incident of its own', async () => {
    const practice = sim.practices[5]!;
    await sim.fail(`practice:${practice.ods}`, 'error', { status: 503 });
    const [incident] = await waitFor('a practice incident', async () => ((await open()).length === 1 ? open() : null));
    expect(incident).toMatchObject({ key: `practice:${practice.ods}`, kind: 'practice', severity: 'down', affected: [practice.ods] });
    expect(incident!.title).toContain(`${practice.name} (${practice.ods}) down`);
  });

  it('groups several practices of one PCN failing locally into one suspected common-cause incident', async () => {
    const byPcn = new Map<string, string[]>();
    for (const p of sim.practices) byPcn.set(p.pcn, [...(byPcn.get(p.pcn) ?? []), p.ods]);
    const [pcn, members] = [...byPcn].find(([, list]) => list.length >= 3)!;
    const three = members.slice(0, 3);
    for (const ods of three) await sim.fail(`practice:${ods}`, 'down');
    const incidents = await waitFor('one PCN incident holding all three', async () => {
      const list = await open();
      const grouped = list.find((i) => i.kind === 'pcn');
      return grouped && grouped.affected.length === 3 && list.filter((i) => i.kind === 'practice').length === 0 ? list : null;
    });
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ key: `pcn:${pcn}`, affected: [...three].sort() });
    expect(incidents[0]!.title).toContain(`Suspected common cause in ${pcn}`);
  });

  it('shows a partial supplier outage as degraded with a reason, and one degraded incident', async () => {
    await sim.fail('service:emis-web', 'slow', { ms: 350 });
    const [incident] = await waitFor('a degraded EMIS Web incident', async () => {
      const list = await open();
      return list.length === 1 && list[0]!.severity === 'degraded' ? list : null;
    });
    expect(incident!.key).toBe('service:emis-web');
    const emis = (await practices()).filter((p) => p.system === 'emis-web');
    expect(emis.every((p) => p.status === 'degraded' && p.cause === 'upstream: emis-web')).toBe(true);
    const service = await get<{ status: string; checks: { detail: string }[] }>('/api/services/emis-web');
    expect(service.status).toBe('degraded');
    expect(service.checks[0]!.detail).toMatch(/latency|slow|above/i);
  });

  it('raises no incident for a failure inside a planned maintenance window', async () => {
    const res = await session.fetch(`/api/maintenance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        subject: 'service:vision',
        start: new Date(Date.now() - 1_000).toISOString(),
        end: new Date(Date.now() + 60_000).toISOString(),
        author: 'Vision (supplier notice)',
        reason: 'Planned upgrade',
      }),
    });
    expect(res.status).toBe(201);
    const window = (await res.json()) as { id: string };
    await sim.fail('service:vision', 'down');
    const vision = sim.practices.filter((p) => p.system === 'vision').map((p) => p.ods);
    await waitFor('Vision practices in maintenance', async () =>
      (await practices()).filter((p) => vision.includes(p.ods)).every((p) => p.status === 'maintenance'),
    );
    // Give the failure time to be confirmed (two intervals and more): still no incident.
    const service = await waitFor('two failed Vision checks', async () => {
      const s = await get<{ checks: { status: string; locations: { status: string }[] }[] }>('/api/services/vision');
      return s.checks[0]!.locations.every((l) => l.status === 'down') ? s : null;
    });
    expect(service).toBeTruthy();
    expect(await open()).toEqual([]);
    await session.fetch(`/api/maintenance/${window.id}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'test' }),
    });
  });
});
