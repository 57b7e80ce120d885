import { describe, expect, it } from 'vitest';
import { fleetSchema, type FleetConfig, type FleetEntry } from '../../../server/fleet/config';
import { FleetConfigError, FleetTracker, secretReader, type ReadSecret } from '../../../server/fleet/tracker';

const MIN = 60_000;
const DAY = 86_400_000;
const START = 1_721_347_200_000; // Fri 19 July 2024, 00:00 UTC
const TOKEN = 'riverside-fleet-token-0123456789';
const OTHER_TOKEN = 'parkside-fleet-token-9876543210';
const env = { PULSE_FLEET_A81001: TOKEN, PULSE_FLEET_B82002: OTHER_TOKEN };

const config = (entry: Partial<FleetEntry> = {}, variable = 'PULSE_FLEET_A81001'): FleetConfig =>
  fleetSchema.parse({ token: { env: variable }, ...entry });

function tracker(
  fleets: [string, FleetConfig][] = [['A81001', config()]],
  opts: { readSecret?: ReadSecret; maxAgentsPerPractice?: number } = {},
) {
  return new FleetTracker({ fleets, startedAt: START, readSecret: opts.readSecret ?? secretReader({ env }), ...opts });
}

/** A fake clock: tests move time forward by hand and never sleep. */
function clock(start = START) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const pcs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `RECEPTION-${String(i + from).padStart(2, '0')}`);

describe('the bad endpoint update', () => {
  it('20 workstations beating, 14 go silent: down after silentAfter intervals, up when they come back', () => {
    const t = tracker();
    const c = clock();
    const all = pcs(20);
    const survivors = all.slice(0, 6);
    const beat = (agents: string[]) => agents.forEach((a) => expect(t.beat('A81001', a, c.now()).ok).toBe(true));

    // A normal morning: every PC beats every minute.
    for (let i = 0; i < 5; i++) {
      beat(all);
      expect(t.evaluate('A81001', c.now())).toMatchObject({ status: 'up', agents: 20, silent: 0 });
      c.advance(MIN);
    }
    // 04:09: the update lands and 14 PCs stop beating. Within silentAfter (3) intervals they are late, not silent.
    const lastBeat = c.now() - MIN;
    for (let i = 0; i < 3; i++) {
      beat(survivors);
      expect(t.evaluate('A81001', lastBeat + (i + 1) * MIN)).toMatchObject({ status: 'up', silent: 0 });
      c.advance(MIN);
    }
    // Three intervals after their last beat, exactly: still on time.
    expect(t.evaluate('A81001', lastBeat + 3 * MIN).status).toBe('up');
    // Any later, they are silent.
    beat(survivors);
    expect(t.evaluate('A81001', lastBeat + 3 * MIN + 1)).toEqual({
      status: 'down',
      agents: 20,
      silent: 14,
      expected: null,
      shareSilent: 0.7,
      detail: '14 of 20 workstations silent (70%), down at 50%',
    });
    // It stays down while they are out.
    c.advance(2 * 3_600_000);
    beat(survivors);
    expect(t.evaluate('A81001', c.now()).status).toBe('down');
    // The fix is rolled out: they come back one by one.
    const returning = all.slice(6);
    returning.slice(0, 4).forEach((a) => t.beat('A81001', a, c.now()));
    expect(t.evaluate('A81001', c.now())).toMatchObject({ status: 'down', silent: 10 });
    returning.slice(4, 8).forEach((a) => t.beat('A81001', a, c.now()));
    expect(t.evaluate('A81001', c.now())).toMatchObject({ status: 'degraded', silent: 6 });
    returning.slice(8).forEach((a) => t.beat('A81001', a, c.now()));
    expect(t.evaluate('A81001', c.now())).toMatchObject({ status: 'up', agents: 20, silent: 0, detail: 'all 20 workstations reporting' });
  });

  it('a fleet that never comes back up after a Pulse restart is down once the agents had time to beat', () => {
    const t = tracker([['A81001', config({ expectedAgents: 20 })]]);
    expect(t.evaluate('A81001', START + MIN).status).toBe('unknown');
    pcs(6).forEach((a) => t.beat('A81001', a, START + 2 * MIN));
    expect(t.evaluate('A81001', START + 3 * MIN).status).toBe('up');
    pcs(6).forEach((a) => t.beat('A81001', a, START + 3 * MIN));
    expect(t.evaluate('A81001', START + 3 * MIN + 1)).toMatchObject({ status: 'down', agents: 20, silent: 14 });
  });
});

