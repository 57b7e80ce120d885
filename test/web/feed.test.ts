import { describe, expect, it } from 'vitest';
import type { Counts, IncidentView, LiveServerMessage, PracticeView, ServiceView } from '../../server/live/protocol';
import {
  connected,
  connectionState,
  initialFeed,
  parseServerMessage,
  reconnectDelay,
  reduce,
  shouldReconnect,
  type FeedState,
  type Link,
} from '../../web/lib/feed';

const T0 = Date.parse('2026-05-01T09:00:00Z');
const HB = 5_000;
const OPEN: Link = { phase: 'open', lastAttemptFailed: false };

function practice(ods: string, status: PracticeView['status'] = 'up', cause: string | null = null): PracticeView {
  return { ods, name: `Practice ${ods}`, pcn: 'PCN 1', icb: 'QWE', system: 'emis-web', status, cause, mode: 'normal', since: '2026-05-01T08:00:00Z' };
}

const emis: ServiceView = {
  id: 'emis-web',
  name: 'EMIS Web',
  kind: 'clinical-system',
  status: 'up',
  cause: null,
  since: '2026-05-01T08:00:00Z',
  practicesAffected: 0,
};

function counts(partial: Partial<Counts>): Counts {
  return { up: 0, degraded: 0, down: 0, unknown: 0, suspected: 0, recovering: 0, maintenance: 0, backup: 0, total: 0, ...partial };
}

const at = (ms: number) => new Date(ms).toISOString();

/** Runs messages through the reducer from a fresh connection; returns the final state and every action. */
function play(messages: LiveServerMessage[], start: FeedState = connected(initialFeed(), T0)) {
  let state = start;
  const actions: string[] = [];
  messages.forEach((message, i) => {
    const step = reduce(state, message, T0 + i);
    state = step.state;
    actions.push(step.action);
  });
  return { state, actions };
}

function incident(id: number, patch: Partial<IncidentView> = {}): IncidentView {
  return {
    id,
    key: 'service:emis-web',
    kind: 'service',
    title: 'EMIS Web is down',
    finding: null,
    status: 'open',
    severity: 'down',
    openedAt: at(T0),
    resolvedAt: null,
    affected: 12,
    ...patch,
  };
}

const hello: LiveServerMessage = { type: 'hello', protocol: 1, heartbeatMs: HB };
const snapshot = (seq: number, practices: PracticeView[] = [practice('A81001'), practice('A81002')]): LiveServerMessage => ({
  type: 'snapshot',
  seq,
  at: at(T0),
  probes: 'ok',
  practices,
  services: [emis],
  counts: counts({ up: practices.length, total: practices.length }),
  incidents: [],
});
const delta = (seq: number, practices: PracticeView[], services: ServiceView[] = []): LiveServerMessage => ({
  type: 'delta',
  seq,
  at: at(T0 + seq * 1000),
  practices,
  services,
  counts: counts({ up: 1, down: 1, total: 2 }),
  incidents: [],
});
const heartbeat = (seq: number): LiveServerMessage => ({ type: 'heartbeat', seq, at: at(T0 + seq * 1000), probes: 'ok' });

