import { describe, expect, it } from 'vitest';
import type { FleetRules } from '../../../server/fleet/config';
import { fleetStatus } from '../../../server/fleet/status';

const MIN = 60_000;
const DAY = 86_400_000;
const NOW = 1_721_362_140_000; // Fri 19 July 2024, 04:09 UTC
const rules: FleetRules = {
  intervalMs: MIN,
  silentAfter: 3,
  degradedAt: 0.2,
  downAt: 0.5,
  expectedAgents: null,
  forgetAfterMs: 7 * DAY,
};
const SILENT_MS = 3 * MIN;

/** `fresh` agents that beat just now and `silent` ones last heard `silentFor` ago. */
function fleet(fresh: number, silent: number, silentFor = SILENT_MS + 1): number[] {
  return [...Array<number>(fresh).fill(NOW - 1_000), ...Array<number>(silent).fill(NOW - silentFor)];
}

describe('fleetStatus: no data', () => {
  it('is unknown, never up, when no agent has ever reported', () => {
    expect(fleetStatus([], NOW, rules)).toEqual({
      status: 'unknown',
      agents: 0,
      silent: 0,
      expected: null,
      shareSilent: 0,
      detail: 'no workstation has reported yet',
    });
  });
  it('is unknown when every agent has been forgotten', () => {
    const s = fleetStatus(fleet(0, 5, 7 * DAY), NOW, rules);
    expect(s).toMatchObject({ status: 'unknown', agents: 0, silent: 0 });
    expect(s.detail).toBe('no workstation has reported in the last 7 days');
  });
});

describe('fleetStatus: silence', () => {
  it('counts an agent on time at exactly silentAfter intervals (its beat is just due)', () => {
    expect(fleetStatus([NOW - SILENT_MS], NOW, rules)).toMatchObject({ status: 'up', silent: 0 });
  });
  it('counts an agent silent one millisecond later', () => {
    expect(fleetStatus([NOW - SILENT_MS - 1], NOW, rules)).toMatchObject({ status: 'down', silent: 1 });
  });
  it('uses the interval and silentAfter it is given', () => {
    const slow = { ...rules, intervalMs: 5 * MIN, silentAfter: 2 };
    expect(fleetStatus([NOW - 10 * MIN], NOW, slow).silent).toBe(0);
    expect(fleetStatus([NOW - 10 * MIN - 1], NOW, slow).silent).toBe(1);
  });
  it('treats a beat stamped after now (a late evaluation) as on time', () => {
    expect(fleetStatus([NOW + 5_000], NOW, rules)).toMatchObject({ status: 'up', silent: 0, agents: 1 });
  });
});

describe('fleetStatus: thresholds over a fleet of 20', () => {
  // degradedAt 0.2 → 4 silent; downAt 0.5 → 10 silent.
  const expected = (silent: number) => (silent >= 10 ? 'down' : silent >= 4 ? 'degraded' : 'up');
  it.each(Array.from({ length: 21 }, (_, silent) => [silent, expected(silent)] as const))(
    '%d silent → %s',
    (silent, status) => {
      const s = fleetStatus(fleet(20 - silent, silent), NOW, rules);
      expect(s).toMatchObject({ status, agents: 20, silent, expected: null, shareSilent: silent / 20 });
    },
  );

  it('says so in plain words at each level', () => {
    expect(fleetStatus(fleet(20, 0), NOW, rules).detail).toBe('all 20 workstations reporting');
    expect(fleetStatus(fleet(17, 3), NOW, rules).detail).toBe('3 of 20 workstations silent (15%)');
    expect(fleetStatus(fleet(16, 4), NOW, rules).detail).toBe('4 of 20 workstations silent (20%), degraded at 20%');
    expect(fleetStatus(fleet(10, 10), NOW, rules).detail).toBe('10 of 20 workstations silent (50%), down at 50%');
    expect(fleetStatus(fleet(6, 14), NOW, rules).detail).toBe('14 of 20 workstations silent (70%), down at 50%');
  });
});