describe('FleetTracker', () => {
  it('keeps practices apart', () => {
    const t = tracker([
      ['A81001', config()],
      ['B82002', config({}, 'PULSE_FLEET_B82002')],
    ]);
    pcs(4).forEach((a) => t.beat('A81001', a, START));
    t.beat('B82002', 'RECEPTION-01', START + 10 * MIN);
    const all = t.evaluateAll(START + 10 * MIN);
    expect([...all.keys()]).toEqual(['A81001', 'B82002']);
    expect(all.get('A81001')).toMatchObject({ status: 'down', agents: 4, silent: 4 });
    expect(all.get('B82002')).toMatchObject({ status: 'up', agents: 1, silent: 0 });
  });

  it('is unknown for a practice whose agents never reported', () => {
    expect(tracker().evaluate('A81001', START + DAY)).toMatchObject({ status: 'unknown', agents: 0 });
  });

  it('refuses a beat for a practice without a fleet, for the route to answer 404', () => {
    const t = tracker();
    expect(t.has('A81001')).toBe(true);
    expect(t.has('Z99999')).toBe(false);
    expect(t.practices()).toEqual(['A81001']);
    expect(t.beat('Z99999', 'PC-01', START)).toMatchObject({ ok: false, code: 'UNKNOWN_PRACTICE' });
    expect(() => t.evaluate('Z99999', START)).toThrow(/Z99999 has no workstation fleet/);
  });

  it('says whether an agent is new', () => {
    const t = tracker();
    expect(t.beat('A81001', 'PC-01', START)).toEqual({ ok: true, newAgent: true });
    expect(t.beat('A81001', 'PC-01', START + MIN)).toEqual({ ok: true, newAgent: false });
  });

  it('never moves an agent back in time when an older beat arrives late', () => {
    const t = tracker();
    t.beat('A81001', 'PC-01', START + 10 * MIN);
    t.beat('A81001', 'PC-01', START);
    expect(t.evaluate('A81001', START + 12 * MIN)).toMatchObject({ status: 'up', silent: 0 });
  });

  it('forgets agents silent for forgetAfter, and they come back as new', () => {
    const t = tracker([['A81001', config({ forgetAfter: '1d' })]]);
    t.beat('A81001', 'OLD-PC', START);
    t.beat('A81001', 'PC-01', START + DAY);
    expect(t.evaluate('A81001', START + DAY)).toMatchObject({ status: 'up', agents: 1 });
    expect(t.beat('A81001', 'OLD-PC', START + DAY + MIN)).toEqual({ ok: true, newAgent: true });
  });

  describe('bounded memory', () => {
    it('refuses new agents past the cap, with a reason for a 429', () => {
      const t = tracker(undefined, { maxAgentsPerPractice: 3 });
      pcs(3).forEach((a) => expect(t.beat('A81001', a, START).ok).toBe(true));
      const refused = t.beat('A81001', 'ONE-TOO-MANY', START);
      expect(refused).toEqual({
        ok: false,
        code: 'TOO_MANY_AGENTS',
        message: 'practice A81001 already has 3 workstation agents; a new agent is refused until silent ones are forgotten',
      });
      // Known agents keep beating, and the refused one is not counted.
      expect(t.beat('A81001', 'RECEPTION-01', START + MIN)).toEqual({ ok: true, newAgent: false });
      expect(t.evaluate('A81001', START + MIN).agents).toBe(3);
    });
    it('makes room by forgetting agents silent for forgetAfter', () => {
      const t = tracker([['A81001', config({ forgetAfter: '1d' })]], { maxAgentsPerPractice: 2 });
      t.beat('A81001', 'OLD-PC', START);
      t.beat('A81001', 'PC-01', START + DAY - MIN);
      expect(t.beat('A81001', 'NEW-PC', START + DAY - 1).ok).toBe(false);
      expect(t.beat('A81001', 'NEW-PC', START + DAY)).toEqual({ ok: true, newAgent: true });
    });
    it('caps at 500 agents per practice by default', () => {
      const t = tracker();
      pcs(500).forEach((a) => expect(t.beat('A81001', a, START).ok).toBe(true));
      expect(t.beat('A81001', 'PC-501', START)).toMatchObject({ ok: false, code: 'TOO_MANY_AGENTS' });
    });
  });
});