describe('live feed reducer', () => {
  it('takes the heartbeat interval from hello', () => {
    const { state } = play([hello]);
    expect(state.heartbeatMs).toBe(HB);
    expect(state.practices).toBeNull();
  });

  it('replaces everything with a snapshot, keyed by ODS code and service id', () => {
    const { state, actions } = play([hello, snapshot(7)]);
    expect(actions).toEqual(['none', 'none']);
    expect(state.seq).toBe(7);
    expect(state.awaitingSnapshot).toBe(false);
    expect(Object.keys(state.practices ?? {})).toEqual(['A81001', 'A81002']);
    expect(state.services['emis-web']?.name).toBe('EMIS Web');
    expect(state.counts?.total).toBe(2);
    expect(state.lastUpdateAt).toBe(at(T0));
    expect(state.lastMessageAt).toBe(T0 + 1);
  });

  it('applies a delta in sequence: changed practices replaced, others kept, counts from the server', () => {
    const down = practice('A81001', 'down', 'upstream: emis-web');
    const emisDown: ServiceView = { ...emis, status: 'down', practicesAffected: 1 };
    const { state, actions } = play([hello, snapshot(7), delta(8, [down], [emisDown])]);
    expect(actions.at(-1)).toBe('none');
    expect(state.seq).toBe(8);
    expect(state.practices?.['A81001']).toEqual(down);
    expect(state.practices?.['A81002']?.status).toBe('up');
    expect(state.services['emis-web']?.status).toBe('down');
    expect(state.counts).toEqual(counts({ up: 1, down: 1, total: 2 }));
    expect(state.lastUpdateAt).toBe(at(T0 + 8000));
  });

  it('does not mutate the previous state (Svelte sees a new object)', () => {
    const before = play([hello, snapshot(1)]).state;
    const frozen = JSON.stringify(before);
    reduce(before, delta(2, [practice('A81001', 'down')]), T0);
    expect(JSON.stringify(before)).toBe(frozen);
  });

  it('asks for a resync once on a seq gap and ignores deltas and heartbeats until a snapshot', () => {
    const { state, actions } = play([
      hello,
      snapshot(7),
      delta(9, [practice('A81001', 'down')]), // 8 missing
      delta(10, [practice('A81002', 'down')]),
      heartbeat(11),
    ]);
    expect(actions).toEqual(['none', 'none', 'resync', 'none', 'none']);
    expect(state.awaitingSnapshot).toBe(true);
    expect(state.seq).toBe(7);
    expect(state.practices?.['A81001']?.status).toBe('up');
    expect(state.practices?.['A81002']?.status).toBe('up');
    expect(state.lastUpdateAt).toBe(at(T0));
  });

  it('resumes from the new snapshot after a resync, whatever its seq', () => {
    const { state, actions } = play([
      hello,
      snapshot(7),
      delta(9, []),
      snapshot(12, [practice('A81001', 'down')]),
      delta(13, [practice('A81001', 'up')]),
    ]);
    expect(actions).toEqual(['none', 'none', 'resync', 'none', 'none']);
    expect(state.seq).toBe(13);
    expect(state.awaitingSnapshot).toBe(false);
    expect(Object.keys(state.practices ?? {})).toEqual(['A81001']);
    expect(state.practices?.['A81001']?.status).toBe('up');
  });

  it('treats a repeated or old seq as a gap too', () => {
    const { actions } = play([hello, snapshot(7), heartbeat(8), heartbeat(8)]);
    expect(actions.at(-1)).toBe('resync');
  });

  it('advances seq and the confirmation times on a heartbeat without touching the data', () => {
    const first = play([hello, snapshot(7)]).state;
    const { state, action } = reduce(first, heartbeat(8), T0 + 4000);
    expect(action).toBe('none');
    expect(state.seq).toBe(8);
    expect(state.lastMessageAt).toBe(T0 + 4000);
    expect(state.lastUpdateAt).toBe(at(T0 + 8000));
    expect(state.practices).toBe(first.practices);
    expect(reduce(state, heartbeat(9), T0 + 9000).action).toBe('none');
  });

  it('ignores deltas on a new connection until its snapshot, keeping the old data on screen', () => {
    const old = play([hello, snapshot(7)]).state;
    const reconnected = connected(old, T0 + 60_000);
    expect(reconnected.practices).toBe(old.practices);
    const step = reduce(reconnected, delta(1, [practice('A81001', 'down')]), T0 + 60_001);
    expect(step.action).toBe('none');
    expect(step.state.practices?.['A81001']?.status).toBe('up');
  });
});

