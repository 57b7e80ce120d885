// Workstation fleets end to end, real parts only: simulated agents POST heartbeats to a
// running Pulse; a bad endpoint update silences most of the hit practices' agents and
// Pulse takes those practices down for "workstations silent", then back up on restore.
// Intervals are 1 s, so three silent intervals pass in a few seconds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEstateFile } from '../../server/config/estate';
import type { PracticeView } from '../../server/live/protocol';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse } from '../../server/main';
import { startSimulator, type Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { waitFor } from '../helpers/wait';

const TOKEN_ENV = 'PULSE_IT_FLEET_TOKEN';
const TOKEN = 'it-fleet-token-abcdefghijklmnopqrstuvwxyz0123';
const AGENTS: [number, number] = [6, 12];

let sim: Simulator;
let pulse: RunningPulse;
let dir: string;
let session: SignedIn;
let fleetPractices: string[];

async function practices(): Promise<PracticeView[]> {
  const res = await session.fetch(`/api/practices?limit=500`);
  return ((await res.json()) as { practices: PracticeView[] }).practices;
}

interface Fleet { status: string; agents: number; silent: number; expected: number | null; detail: string }
async function practice(ods: string): Promise<{ status: string; cause: string | null; fleet: Fleet | null }> {
  return (await (await session.fetch(`/api/practices/${ods}`)).json()) as { status: string; cause: string | null; fleet: Fleet | null };
}

beforeAll(async () => {
  process.env[TOKEN_ENV] = TOKEN;
  sim = await startSimulator({ practices: 24, seed: 11 });
  dir = mkdtempSync(join(tmpdir(), 'pulse-fleet-it-'));
  writeFileSync(
    join(dir, 'estate.yaml'),
    sim.estateYaml({ interval: '500ms', timeout: '400ms', fleet: { tokenEnv: TOKEN_ENV, interval: '1s', agentsPerPractice: AGENTS } }),
  );
  const estate = loadEstateFile(join(dir, 'estate.yaml'));
  fleetPractices = [...estate.practices.values()].filter((p) => p.fleet).map((p) => p.ods);
  pulse = await startPulse({
    estate,
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: 1,
    tickMs: 100,
    heartbeatMs: 1_000,
  });
  session = await signIn(pulse.url, pulse.store.accounts);
  sim.startAgents({ pulseUrl: pulse.url, token: TOKEN, intervalMs: 1_000, agentsPerPractice: AGENTS });
  await waitFor('every practice to be up, fleets included', async () => (await practices()).every((p) => p.status === 'up'), 40_000);
}, 30_000);

afterAll(async () => {
  await sim?.stopAgents();
  await pulse?.stop();
  await sim?.close();
  delete process.env[TOKEN_ENV];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a bad endpoint update, end to end', () => {
  it('takes the hit practices with fleets down for silent workstations, then brings them back', async () => {
    expect(fleetPractices.length).toBe(12);
    // Every agent has beaten at least once (agents are spread over the interval; wait, bounded).
    const agents = await waitFor('every agent to have sent a heartbeat', () => {
      const now = sim.agents();
      return now.totals.sent >= now.totals.agents ? now : null;
    }, 20_000);
    expect(agents.totals.failed).toBe(0);
    // (Other causes — a slow gateway on a loaded machine — are not this test's business.)
    for (const ods of fleetPractices) expect((await practice(ods)).cause ?? '').not.toContain('workstations');

    await sim.play('bad-endpoint-update', { durationMs: 120_000 });
    const hit = Object.keys(sim.faults()).map((t) => t.slice('practice:'.length));
    const hitFleets = fleetPractices.filter((ods) => hit.includes(ods));
    const spared = fleetPractices.filter((ods) => !hit.includes(ods));
    expect(hitFleets.length).toBeGreaterThan(0);
    expect(spared.length).toBeGreaterThan(0);

    await waitFor('the hit fleets to be down for silent workstations', async () => {
      for (const ods of hitFleets) {
        const p = await practice(ods);
        if (p.status !== 'down' || !p.cause?.includes('workstations silent')) return false;
      }
      return true;
    });
    const sample = await practice(hitFleets[0]!);
    expect(sample.cause).toMatch(/check \w+-fleet: \d+ of \d+ workstations silent \(\d+(\.\d)?%\), down at 50%/);
    // The practice page's workstation counts come with the practice, counted by the same rule.
    const fleet = sample.fleet!;
    expect(fleet.status).toBe('down');
    expect(fleet.agents).toBeGreaterThanOrEqual(AGENTS[0]);
    expect(fleet.agents).toBeLessThanOrEqual(AGENTS[1]);
    expect(fleet.silent / fleet.agents).toBeGreaterThanOrEqual(0.5);
    expect(sample.cause).toContain(`${fleet.silent} of ${fleet.agents} workstations silent`);
    expect((await practice(spared[0]!)).fleet).toMatchObject({ status: 'up', silent: 0 });
    const noFleet = (await practices()).find((p) => !fleetPractices.includes(p.ods))!;
    expect((await practice(noFleet.ods)).fleet).toBeNull();
    // Fleets the update missed keep reporting.
    for (const ods of spared) expect((await practice(ods)).cause ?? '').not.toContain('workstations');

    await sim.restoreAll();
    await waitFor('every practice back up', async () => (await practices()).every((p) => p.status === 'up'));
    for (const ods of hitFleets) expect((await practice(ods)).cause ?? '').not.toContain('workstations');
  }, 30_000);
});
