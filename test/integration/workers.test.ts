// Probe workers as separate processes: a worker killed outright loses the estate nothing —
// its checks move to the surviving worker and report again within two intervals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEstateFile } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse } from '../../server/main';
import { startSimulator, type Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { waitFor } from '../helpers/wait';

const INTERVAL_MS = 2_000;
let sim: Simulator;
let pulse: RunningPulse;
let dir: string;
let session: SignedIn;

interface CheckRow {
  id: string;
  status: string;
  lastResultAt: string | null;
}
const get = async <T>(path: string): Promise<T> => (await (await session.fetch(`${path}`)).json()) as T;
const checks = async () => (await get<{ checks: CheckRow[] }>('/api/checks')).checks;
const workers = async () => (await get<{ workers: { pid: number; checks: number; location: string }[] }>('/api/workers')).workers;
const unknownTransitions = async () => {
  const text = await (await session.fetch(`/metrics`)).text();
  return [...text.matchAll(/^pulse_status_transitions_total\{subject_type="practice",to="unknown"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
};

beforeAll(async () => {
  sim = await startSimulator({ seed: 3 });
  dir = mkdtempSync(join(tmpdir(), 'pulse-workers-'));
  writeFileSync(join(dir, 'estate.yaml'), sim.estateYaml({ interval: `${INTERVAL_MS}ms`, timeout: '500ms' }));
  pulse = await startPulse({
    estate: loadEstateFile(join(dir, 'estate.yaml')),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: 2,
    tickMs: 100,
    heartbeatMs: 1_000,
  });
  session = await signIn(pulse.url, pulse.store.accounts);
  await waitFor('two workers sharing the checks', async () => {
    const list = await workers();
    return list.length === 2 && list.every((w) => w.checks > 0);
  });
  await waitFor('every check reporting', async () => (await checks()).every((c) => c.status === 'up'));
}, 60_000);

afterAll(async () => {
  await pulse?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('local probe workers', () => {
  it('moves a killed worker’s checks to the survivor; every check reports again within two intervals', async () => {
    const [victim] = await workers();
    const unknownBefore = await unknownTransitions();
    const killedAt = Date.now();
    process.kill(victim!.pid, 'SIGKILL');

    const all = await waitFor(
      'every check to report after the kill',
      async () => {
        const list = await checks();
        return list.every((c) => c.lastResultAt !== null && Date.parse(c.lastResultAt) > killedAt) ? list : null;
      },
      4 * INTERVAL_MS,
    );
    const latest = Math.max(...all.map((c) => Date.parse(c.lastResultAt!)));
    expect(latest - killedAt).toBeLessThanOrEqual(2 * INTERVAL_MS);
    // No practice went unknown during the hand-over.
    expect(await unknownTransitions()).toBe(unknownBefore);
    expect(all.every((c) => c.status === 'up')).toBe(true);

    // The killed worker is restarted and takes its share back.
    await waitFor('the worker to be restarted', async () => {
      const list = await workers();
      return list.length === 2 && !list.some((w) => w.pid === victim!.pid) && list.every((w) => w.checks > 0);
    }, 15_000);
  });
});