describe('open incidents in the feed', () => {
  const withIncidents = (message: LiveServerMessage, incidents: IncidentView[]): LiveServerMessage =>
    message.type === 'snapshot' || message.type === 'delta' ? { ...message, incidents } : message;

  it('takes the open incidents from a snapshot, replacing whatever was held before', () => {
    const before = play([hello, withIncidents(snapshot(1), [incident(1), incident(2)])]).state;
    const { state } = play([withIncidents(snapshot(5), [incident(3)])], connected(before, T0 + 10));
    expect(Object.keys(state.incidents)).toEqual(['3']);
  });

  it('upserts delta incidents by id and keeps the others', () => {
    const { state } = play([
      hello,
      withIncidents(snapshot(1), [incident(1), incident(2, { severity: 'degraded', title: 'A81001 is degraded' })]),
      withIncidents(delta(2, []), [incident(2, { severity: 'down', title: 'A81001 is down' }), incident(3)]),
    ]);
    expect(Object.keys(state.incidents).sort()).toEqual(['1', '2', '3']);
    expect(state.incidents[2]).toMatchObject({ severity: 'down', title: 'A81001 is down' });
    expect(state.incidents[1]).toEqual(incident(1));
  });

  it('drops an incident from the open list when a delta says it is resolved', () => {
    const { state } = play([
      hello,
      withIncidents(snapshot(1), [incident(1), incident(2)]),
      withIncidents(delta(2, []), [incident(1, { status: 'resolved', resolvedAt: at(T0 + 5000) })]),
    ]);
    expect(Object.keys(state.incidents)).toEqual(['2']);
  });

  it('never lists a resolved incident, even one it never saw open', () => {
    const { state } = play([hello, snapshot(1), withIncidents(delta(2, []), [incident(9, { status: 'resolved' })])]);
    expect(state.incidents).toEqual({});
  });

  it('ignores incidents in deltas while awaiting a snapshot, like everything else', () => {
    const old = play([hello, withIncidents(snapshot(1), [incident(1)])]).state;
    const step = reduce(connected(old, T0 + 60_000), withIncidents(delta(1, []), [incident(1, { status: 'resolved' })]), T0 + 60_001);
    expect(Object.keys(step.state.incidents)).toEqual(['1']);
  });
});

describe('connection state', () => {
  const live = play([hello, snapshot(1)]).state; // lastMessageAt = T0 + 1

  it('is live within two heartbeats of the last message and stale after', () => {
    expect(connectionState(live, OPEN, T0 + 1 + 2 * HB)).toBe('live');
    expect(connectionState(live, OPEN, T0 + 2 + 2 * HB)).toBe('stale');
  });

  it('a heartbeat keeps it live', () => {
    const beat = reduce(live, heartbeat(2), T0 + 9_000).state;
    expect(connectionState(beat, OPEN, T0 + 15_000)).toBe('live');
    expect(connectionState(beat, OPEN, T0 + 19_001)).toBe('stale');
  });

  it('is stale while waiting for a resync snapshot, however recent the last message', () => {
    const gap = reduce(live, heartbeat(5), T0 + 2).state;
    expect(connectionState(gap, OPEN, T0 + 3)).toBe('stale');
  });

  it('is connecting before any data and offline once an attempt has failed', () => {
    const none = initialFeed();
    expect(connectionState(none, { phase: 'connecting', lastAttemptFailed: false }, T0)).toBe('connecting');
    expect(connectionState(none, { phase: 'open', lastAttemptFailed: false }, T0)).toBe('connecting');
    expect(connectionState(none, { phase: 'connecting', lastAttemptFailed: true }, T0)).toBe('offline');
  });

  it('with data: stale while reconnecting, offline once a reconnect has failed', () => {
    expect(connectionState(live, { phase: 'closed', lastAttemptFailed: false }, T0 + 2)).toBe('stale');
    expect(connectionState(live, { phase: 'connecting', lastAttemptFailed: false }, T0 + 2)).toBe('stale');
    expect(connectionState(live, { phase: 'connecting', lastAttemptFailed: true }, T0 + 2)).toBe('offline');
  });

  it('reconnects an open socket that stays silent for two heartbeats, counting from when it opened', () => {
    expect(shouldReconnect(live, OPEN, T0 + 1 + 2 * HB)).toBe(false);
    expect(shouldReconnect(live, OPEN, T0 + 2 + 2 * HB)).toBe(true);
    expect(shouldReconnect(live, { phase: 'connecting', lastAttemptFailed: false }, T0 + 60_000)).toBe(false);
    const fresh = connected(live, T0 + 60_000);
    expect(shouldReconnect(fresh, OPEN, T0 + 60_000 + 2 * HB)).toBe(false);
    expect(shouldReconnect(fresh, OPEN, T0 + 60_001 + 2 * HB)).toBe(true);
  });
});

