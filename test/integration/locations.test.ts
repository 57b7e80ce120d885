// Several probe locations over the real worker protocol: every location is assigned every
// check; one location cut off from the network makes checks `suspected`, not `down`, and is
// flagged as the problem; a quorum of locations agreeing makes them `down`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WORKER_PROTOCOL_VERSION, type ObserverHealth, type ServerToWorker, type WorkerResult } from '../../probes/protocol';
import { loadEstateFile } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse } from '../../server/main';
import { signIn, type SignedIn } from '../helpers/session';
import { waitFor } from '../helpers/wait';

const ESTATE = `status: { quorum: 2 }
defaults: { interval: 60s, timeout: 5s }
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/health" }]
practices:
  - { ods: A81001, name: Riverside, pcn: P1, system: emis-web, checks: [{ id: A81001-gw, kind: tcp, target: "127.0.0.1:9" }] }
  - { ods: A81002, name: Oakwood, pcn: P1, system: emis-web, checks: [{ id: A81002-gw, kind: tcp, target: "127.0.0.1:9" }] }
`;
const TOKEN = 'test-worker-token';
let pulse: RunningPulse;
let dir: string;
let session: SignedIn;
const sockets: WebSocket[] = [];
const HEALTHY: ObserverHealth = { lagMs: 0, eventLoopDelayMs: 10, stalledMs: 10, canary: null, timeoutShare: 0, impaired: null };

interface FakeLocation {
  ws: WebSocket;
  assigned: string[];
  report(ok: boolean, at: number, ids?: string[]): void;
}

async function connect(location: string): Promise<FakeLocation> {
  const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/workers`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  sockets.push(ws);
  const loc: FakeLocation = {
    ws,
    assigned: [],
    report(ok, at, ids = loc.assigned) {
      // Protocol 2: no location in a result (the hello's is used); a worker whose health
      // reports stop is taken as impaired, so this one reports itself healthy first.
      ws.send(JSON.stringify({ type: 'stats', lagMs: 0, running: 0, checks: ids.length, self: HEALTHY }));
      const results: WorkerResult[] = ids.map((checkId) =>
        ok
          ? { ok: true, checkId, at, latencyMs: 10 }
          : { ok: false, checkId, at, latencyMs: 5000, error: 'timeout', detail: 'no answer within 5000 ms' },
      );
      ws.send(JSON.stringify({ type: 'results', results }));
    },
  };
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as ServerToWorker;
    if (message.type === 'assign') loc.assigned = message.checks.map((c) => c.id);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location, pid: 1 }));
  await waitFor(`${location} to be assigned checks`, () => loc.assigned.length > 0);
  return loc;
}

const get = async <T>(path: string): Promise<T> => (await (await session.fetch(`${path}`)).json()) as T;
const practice = (ods: string) => get<{ status: string; cause: string | null }>(`/api/practices/${ods}`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-loc-'));
  writeFileSync(join(dir, 'estate.yaml'), ESTATE);
  pulse = await startPulse({
    estate: loadEstateFile(join(dir, 'estate.yaml')),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: 0,
    workerToken: TOKEN,
    tickMs: 50,
  });
  session = await signIn(pulse.url, pulse.store.accounts);
});

afterAll(async () => {
  for (const ws of sockets) ws.close();
  await pulse?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('probe locations and quorum', () => {
  it('assigns every check to every location, and a cut-off location makes checks suspected, not down', async () => {
    const [leeds, york, hull] = [await connect('leeds'), await connect('york'), await connect('hull')];
    const all = ['A81001-gw', 'A81002-gw', 'emis-api'];
    for (const loc of [leeds, york, hull]) expect([...loc!.assigned].sort()).toEqual(all);

    const t0 = Date.now();
    for (const loc of [leeds, york, hull]) loc!.report(true, t0);
    await waitFor('practices up', async () => (await practice('A81001')).status === 'up');

    // Hull loses its own network: two consecutive failures of everything, from hull only.
    for (const at of [t0 + 1, t0 + 2]) {
      hull!.report(false, at);
      leeds!.report(true, at);
      york!.report(true, at);
    }
    await waitFor('A81001 suspected', async () => (await practice('A81001')).status === 'suspected');
    expect((await practice('A81002')).status).toBe('suspected');
    const { locations } = await get<{ locations: { location: string; isolated: boolean }[] }>('/api/locations');
    expect(locations.filter((l) => l.isolated).map((l) => l.location)).toEqual(['hull']);

    // York agrees that EMIS Web is down: quorum reached.
    for (const at of [t0 + 3, t0 + 4]) {
      york!.report(false, at, ['emis-api']);
      hull!.report(false, at, ['emis-api']);
    }
    await waitFor('A81001 down', async () => (await practice('A81001')).status === 'down');
    expect((await practice('A81001')).cause).toBe('upstream: emis-web');
  });
});
