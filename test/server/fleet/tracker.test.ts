import { describe, expect, it } from 'vitest';
import { fleetSchema, type FleetConfig, type FleetEntry } from '../../../server/fleet/config';
import { fleetResult } from '../../../server/fleet/toResult';
import { FleetConfigError, FleetTracker, secretReader, type ReadSecret } from '../../../server/fleet/tracker';
import { ServerObserver } from '../../../server/self/observer';

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

describe('after Pulse itself stops listening (a 40 s pause: GC, VM migration, SIGSTOP)', () => {
  const S = 1_000;
  /** 12 workstations beating every 5 s (silent after 15 s) and a server that ticks every 250 ms. */
  function estate(opts: { observed?: boolean } = {}) {
    const c = { wall: START, mono: 0 };
    const observer = new ServerObserver({ tickMs: 250, monoNow: () => c.mono, eventLoop: null });
    const t = new FleetTracker({
      fleets: [['A81001', config({ interval: '5s', silentAfter: 3 })]],
      readSecret: secretReader({ env }),
      ...(opts.observed === false ? {} : { listening: observer }),
    });
    t.startTracking(c.wall);
    const agents = pcs(12);
    /** The process runs for `ms`: the server ticks and the given agents beat every 5 s. */
    const run = (ms: number, beating: string[] = agents) => {
      for (let elapsed = 0; elapsed < ms; elapsed += 250) {
        c.wall += 250;
        c.mono += 250;
        observer.tick(c.wall, c.mono);
        if ((c.wall - START) % (5 * S) === 0) beating.forEach((a) => t.beat('A81001', a, c.wall));
      }
    };
    /** SIGSTOP for `ms`, then SIGCONT: no tick and no beat is read meanwhile; the first tick comes before any queued beat. */
    const pause = (ms: number) => {
      c.wall += ms;
      c.mono += ms;
      observer.tick(c.wall, c.mono);
    };
    return { t, c, agents, run, pause, observer };
  }

  it('a healthy fleet is never down: unknown at worst, saying why, and up again as beats arrive', () => {
    const { t, c, agents, run, pause } = estate();
    run(60 * S);
    expect(t.evaluate('A81001', c.wall).status).toBe('up');
    pause(40 * S);
    const after = t.evaluate('A81001', c.wall);
    expect(after).toMatchObject({ status: 'unknown', impaired: 'Pulse was not listening for 40 s: workstation silence not witnessed' });
    expect(fleetResult('A81001', after, c.wall)).toMatchObject({ ok: false, impaired: after.impaired });
    // The queued beats are read: half of them first, then the rest.
    agents.slice(0, 6).forEach((a) => t.beat('A81001', a, c.wall));
    expect(t.evaluate('A81001', c.wall).status).toBe('unknown');
    agents.slice(6).forEach((a) => t.beat('A81001', a, c.wall));
    expect(t.evaluate('A81001', c.wall)).toMatchObject({ status: 'up', silent: 0, detail: 'all 12 workstations reporting' });
    // And it stays up while they keep beating.
    for (let i = 0; i < 12; i++) {
      run(5 * S);
      expect(t.evaluate('A81001', c.wall).status).toBe('up');
    }
  });

  it('without the listening view the same pause reads as every workstation silent (what Pulse used to report)', () => {
    const { t, c, run, pause } = estate({ observed: false });
    run(60 * S);
    pause(40 * S);
    expect(t.evaluate('A81001', c.wall)).toMatchObject({ status: 'down', silent: 12, detail: '12 of 12 workstations silent (100%), down at 50%' });
  });

  it('workstations that really died are down once Pulse has listened for silentAfter intervals', () => {
    const { t, c, agents, run, pause } = estate();
    run(60 * S);
    pause(40 * S); // 8 of the 12 die with the pause and never come back
    const survivors = agents.slice(0, 4);
    survivors.forEach((a) => t.beat('A81001', a, c.wall));
    expect(t.evaluate('A81001', c.wall).status).toBe('unknown');
    run(14 * S, survivors);
    expect(t.evaluate('A81001', c.wall).status).toBe('unknown');
    run(2 * S, survivors);
    expect(t.evaluate('A81001', c.wall)).toMatchObject({ status: 'down', silent: 8, detail: '8 of 12 workstations silent (66.6%), down at 50%' });
  });
});

describe('the grace period for expected agents starts when the endpoint starts accepting', () => {
  const fleetOf20 = (): [string, FleetConfig][] => [['A81001', config({ expectedAgents: 20 })]];
  const BUILT = START;
  const LISTENING = START + 30_000; // a slow restart: the endpoint accepts 30 s after the tracker is built

  it('counts the never-heard only silentAfter intervals after startTracking, not after construction', () => {
    const t = new FleetTracker({ fleets: fleetOf20(), readSecret: secretReader({ env }) });
    t.startTracking(LISTENING);
    pcs(6).forEach((a) => t.beat('A81001', a, LISTENING + MIN));
    // Three intervals after the tracker was built, but not after the endpoint started accepting.
    expect(t.evaluate('A81001', BUILT + 3 * MIN + 1)).toMatchObject({ status: 'up', agents: 6 });
    expect(t.evaluate('A81001', LISTENING + 3 * MIN)).toMatchObject({ status: 'up', agents: 6 });
    expect(t.evaluate('A81001', LISTENING + 3 * MIN + 1)).toMatchObject({ status: 'down', agents: 20, silent: 14 });
  });

  it('never counts them before startTracking is called', () => {
    const t = new FleetTracker({ fleets: fleetOf20(), readSecret: secretReader({ env }) });
    pcs(6).forEach((a) => t.beat('A81001', a, BUILT + DAY));
    expect(t.evaluate('A81001', BUILT + DAY)).toMatchObject({ status: 'up', agents: 6 });
  });

  it('keeps the first start', () => {
    const t = new FleetTracker({ fleets: fleetOf20(), readSecret: secretReader({ env }) });
    t.startTracking(LISTENING);
    t.startTracking(LISTENING + DAY);
    expect(t.evaluate('A81001', LISTENING + 3 * MIN + 1)).toMatchObject({ status: 'down', silent: 20 });
  });
});