describe('reconnect delay', () => {
  it('grows exponentially, is capped, and is never immediate', () => {
    const backoff = { baseMs: 1000, capMs: 30_000 };
    expect(reconnectDelay(0, 0, backoff)).toBe(500);
    expect(reconnectDelay(0, 0.999, backoff)).toBeLessThanOrEqual(1000);
    expect(reconnectDelay(3, 0, backoff)).toBe(4000);
    expect(reconnectDelay(20, 0, backoff)).toBe(15_000);
    expect(reconnectDelay(20, 0.999, backoff)).toBeLessThanOrEqual(30_000);
  });

  it('spreads clients by jitter', () => {
    expect(reconnectDelay(4, 0.1)).not.toBe(reconnectDelay(4, 0.9));
  });
});

describe('parsing server messages', () => {
  it('accepts the protocol messages', () => {
    for (const message of [hello, snapshot(1), delta(2, []), heartbeat(3)]) {
      expect(parseServerMessage(JSON.stringify(message))).toEqual(message);
    }
  });

  it('reads a snapshot or delta without incidents (an older server) as having none', () => {
    const { incidents: _none, ...old } = snapshot(1) as Extract<LiveServerMessage, { type: 'snapshot' }>;
    expect(parseServerMessage(JSON.stringify(old))).toEqual(snapshot(1));
    expect(parseServerMessage(JSON.stringify({ ...old, incidents: 'none' }))).toBeNull();
  });

  it('drops what is not one of them', () => {
    expect(parseServerMessage('not json')).toBeNull();
    expect(parseServerMessage('[]')).toBeNull();
    expect(parseServerMessage('{"type":"delta","seq":"8"}')).toBeNull();
    expect(parseServerMessage('{"type":"hello","protocol":1,"heartbeatMs":0}')).toBeNull();
    expect(parseServerMessage('{"type":"surprise","seq":1}')).toBeNull();
  });
});