describe('practice tokens', () => {
  const t = tracker([
    ['A81001', config()],
    ['B82002', config({}, 'PULSE_FLEET_B82002')],
  ]);

  it('accepts the practice’s own token', () => {
    expect(t.verifyToken('A81001', TOKEN)).toBe(true);
    expect(t.verifyToken('B82002', OTHER_TOKEN)).toBe(true);
  });
  it('refuses another practice’s token', () => {
    expect(t.verifyToken('A81001', OTHER_TOKEN)).toBe(false);
  });
  it('refuses a wrong, shorter, longer or missing token', () => {
    expect(t.verifyToken('A81001', TOKEN.replace(/0/, '1'))).toBe(false);
    expect(t.verifyToken('A81001', TOKEN.slice(0, -1))).toBe(false);
    expect(t.verifyToken('A81001', `${TOKEN}x`)).toBe(false);
    expect(t.verifyToken('A81001', '')).toBe(false);
    expect(t.verifyToken('A81001', undefined)).toBe(false);
    expect(t.verifyToken('A81001', null)).toBe(false);
  });
  it('refuses any token for a practice without a fleet', () => {
    expect(t.verifyToken('Z99999', TOKEN)).toBe(false);
  });
  it('reads a token from a file, without its trailing newline', () => {
    const files: Record<string, string> = { '/run/secrets/fleet-A81001': `${TOKEN}\n` };
    const fromFile = tracker([['A81001', fleetSchema.parse({ token: { file: '/run/secrets/fleet-A81001' } })]], {
      readSecret: secretReader({ env: {}, readFile: (p) => files[p]! }),
    });
    expect(fromFile.verifyToken('A81001', TOKEN)).toBe(true);
  });
  it('never exposes the token through the tracker', () => {
    const text = JSON.stringify(t) + JSON.stringify(Object.entries(t)) + JSON.stringify(t.evaluateAll(START));
    expect(text).not.toContain(TOKEN);
  });

  describe('at load', () => {
    const loadError = (fleetConfig: FleetConfig, readSecret: ReadSecret): FleetConfigError => {
      try {
        tracker([['A81001', fleetConfig]], { readSecret });
      } catch (err) {
        if (err instanceof FleetConfigError) return err;
        throw err;
      }
      throw new Error('expected the tracker to refuse the configuration');
    };

    it('names a missing environment variable', () => {
      const err = loadError(config({}, 'PULSE_FLEET_MISSING'), secretReader({ env }));
      expect(err.message).toBe('practice A81001: fleet.token: environment variable PULSE_FLEET_MISSING is not set');
      expect(err).toMatchObject({ code: 'FLEET_CONFIG_INVALID', ods: 'A81001', field: 'fleet.token' });
    });
    it('names an empty environment variable', () => {
      const err = loadError(config(), secretReader({ env: { PULSE_FLEET_A81001: '  \n' } }));
      expect(err.message).toBe('practice A81001: fleet.token: environment variable PULSE_FLEET_A81001 is empty');
    });
    it('refuses a short token, naming the variable and not the value', () => {
      const err = loadError(config(), secretReader({ env: { PULSE_FLEET_A81001: 'hunter2' } }));
      expect(err.message).toBe(
        'practice A81001: fleet.token: the token in environment variable PULSE_FLEET_A81001 is shorter than 16 characters',
      );
      expect(err.message).not.toContain('hunter2');
    });
    it('names a missing token file', () => {
      const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      const err = loadError(
        fleetSchema.parse({ token: { file: '/run/secrets/nope' } }),
        secretReader({ env, readFile: () => { throw enoent; } }),
      );
      expect(err.message).toBe('practice A81001: fleet.token: cannot read /run/secrets/nope (file not found)');
    });
  });
});