describe('fleetStatus: thresholds that are not round', () => {
  it('is degraded exactly at 30% and down exactly at 70% of 10', () => {
    const r = { ...rules, degradedAt: 0.3, downAt: 0.7 };
    expect(fleetStatus(fleet(8, 2), NOW, r).status).toBe('up');
    expect(fleetStatus(fleet(7, 3), NOW, r).status).toBe('degraded');
    expect(fleetStatus(fleet(4, 6), NOW, r).status).toBe('degraded');
    expect(fleetStatus(fleet(3, 7), NOW, r).status).toBe('down');
  });
  it('is down only when every workstation is silent with downAt 1', () => {
    const r = { ...rules, degradedAt: 0.5, downAt: 1 };
    expect(fleetStatus(fleet(1, 499), NOW, r).status).toBe('degraded');
    expect(fleetStatus(fleet(0, 500), NOW, r).status).toBe('down');
  });
  it('shows a share below a threshold rounded down, never as the threshold itself', () => {
    const s = fleetStatus(fleet(201, 199), NOW, rules);
    expect(s.status).toBe('degraded');
    expect(s.detail).toBe('199 of 400 workstations silent (49.7%), degraded at 20%');
    expect(fleetStatus(fleet(2, 1), NOW, { ...rules, degradedAt: 0.4 }).detail).toBe('1 of 3 workstations silent (33.3%)');
  });
  it('shows a fractional threshold with one decimal', () => {
    const r = { ...rules, degradedAt: 0.125, downAt: 0.333 };
    expect(fleetStatus(fleet(7, 1), NOW, r).detail).toBe('1 of 8 workstations silent (12.5%), degraded at 12.5%');
    expect(fleetStatus(fleet(2, 1), NOW, r).detail).toBe('1 of 3 workstations silent (33.3%), down at 33.3%');
  });
  it('speaks of one workstation in the singular', () => {
    expect(fleetStatus(fleet(1, 0), NOW, rules).detail).toBe('all 1 workstation reporting');
    expect(fleetStatus(fleet(0, 1), NOW, rules).detail).toBe('1 of 1 workstation silent (100%), down at 50%');
  });
});

describe('fleetStatus: forgetAfter', () => {
  it('still counts an agent silent just under forgetAfter', () => {
    expect(fleetStatus(fleet(1, 1, 7 * DAY - 1), NOW, rules)).toMatchObject({ status: 'down', agents: 2, silent: 1 });
  });
  it('drops an agent silent exactly forgetAfter: a decommissioned PC does not keep the practice degraded', () => {
    expect(fleetStatus(fleet(1, 1, 7 * DAY), NOW, rules)).toMatchObject({ status: 'up', agents: 1, silent: 0 });
  });
  it('keeps the rest of the fleet counted when some are forgotten', () => {
    const lastSeen = [...fleet(8, 0), ...fleet(0, 2, SILENT_MS + 1), ...fleet(0, 10, 30 * DAY)];
    expect(fleetStatus(lastSeen, NOW, rules)).toMatchObject({ status: 'degraded', agents: 10, silent: 2 });
  });
});

describe('fleetStatus: expectedAgents', () => {
  const expecting = (n: number): FleetRules => ({ ...rules, expectedAgents: n });

  it('counts expected agents never seen as silent: a fleet that never came back is not fine', () => {
    const s = fleetStatus(fleet(6, 0), NOW, expecting(20));
    expect(s).toEqual({
      status: 'down',
      agents: 20,
      silent: 14,
      expected: 20,
      shareSilent: 0.7,
      detail: '14 of 20 workstations silent (70%), down at 50%; 14 of 20 expected never reported',
    });
  });
  it('is down, not unknown, when none of the expected agents ever reported', () => {
    expect(fleetStatus([], NOW, expecting(20))).toMatchObject({ status: 'down', agents: 20, silent: 20, shareSilent: 1 });
  });
  it('adds never-seen agents to those that went silent', () => {
    expect(fleetStatus(fleet(15, 2), NOW, expecting(20))).toMatchObject({ status: 'degraded', agents: 20, silent: 5 });
  });
  it('is up when every expected agent reports', () => {
    expect(fleetStatus(fleet(20, 0), NOW, expecting(20))).toMatchObject({ status: 'up', agents: 20, silent: 0, expected: 20 });
  });
  it('counts every agent seen when there are more than expected', () => {
    expect(fleetStatus(fleet(20, 5), NOW, expecting(20))).toMatchObject({ status: 'degraded', agents: 25, silent: 5 });
  });
  it('counts a forgotten agent as expected but never reported again', () => {
    const s = fleetStatus(fleet(3, 1, 30 * DAY), NOW, expecting(4));
    expect(s).toMatchObject({ status: 'degraded', agents: 4, silent: 1 });
    expect(s.detail).toBe('1 of 4 workstations silent (25%), degraded at 20%; 1 of 4 expected never reported');
  });

  describe('while tracking has not yet run for silentAfter intervals (Pulse just started)', () => {
    it('does not count agents that have had no chance to beat yet', () => {
      const s = fleetStatus(fleet(5, 0), NOW, expecting(20), NOW - SILENT_MS);
      expect(s).toMatchObject({ status: 'up', agents: 5, silent: 0, expected: 20 });
      expect(s.detail).toBe('all 5 workstations reporting; 5 of 20 expected reported so far');
    });
    it('is unknown before the first beat', () => {
      expect(fleetStatus([], NOW, expecting(20), NOW - 1_000)).toMatchObject({
        status: 'unknown',
        detail: 'no workstation has reported yet (20 expected)',
      });
    });
    it('counts them once silentAfter intervals have passed', () => {
      expect(fleetStatus(fleet(5, 0), NOW, expecting(20), NOW - SILENT_MS - 1)).toMatchObject({
        status: 'down',
        agents: 20,
        silent: 15,
      });
    });
    it('changes nothing without expectedAgents', () => {
      expect(fleetStatus(fleet(6, 14), NOW, rules, NOW - 1_000)).toEqual(fleetStatus(fleet(6, 14), NOW, rules));
    });
  });
});