describe('self-monitoring', () => {
  it('carries whether Pulse’s own probes are reporting, from snapshots and heartbeats', () => {
    const { state } = play([hello, snapshot(1), { type: 'heartbeat', seq: 2, at: at(T0 + 2000), probes: 'quiet' }]);
    expect(state.probes).toBe('quiet');
    const back = play([hello, snapshot(1), { type: 'heartbeat', seq: 2, at: at(T0 + 2000), probes: 'ok' }]);
    expect(back.state.probes).toBe('ok');
  });

  const WHY = "Pulse's probes in local are overloaded: 4.6 s behind";
  const impairedSnapshot = (seq: number, impaired: string | null | undefined): LiveServerMessage => ({
    ...(snapshot(seq) as Extract<LiveServerMessage, { type: 'snapshot' }>),
    probes: 'impaired',
    ...(impaired === undefined ? {} : { impaired }),
  });
  const impairedBeat = (seq: number, impaired: string | null | undefined): LiveServerMessage => ({
    type: 'heartbeat',
    seq,
    at: at(T0 + seq * 1000),
    probes: 'impaired',
    ...(impaired === undefined ? {} : { impaired }),
  });

  it('starts with Pulse seeing, nothing impaired', () => {
    expect(initialFeed()).toMatchObject({ probes: 'ok', impaired: null });
  });

  it('carries Pulse’s impairment and why from a snapshot, in the server’s words', () => {
    const { state } = play([hello, impairedSnapshot(1, WHY)]);
    expect(state.probes).toBe('impaired');
    expect(state.impaired).toBe(WHY);
    // Still live, and nothing else about the data changes: impaired is not stale.
    expect(connectionState(state, OPEN, T0 + 2)).toBe('live');
    expect(Object.keys(state.practices ?? {})).toEqual(['A81001', 'A81002']);
  });

  it('takes the newest reason from each heartbeat, and forgets it once Pulse sees again', () => {
    const { state } = play([hello, snapshot(1), impairedBeat(2, WHY), impairedBeat(3, "Pulse's probes in local are overloaded: 5.1 s behind")]);
    expect(state.probes).toBe('impaired');
    expect(state.impaired).toBe("Pulse's probes in local are overloaded: 5.1 s behind");
    const back = play([hello, snapshot(1), impairedBeat(2, WHY), heartbeat(3)]);
    expect(back.state.probes).toBe('ok');
    expect(back.state.impaired).toBeNull();
  });

  it('keeps a reason only while impaired: one sent with another state is ignored', () => {
    const quiet: LiveServerMessage = { type: 'heartbeat', seq: 2, at: at(T0 + 2000), probes: 'quiet', impaired: WHY };
    const { state } = play([hello, impairedSnapshot(1, WHY), quiet]);
    expect(state).toMatchObject({ probes: 'quiet', impaired: null });
  });

  it('is impaired without a reason when the server gives none, an empty one or not a string', () => {
    expect(play([hello, impairedSnapshot(1, undefined)]).state).toMatchObject({ probes: 'impaired', impaired: null });
    expect(play([hello, impairedSnapshot(1, null)]).state).toMatchObject({ probes: 'impaired', impaired: null });
    expect(play([hello, impairedSnapshot(1, '   ')]).state).toMatchObject({ probes: 'impaired', impaired: null });
    const odd = parseServerMessage(JSON.stringify({ type: 'heartbeat', seq: 2, at: at(T0 + 2000), probes: 'impaired', impaired: 42 }));
    expect(odd).not.toBeNull();
    expect(play([hello, snapshot(1), odd!]).state).toMatchObject({ probes: 'impaired', impaired: null });
  });

  it('reads the impairment through the socket edge, snapshot and heartbeat', () => {
    const snap = parseServerMessage(JSON.stringify(impairedSnapshot(1, WHY)));
    const beat = parseServerMessage(JSON.stringify(impairedBeat(2, WHY)));
    expect(snap).toMatchObject({ type: 'snapshot', probes: 'impaired', impaired: WHY });
    expect(beat).toMatchObject({ type: 'heartbeat', probes: 'impaired', impaired: WHY });
    expect(play([hello, snap!, beat!]).state).toMatchObject({ seq: 2, probes: 'impaired', impaired: WHY });
  });

  it('ignores an impaired heartbeat out of sequence (it asks for a snapshot instead)', () => {
    const { state, actions } = play([hello, snapshot(1), impairedBeat(3, WHY)]);
    expect(actions.at(-1)).toBe('resync');
    expect(state).toMatchObject({ probes: 'ok', impaired: null });
  });

  it('a server from before self-monitoring (no probes at all) reads as ok', () => {
    const { probes: _p, ...old } = snapshot(1) as Extract<LiveServerMessage, { type: 'snapshot' }>;
    const parsed = parseServerMessage(JSON.stringify(old));
    expect(play([hello, parsed!]).state).toMatchObject({ probes: 'ok', impaired: null });
  });
});
