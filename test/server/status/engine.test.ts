import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { parseEstate } from '../../../server/config/estate';
import { StatusEngine } from '../../../server/status/engine';
import { causeText } from '../../../server/status/types';

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
services:
  - id: hscn
    name: HSCN
    kind: network
    checks: [{ id: hscn-tcp, kind: tcp, target: "127.0.0.1:9" }]
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    dependsOn: [{ service: hscn }]
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }]
  - id: systmone
    name: SystmOne
    kind: clinical-system
    checks: [{ id: s1-api, kind: http, target: "http://127.0.0.1:9/" }]
practices:
  - { ods: A00001, name: One, pcn: P1, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: Two, pcn: P1, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Three, pcn: P2, system: systmone, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
`;
const ALL = ['hscn-tcp', 'emis-api', 's1-api', 'gw1', 'gw2', 'gw3'];

const ok = (checkId: string, at: number): CheckResult => ({ ok: true, checkId, at, location: 'l', latencyMs: 5 });
const bad = (checkId: string, at: number): CheckResult => ({
  ok: false,
  checkId,
  at,
  location: 'l',
  latencyMs: 1,
  error: 'refused',
  detail: 'connection refused',
});

function healthyEngine() {
  const engine = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
  engine.ingest(ALL.map((id) => ok(id, 1_000)));
  engine.recompute(1_000);
  return engine;
}

describe('status engine', () => {
  it('starts every subject unknown, then up once every check has reported', () => {
    const engine = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
    engine.recompute(0);
    expect(engine.status('practice:A00001')!.status).toBe('unknown');
    engine.ingest(ALL.map((id) => ok(id, 1_000)));
    const changes = engine.recompute(1_000);
    expect(changes.map((c) => `${c.subject}:${c.to}`).sort()).toEqual(
      ['practice:A00001:up', 'practice:A00002:up', 'practice:B00003:up', 'service:emis-web:up', 'service:hscn:up', 'service:systmone:up'],
    );
  });

  it('takes every EMIS practice down with cause upstream: emis-web, and leaves the others up', () => {
    const engine = healthyEngine();
    engine.ingest([bad('emis-api', 2_000)]);
    // One failure is not an outage: the service is suspected, visible but not down, and its
    // practices do not flicker.
    expect(engine.recompute(2_000).map((c) => `${c.subject}:${c.to}`)).toEqual(['service:emis-web:suspected']);
    engine.ingest([bad('emis-api', 3_000), ...['hscn-tcp', 's1-api', 'gw1', 'gw2', 'gw3'].map((id) => ok(id, 3_000))]);
    const changes = engine.recompute(3_000);
    expect(changes.map((c) => `${c.subject}:${c.to}`)).toEqual([
      'service:emis-web:down',
      'practice:A00001:down',
      'practice:A00002:down',
    ]);
    expect(causeText(engine.status('practice:A00001')!.cause)).toBe('upstream: emis-web');
    expect(engine.status('practice:B00003')!.status).toBe('up');
    expect(engine.practicesAffected().get('emis-web')).toBe(2);

    engine.ingest([ok('emis-api', 4_000)]);
    expect(engine.recompute(4_000).map((c) => `${c.subject}:${c.to}`)).toEqual([
      'service:emis-web:up',
      'practice:A00001:up',
      'practice:A00002:up',
    ]);
    expect(engine.status('practice:A00001')!.since).toBe(4_000);
  });

  it('propagates through service dependencies: HSCN down takes EMIS Web and its practices down', () => {
    const engine = healthyEngine();
    engine.ingest([bad('hscn-tcp', 2_000), bad('hscn-tcp', 3_000)]);
    engine.recompute(3_000);
    expect(engine.status('service:emis-web')!.status).toBe('down');
    expect(engine.status('practice:A00002')!.status).toBe('down');
    expect(engine.practicesAffected().get('hscn')).toBe(2);
    expect(engine.status('practice:B00003')!.status).toBe('up');
  });

  it('turns a practice unknown when its checks go silent, without any new result', () => {
    const engine = healthyEngine();
    // Stale after 2 × 10 s + 2 s; keep the services fresh.
    engine.ingest(['hscn-tcp', 'emis-api', 's1-api', 'gw2', 'gw3'].map((id) => ok(id, 20_000)));
    engine.recompute(20_000);
    const changes = engine.recompute(23_001);
    expect(changes.map((c) => `${c.subject}:${c.to}`)).toEqual(['practice:A00001:unknown']);
    expect(causeText(engine.status('practice:A00001')!.cause)).toBe('check gw1: no result for 22 s');
  });

  it('changes nothing for a result that changes nothing shown, and carries a failing check\'s new words into the cause', () => {
    const engine = healthyEngine();
    // Up again with another latency: the detail of an up check is in no cause.
    engine.ingest([{ ...ok('gw1', 2_000), latencyMs: 40 }]);
    expect(engine.recompute(2_000)).toEqual([]);
    const confirm = (at: number, detail: string) => {
      engine.ingest(ALL.filter((id) => id !== 'gw1').map((id) => ok(id, at)));
      engine.ingest([{ ...bad('gw1', at), detail }]);
      return engine.recompute(at);
    };
    confirm(3_000, 'connection refused');
    confirm(4_000, 'connection refused');
    confirm(5_000, 'connection refused');
    expect(engine.status('practice:A00001')!.status).toBe('down');
    // The same failure again: nothing to tell anyone.
    expect(confirm(6_000, 'connection refused')).toEqual([]);
    // Another failure: the same status with a new cause.
    const changes = confirm(7_000, 'timed out after 2000 ms');
    expect(changes.map((c) => `${c.subject}:${c.from}->${c.to}`)).toEqual(['practice:A00001:down->down']);
    expect(causeText(engine.status('practice:A00001')!.cause)).toBe('check gw1: timed out after 2000 ms');
  });

  it('counts results for checks it does not know, and ignores them', () => {
    const engine = healthyEngine();
    expect(engine.ingest([ok('nope', 2_000), ok('gw1', 2_000)])).toEqual({ accepted: 1, unknown: 1 });
  });
});

describe('status engine with several probe locations', () => {
  const quorumEstate = () => parseEstate(ESTATE.replace('defaults: { interval: 10s, timeout: 2s }', 'defaults: { interval: 10s, timeout: 2s }\nstatus: { quorum: 2 }'), 'e.yaml');
  const from = (location: string, r: CheckResult): CheckResult => ({ ...r, location });

  it('shows suspected, not down, when one of three locations is cut off, and flags that location', () => {
    const engine = new StatusEngine(quorumEstate(), 0);
    for (const loc of ['leeds', 'york', 'hull']) engine.ingest(ALL.map((id) => from(loc, ok(id, 1_000))));
    engine.recompute(1_000);
    expect(engine.status('practice:A00001')!.status).toBe('up');

    // Hull loses its own network: every check fails from there, twice in a row.
    for (const at of [2_000, 3_000]) {
      engine.ingest(ALL.map((id) => from('hull', bad(id, at))));
      engine.ingest(ALL.flatMap((id) => ['leeds', 'york'].map((loc) => from(loc, ok(id, at)))));
    }
    engine.recompute(3_000);
    expect(engine.status('practice:A00001')!.status).toBe('suspected');
    expect(engine.status('service:emis-web')!.status).toBe('suspected');
    // The practice is suspected on its own gateway check, not because of EMIS Web.
    expect(causeText(engine.status('practice:A00001')!.cause)).toMatch(/^check gw1:/);
    expect(engine.checkStatus('gw1', 3_000)!.detail).toBe('connection refused (failing from 1 of 3 locations: hull; quorum 2)');
    const hull = engine.locations(3_000).find((l) => l.location === 'hull')!;
    expect(hull).toEqual({ location: 'hull', checks: ALL.length, failing: ALL.length, failingAlone: ALL.length, isolated: true });
    expect(engine.locations(3_000).filter((l) => l.isolated).map((l) => l.location)).toEqual(['hull']);
    expect(engine.locations(3_000).find((l) => l.location === 'leeds')!.failing).toBe(0);
  });

  it('goes down when the quorum of locations agree', () => {
    const engine = new StatusEngine(quorumEstate(), 0);
    for (const loc of ['leeds', 'york', 'hull']) engine.ingest(ALL.map((id) => from(loc, ok(id, 1_000))));
    engine.recompute(1_000);
    for (const at of [2_000, 3_000]) {
      engine.ingest(['leeds', 'york'].map((loc) => from(loc, bad('emis-api', at))));
      engine.ingest([from('hull', ok('emis-api', at))]);
    }
    engine.recompute(3_000);
    expect(engine.status('service:emis-web')!.status).toBe('down');
    expect(causeText(engine.status('practice:A00002')!.cause)).toBe('upstream: emis-web');
  });
});

describe('maintenance, people and flapping', () => {
  it('shows a service in a maintenance window as maintenance, its practices too, and ends by itself', () => {
    const engine = healthyEngine();
    engine.setMaintenance([
      { id: 'm1', subject: 'service:emis-web', start: 5_000, end: 9_000, author: 'EMIS', reason: 'annual failover test' },
    ]);
    expect(engine.recompute(4_000)).toEqual([]);
    engine.ingest(['emis-api', 'emis-api'].map((id, i) => bad(id, 5_000 + i)));
    engine.recompute(5_001);
    expect(engine.status('service:emis-web')!.status).toBe('maintenance');
    expect(causeText(engine.status('service:emis-web')!.cause)).toBe('maintenance until 1970-01-01T00:00:09.000Z: annual failover test');
    expect(engine.status('practice:A00001')!.status).toBe('maintenance');
    // The window ends with no new result: the failing check shows through again.
    engine.ingest(ALL.filter((id) => id !== 'emis-api').map((id) => ok(id, 8_500)));
    engine.recompute(9_000);
    expect(engine.status('service:emis-web')!.status).toBe('down');
    expect(engine.status('practice:A00001')!.status).toBe('down');
  });

  it('takes a practice down on a person’s report before any probe sees it, and back on “we’re back”', () => {
    const engine = healthyEngine();
    engine.setReport('B00003', { state: 'down', by: 'Jane Smith (practice manager)', note: 'phones and clinical system down', at: 1_500 });
    engine.recompute(1_600);
    expect(engine.status('practice:B00003')!.status).toBe('down');
    expect(causeText(engine.status('practice:B00003')!.cause)).toBe(
      'reported down by Jane Smith (practice manager) at 00:00 UTC: phones and clinical system down',
    );
    engine.setReport('B00003', null);
    engine.recompute(1_700);
    expect(engine.status('practice:B00003')!.status).toBe('up');
  });

  it('holds a flapping check at degraded instead of toggling, until it fails steadily', () => {
    const engine = healthyEngine();
    let at = 2_000;
    const changes: string[][] = [];
    for (let i = 0; i < 8; i++) {
      engine.ingest([i % 2 === 0 ? bad('gw3', at) : ok('gw3', at)]);
      changes.push(engine.recompute(at).map((c) => `${c.subject}:${c.to}`));
      at += 1_000;
    }
    expect(engine.status('practice:B00003')!.status).toBe('degraded');
    expect(engine.checkStatus('gw3', at)!.detail).toMatch(/^flapping: 6 changes in 10 min/);
    // Once flapping, it stays degraded rather than toggling.
    expect(changes.slice(-2)).toEqual([[], []]);
    for (let i = 0; i < 4; i++) engine.ingest([bad('gw3', (at += 1_000))]);
    engine.recompute(at);
    expect(engine.status('practice:B00003')!.status).toBe('down');
  });
});

describe('results an impaired observer could not judge', () => {
  const OVERLOADED = "Pulse's probes in l are overloaded: 4.6 s behind";
  const impaired = (r: CheckResult): CheckResult => ({ ...r, impaired: OVERLOADED });

  it('turn the checks unknown with the reason, never down, however long it lasts; the next judged results count as before', () => {
    const engine = healthyEngine();
    let at = 1_000;
    for (let i = 0; i < 10; i++) {
      engine.ingest(ALL.map((id) => impaired(bad(id, (at += 1_000)))));
      engine.recompute(at);
      expect(engine.status('practice:A00001')!.status).toBe('unknown');
    }
    expect(engine.checkStatus('gw1', at)).toMatchObject({ status: 'unknown', detail: OVERLOADED, locations: [{ location: 'l', status: 'unknown', detail: OVERLOADED }] });
    expect(causeText(engine.status('service:systmone')!.cause)).toBe(`check s1-api: ${OVERLOADED}`);
    // Judged again: up at once (the failures were no evidence), one real failure is only suspected.
    engine.ingest([...ALL.filter((id) => id !== 'gw3').map((id) => ok(id, at + 1_000)), bad('gw3', at + 1_000)]);
    engine.recompute(at + 1_000);
    expect(engine.status('practice:A00001')!.status).toBe('up');
    expect(engine.status('practice:B00003')!.status).toBe('suspected');
  });

  it('do not outvote a location that can judge: an impaired location is not fresh for the quorum', () => {
    const engine = new StatusEngine(parseEstate(ESTATE.replace('defaults: { interval: 10s, timeout: 2s }', 'defaults: { interval: 10s, timeout: 2s }\nstatus: { quorum: 2 }'), 'e.yaml'), 0);
    for (const location of ['leeds', 'york']) engine.ingest(ALL.map((id) => ({ ...ok(id, 1_000), location })));
    for (const at of [2_000, 3_000]) engine.ingest([{ ...impaired(bad('gw1', at)), location: 'leeds' }, { ...ok('gw1', at), location: 'york' }]);
    engine.recompute(3_000);
    expect(engine.checkStatus('gw1', 3_000)!.status).toBe('up');
    expect(engine.locations(3_000).find((l) => l.location === 'leeds')!.failing).toBe(0);
  });
});

describe('contributions by source (the worker token a result came in with)', () => {
  it('forgets every state a revoked token contributed: its checks go unknown now, the others stay', () => {
    const engine = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
    engine.ingest(ALL.filter((id) => id !== 'gw1').map((id) => ok(id, 1_000)), 'shared');
    engine.ingest([ok('gw1', 1_000)], 'token:7');
    engine.recompute(1_000);
    expect(engine.status('practice:A00001')!.status).toBe('up');
    expect([...engine.sources()].sort()).toEqual(['shared', 'token:7']);

    expect(engine.forgetSource('token:7')).toBe(1);
    const changes = engine.recompute(1_500);
    expect(changes.map((c) => `${c.subject}:${c.to}`)).toEqual(['practice:A00001:unknown']);
    expect(engine.checkStatus('gw1', 1_500)!).toMatchObject({ status: 'unknown', lastAt: null, locations: [] });
    expect(engine.status('practice:A00002')!.status).toBe('up');
    expect([...engine.sources()]).toEqual(['shared']);
  });

  it('keeps the source through a snapshot, so a token revoked while Pulse was down is forgotten on restore', () => {
    const engine = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
    engine.ingest(ALL.filter((id) => id !== 'gw2').map((id) => ok(id, 1_000)), 'shared');
    engine.ingest([ok('gw2', 1_000)], 'token:9');
    engine.recompute(1_000);
    const snapshot = JSON.parse(JSON.stringify(engine.exportState()));
    expect(snapshot.version).toBe(2);

    const restored = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 2_000);
    restored.importState(snapshot);
    expect(restored.retainSources((source) => source === 'shared')).toBe(1);
    restored.recompute(2_000);
    expect(restored.status('practice:A00002')!.status).toBe('unknown');
    expect(restored.status('practice:A00001')!.status).toBe('up');
  });

  it('still reads a version 1 snapshot (no sources): its states count as the shared token’s', () => {
    const engine = healthyEngine();
    const v2 = engine.exportState();
    const v1 = { ...v2, version: 1, checks: v2.checks.map(([id, location, state]) => [id, location, state]) };
    const restored = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 2_000);
    restored.importState(v1 as never);
    restored.recompute(2_000);
    expect(restored.status('practice:A00001')!.status).toBe('up');
    expect([...restored.sources()]).toEqual(['shared']);
  });

  it('does not let a restored state dated in the future keep a check up', () => {
    const engine = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
    engine.ingest(ALL.map((id) => ok(id, Date.UTC(3000, 0, 1))));
    const restored = new StatusEngine(parseEstate(ESTATE, 'e.yaml'), 0);
    restored.importState(engine.exportState());
    restored.recompute(10_000);
    expect(restored.status('practice:A00001')!.status).toBe('unknown');
    restored.ingest(['gw1', 'gw1'].map((id, i) => bad(id, 11_000 + i)));
    restored.recompute(11_001);
    expect(restored.checkStatus('gw1', 11_001)!.status).toBe('down');
  });
});
