// The tracker's tick view (issue 14): evaluateChanged() hands the engine only fleets that
// changed or are due, a beat recorded before a tick shows in the status that tick returns,
// silence is found by time alone, and what is held per agent is counted, not timed.
import { describe, expect, it } from 'vitest';
import { fleetSchema, type FleetConfig, type FleetEntry } from '../../../server/fleet/config';
import { FleetTracker, secretReader } from '../../../server/fleet/tracker';

const MIN = 60_000;
const START = 1_721_347_200_000;
const TOKEN = 'riverside-fleet-token-0123456789';

const config = (entry: Partial<FleetEntry> = {}): FleetConfig => fleetSchema.parse({ token: { env: 'T' }, ...entry });
const ods = (i: number) => `A${String(i).padStart(5, '0')}`;

function tracker(practices: number, entry: Partial<FleetEntry> = {}) {
  const fleets: [string, FleetConfig][] = Array.from({ length: practices }, (_, i) => [ods(i), config(entry)]);
  return new FleetTracker({ fleets, startedAt: START, readSecret: secretReader({ env: { T: TOKEN } }) });
}

describe('evaluateChanged: the fleets a tick hands the engine', () => {
  it('returns every fleet the first time, then only those a beat changed; a beat shows by the next tick', () => {
    const t = tracker(3);
    let now = START;
    expect([...t.evaluateChanged(now, 0).keys()]).toEqual([ods(0), ods(1), ods(2)]);
    now += 250;
    expect(t.evaluateChanged(now, 0).size).toBe(0);

    // A new agent at one practice: that practice, with the agent counted, at the next tick.
    expect(t.beat(ods(1), 'PC-01', now).ok).toBe(true);
    now += 250;
    const changed = t.evaluateChanged(now, 0);
    expect([...changed.keys()]).toEqual([ods(1)]);
    expect(changed.get(ods(1))).toMatchObject({ status: 'up', agents: 1, silent: 0, detail: 'all 1 workstation reporting' });

    // The same agent beating again on time changes nothing: nothing is handed over.
    t.beat(ods(1), 'PC-01', now + 1_000);
    now += 2_000;
    expect(t.evaluateChanged(now, 0).size).toBe(0);
    // What the API reads is the same as ever.
    expect(t.evaluate(ods(1), now)).toMatchObject({ status: 'up', agents: 1 });
  });

  it('finds silence by time alone, on the first tick after silentAfter intervals', () => {
    const t = tracker(1, { interval: '60s', silentAfter: 3 });
    let now = START;
    for (let i = 0; i < 10; i++) t.beat(ods(0), `PC-${i}`, now);
    t.evaluateChanged(now, 0);
    // Three keep beating; seven stop.
    const keep = () => [7, 8, 9].forEach((i) => t.beat(ods(0), `PC-${i}`, now));
    for (let step = 0; step < 12; step++) {
      now += 15_000;
      keep();
      // Exactly three intervals after their last beat is still on time (a refresh may hand it over, up).
      const changed = t.evaluateChanged(now, 0);
      if (changed.has(ods(0))) expect(changed.get(ods(0))).toMatchObject({ status: 'up', silent: 0 });
    }
    expect(now - START).toBe(3 * MIN);
    now += 250;
    keep();
    const changed = t.evaluateChanged(now, 0);
    expect(changed.get(ods(0))).toMatchObject({ status: 'down', agents: 10, silent: 7 });
    expect(changed.get(ods(0))!.detail).toContain('7 of 10 workstations silent (70%)');
  });

  it('returns a changed fleet again on the next `repeats` calls, so failuresToDown results arrive in a row', () => {
    const t = tracker(1);
    let now = START;
    t.evaluateChanged(now, 1); // first: returned
    now += 250;
    expect(t.evaluateChanged(now, 1).size).toBe(1); // its one repeat
    now += 250;
    expect(t.evaluateChanged(now, 1).size).toBe(0);
    t.beat(ods(0), 'PC-01', now);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      now += 250;
      seen.push(t.evaluateChanged(now, 2).size);
    }
    expect(seen).toEqual([1, 1, 1, 0]);
  });

  it('refreshes an unchanged fleet once an interval, spread over the fleets rather than all in one tick', () => {
    const practices = 120;
    const t = tracker(practices, { interval: '30s' });
    let now = START;
    for (let i = 0; i < practices; i++) t.beat(ods(i), 'PC-01', now);
    expect(t.evaluateChanged(now, 0).size).toBe(practices);
    const counts = new Map<string, number>();
    let largest = 0;
    // Two minutes of 250 ms ticks, the agents beating every 10 s (on time: no change).
    for (let tick = 1; tick <= 480; tick++) {
      now += 250;
      if (tick % 40 === 0) for (let i = 0; i < practices; i++) t.beat(ods(i), 'PC-01', now);
      const changed = t.evaluateChanged(now, 0);
      largest = Math.max(largest, changed.size);
      for (const key of changed.keys()) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    // Each fleet about four times in two minutes (once every 30 s), none skipped.
    for (let i = 0; i < practices; i++) expect(counts.get(ods(i))).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < practices; i++) expect(counts.get(ods(i))).toBeLessThanOrEqual(5);
    // 120 fleets over 120 ticks an interval: never more than a few in one tick.
    expect(largest).toBeLessThanOrEqual(3);
  });

  it('drops an agent silent for forgetAfter, on time alone, and hands the fleet over', () => {
    const t = tracker(1, { interval: '60s', forgetAfter: '1h' });
    let now = START;
    t.beat(ods(0), 'OLD-PC', now);
    t.beat(ods(0), 'PC-01', now);
    t.evaluateChanged(now, 0);
    while (now < START + 61 * MIN) {
      now += 30_000;
      t.beat(ods(0), 'PC-01', now);
      t.evaluateChanged(now, 0);
    }
    expect(t.evaluate(ods(0), now)).toMatchObject({ agents: 1, silent: 0 });
    expect(t.footprint().agents).toBe(1);
  });
});