describe('software the agents report', () => {
  const SENSOR_BAD = { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291' };
  const SENSOR_OK = { 'falcon-sensor': '7.15.18513', 'channel-file': 'C-00000290' };

  it('keeps each agent’s last report; a beat without software keeps the one before', () => {
    const t = tracker();
    t.beat('A81001', 'PC-01', START, SENSOR_OK);
    expect(t.softwareOfAgent('A81001', 'PC-01')).toEqual(SENSOR_OK);
    t.beat('A81001', 'PC-01', START + MIN);
    expect(t.softwareOfAgent('A81001', 'PC-01')).toEqual(SENSOR_OK);
    t.beat('A81001', 'PC-01', START + 2 * MIN, SENSOR_BAD);
    expect(t.softwareOfAgent('A81001', 'PC-01')).toEqual(SENSOR_BAD);
    expect(t.softwareOfAgent('A81001', 'PC-02')).toBeUndefined();
  });

  it('holds one copy of a map many agents report, whatever order its keys came in', () => {
    const t = tracker();
    t.beat('A81001', 'PC-01', START, { os: '10', 'falcon-sensor': '7.16' });
    t.beat('A81001', 'PC-02', START, { 'falcon-sensor': '7.16', os: '10' });
    expect(t.softwareOfAgent('A81001', 'PC-01')).toBe(t.softwareOfAgent('A81001', 'PC-02'));
    expect(Object.isFrozen(t.softwareOfAgent('A81001', 'PC-01'))).toBe(true);
  });

  it('forgets an agent’s software with the agent', () => {
    const t = tracker([['A81001', config({ forgetAfter: '1d' })]]);
    t.beat('A81001', 'OLD-PC', START, SENSOR_OK);
    t.evaluate('A81001', START + DAY);
    expect(t.softwareOfAgent('A81001', 'OLD-PC')).toBeUndefined();
  });

  it('splits the silent agents’ software from the healthy ones’, across the practices asked about', () => {
    const t = tracker([
      ['A81001', config()],
      ['B82002', config({}, 'PULSE_FLEET_B82002')],
    ]);
    pcs(3).forEach((a) => t.beat('A81001', a, START, SENSOR_BAD));
    pcs(2, 10).forEach((a) => t.beat('A81001', a, START + 10 * MIN, SENSOR_OK));
    t.beat('A81001', 'NO-SOFTWARE', START);
    t.beat('B82002', 'PC-01', START, SENSOR_BAD);
    expect(t.softwareOf(['A81001'], START + 10 * MIN)).toEqual({
      silent: [SENSOR_BAD, SENSOR_BAD, SENSOR_BAD],
      healthy: [SENSOR_OK, SENSOR_OK],
    });
    expect(t.softwareOf(['A81001', 'B82002', 'Z99999'], START + 10 * MIN).silent).toHaveLength(4);
  });

  it('leaves out agents whose silence Pulse did not witness', () => {
    const t = new FleetTracker({
      fleets: [['A81001', config()]],
      startedAt: START,
      readSecret: secretReader({ env }),
      listening: { listenedMs: () => 0 },
    });
    t.beat('A81001', 'PC-01', START, SENSOR_BAD);
    t.beat('A81001', 'PC-02', START + 10 * MIN, SENSOR_OK);
    expect(t.softwareOf(['A81001'], START + 10 * MIN)).toEqual({ silent: [], healthy: [SENSOR_OK] });
  });
});

describe('fleetSummary', () => {
  it('adds up agents and silent ones across practices, for "70% of agents silent"', () => {
    const t = tracker([
      ['A81001', config()],
      ['B82002', config({}, 'PULSE_FLEET_B82002')],
    ]);
    pcs(7).forEach((a) => t.beat('A81001', a, START));
    pcs(3, 10).forEach((a) => t.beat('A81001', a, START + 10 * MIN));
    pcs(10).forEach((a) => t.beat('B82002', a, START + 10 * MIN));
    expect(t.fleetSummary(['A81001'], START + 10 * MIN)).toEqual({ agents: 10, silent: 7, share: 0.7 });
    expect(t.fleetSummary(['A81001', 'B82002', 'A81001', 'Z99999'], START + 10 * MIN)).toEqual({ agents: 20, silent: 7, share: 0.35 });
    expect(t.fleetSummary([], START)).toEqual({ agents: 0, silent: 0, share: 0 });
  });
});