describe('fleetStatus: silence only over time Pulse was listening', () => {
  /** Pulse was not listening over [from, to]. */
  const deaf = (from: number, to: number) => ({
    listenedMs: (a: number, b: number) => Math.max(0, b - a - Math.max(0, Math.min(b, to) - Math.max(a, from))),
  });
  const PAUSE = 40_000;
  // The pause ended just now; the agents last beat SILENT_MS − 30 s before it ended, so they are silent by the wall clock only.
  const lastBeat = NOW - SILENT_MS - 10_000;
  const listening = deaf(NOW - PAUSE, NOW);

  it('a fleet unheard only while Pulse was not listening is unknown, not down, saying why', () => {
    const s = fleetStatus(Array<number>(12).fill(lastBeat), NOW, rules, NOW - 3_600_000, listening);
    expect(s).toEqual({
      status: 'unknown',
      agents: 12,
      silent: 0,
      expected: null,
      shareSilent: 0,
      unwitnessed: 12,
      detail: 'Pulse was not listening for 40 s: workstation silence not witnessed',
      impaired: 'Pulse was not listening for 40 s: workstation silence not witnessed',
    });
    // Without the listening view the same beats read as a dead fleet: the bug this guards against.
    expect(fleetStatus(Array<number>(12).fill(lastBeat), NOW, rules).status).toBe('down');
  });

  it('agents silent for longer than the window while Pulse listened are still silent', () => {
    const longAgo = NOW - PAUSE - SILENT_MS - 1;
    expect(fleetStatus([...fleet(6, 0), ...Array<number>(14).fill(longAgo)], NOW, rules, -Infinity, listening)).toMatchObject({
      status: 'down',
      silent: 14,
      detail: '14 of 20 workstations silent (70%), down at 50%',
    });
  });

  it('stays up when counting the unwitnessed would not change the verdict, and says so', () => {
    const s = fleetStatus([...fleet(19, 0), lastBeat], NOW, rules, -Infinity, listening);
    expect(s).toMatchObject({ status: 'up', silent: 0, unwitnessed: 1 });
    expect(s.detail).toBe('19 of 20 workstations reporting; silence of 1 not witnessed (Pulse was not listening for 40 s)');
    expect(s.impaired).toBeUndefined();
  });

  it('is unknown when the unwitnessed would turn degraded into down', () => {
    const longAgo = NOW - PAUSE - SILENT_MS - 1;
    const s = fleetStatus([...fleet(10, 0), ...Array<number>(5).fill(longAgo), ...Array<number>(5).fill(lastBeat)], NOW, rules, -Infinity, listening);
    expect(s).toMatchObject({ status: 'unknown', silent: 5, unwitnessed: 5 });
  });

  it('with everyone listening (or no listening view) changes nothing', () => {
    const all = { listenedMs: (a: number, b: number) => Math.max(0, b - a) };
    for (const lastSeen of [fleet(20, 0), fleet(16, 4), fleet(6, 14), fleet(0, 3, 7 * DAY)]) {
      expect(fleetStatus(lastSeen, NOW, rules, -Infinity, all)).toEqual(fleetStatus(lastSeen, NOW, rules));
    }
  });

  it('measures the warm-up for expected agents in listened time', () => {
    const r = { ...rules, expectedAgents: 20 };
    const since = NOW - SILENT_MS - 1;
    expect(fleetStatus(fleet(5, 0), NOW, r, since).status).toBe('down');
    // The 40 s pause inside the warm-up: the other 15 have not yet had silentAfter intervals of listening to beat.
    expect(fleetStatus(fleet(5, 0), NOW, r, since, deaf(NOW - 60_000, NOW - 20_000))).toMatchObject({
      status: 'up',
      agents: 5,
      detail: 'all 5 workstations reporting; 5 of 20 expected reported so far',
    });
  });
});