describe('what the tracker holds per agent (counted)', () => {
  it('126,000 agents on three software versions: one last-beat slot each, three maps shared by all', () => {
    const t = tracker(6_300, { expectedAgents: 20, interval: '30s' });
    const versions = ['7.16.18605', '7.16.18606', '7.17.18700'];
    let now = START;
    for (let round = 0; round < 2; round++) {
      for (let p = 0; p < 6_300; p++) {
        for (let a = 0; a < 20; a++) {
          // A fresh object each beat, as JSON.parse makes them.
          const software = { 'falcon-sensor': versions[(p + a) % 3]!, os: '10.0.19045.4651' };
          expect(t.beat(ods(p), `${ods(p)}-PC-${a}`, now, software).ok).toBe(true);
        }
      }
      now += 10_000;
    }
    const held = t.footprint();
    expect(held.agents).toBe(126_000);
    // Sized by expectedAgents: no slot wasted.
    expect(held.beatSlots).toBe(126_000);
    expect(held.softwareMaps).toBe(3);
    expect(held.sharedSoftware).toBe(3);
    // One Map entry and name (≈ 60 bytes at these lengths), 8 bytes of beat time and one
    // 4-byte reference an agent: well under the 1 KiB an agent may cost.
    const perAgent = 60 + 8 * (held.beatSlots / held.agents) + 4;
    expect(perAgent).toBeLessThan(1024);
  });

  it('a fleet grows its slots as agents arrive, never past the per-practice maximum', () => {
    const t = new FleetTracker({
      fleets: [[ods(0), config()]],
      startedAt: START,
      readSecret: secretReader({ env: { T: TOKEN } }),
      maxAgentsPerPractice: 50,
    });
    for (let a = 0; a < 60; a++) t.beat(ods(0), `PC-${a}`, START + a);
    expect(t.footprint()).toMatchObject({ agents: 50, beatSlots: 50 });
  });
});
