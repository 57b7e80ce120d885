// The words of an endpoint-failure incident, from a real fleet tracker: how many agents are
// silent and which software the silent ones share that the healthy ones mostly do not.
import { describe, expect, it } from 'vitest';
import { fleetSchema } from '../../../server/fleet/config';
import { FleetTracker, secretReader } from '../../../server/fleet/tracker';
import { fleetDescriber } from '../../../server/incidents/fleet-words';

const MIN = 60_000;
const START = 1_721_362_140_000; // Fri 19 July 2024, 04:09 UTC
const TOKEN = 'july-2024-fleet-token-0123456789';
const PRACTICES = ['A81001', 'A81002', 'A81003', 'A81004'];
const PCN: Record<string, string> = { A81001: 'U1', A81002: 'U1', A81003: 'U2', A81004: 'U3' };

function estateOnTheDay() {
  const config = fleetSchema.parse({ token: { env: 'T' } });
  const fleet = new FleetTracker({
    fleets: PRACTICES.map((ods) => [ods, config] as const),
    startedAt: START - 60 * MIN,
    readSecret: secretReader({ env: { T: TOKEN } }),
  });
  const good = { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000290', os: '10.0.19045.4651' };
  const bad = { ...good, 'channel-file': 'C-00000291' };
  // Ten PCs per practice; in the first three, the seven that took channel file 291 go silent.
  for (const ods of PRACTICES) {
    for (let i = 0; i < 10; i++) {
      const hit = ods !== 'A81004' && i < 7;
      // One healthy PC in the unhit practice also has the new file (it rebooted fine).
      const software = hit || (ods === 'A81004' && i === 0) ? bad : good;
      fleet.beat(ods, `PC-${i}`, hit ? START - 10 * MIN : START, software);
    }
  }
  return fleet;
}

describe('fleetDescriber', () => {
  it('titles the estate incident by silent agents and names the channel file the silent PCs share', () => {
    const describe = fleetDescriber({ fleet: estateOnTheDay(), pcnOf: (ods) => PCN[ods], now: () => START });
    expect(describe('estate:endpoints', ['A81001', 'A81002', 'A81003'])).toEqual({
      title: 'Workstations failing across 3 practices in 2 PCNs — 70% of agents silent',
      finding: '100% of silent workstations last reported channel-file C-00000291 (5% of healthy ones)',
    });
  });

  it('gives a PCN or practice incident the finding but keeps the tracker’s own title', () => {
    const describe = fleetDescriber({ fleet: estateOnTheDay(), pcnOf: (ods) => PCN[ods], now: () => START });
    const words = describe('pcn:U1', ['A81001', 'A81002']);
    expect(words).not.toHaveProperty('title');
    expect(words.finding).toMatch(/channel-file C-00000291/);
  });

  it('leaves the tracker’s words alone for practices that have no workstation agents', () => {
    const describe = fleetDescriber({ fleet: estateOnTheDay(), pcnOf: (ods) => PCN[ods], now: () => START });
    expect(describe('estate:endpoints', ['B99999'])).toEqual({});
  });
});
