// Practices failing on their own checks together across the estate (the July 2024 day): one
// `estate:endpoints` incident that takes over the practice and PCN incidents, keeps the rules
// for smaller clusters, resolves with its members, and asks `describe` for its words. The
// grouping rules are tested without the group wait (`trackerAtOnce`), so that practice and PCN
// incidents open in the update that makes them and the folding is seen; the wait itself is
// groupwait.test.ts's.
import { describe, expect, it } from 'vitest';
import type { DescribeIncident } from '../../../server/incidents/tracker';
import type { SubjectState } from '../../../server/incidents/types';
import { EventFold, checks, practice, service, trackerAtOnce } from './fixtures';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

/** 40 practices in 9 PCNs (5 in the first four, 4 in the others), ODS E00101…E00904. */
const PCNS = Array.from({ length: 9 }, (_, i) => `PCN ${i + 1}`);
const ESTATE = PCNS.flatMap((pcn, i) => Array.from({ length: i < 4 ? 5 : 4 }, (_, j) => ({ ods: `E00${i + 1}0${j + 1}`, pcn })));

/** Workstations silent (its fleet check), and for every third practice its gateway hanging too. */
function failing(ods: string, pcn: string): SubjectState {
  const n = Number(ods.slice(-1));
  const cause = {
    kind: 'checks' as const,
    checks: [
      { id: `${ods}-fleet`, status: 'down' as const, detail: '9 of 12 workstations silent (75%)' },
      ...(n % 3 === 0 ? [{ id: `${ods}-gateway`, status: 'down' as const, detail: 'timeout after 5 s' }] : []),
    ],
  };
  return practice(ods, 'down', cause, pcn);
}
const gateway = (ods: string, pcn: string) => practice(ods, 'down', checks(`${ods}-gateway`, 'status 503, expected 2xx'), pcn);
const up = (ods: string, pcn: string) => practice(ods, 'up', null, pcn);

/** The day as it arrives: the first PCN's practices first (a PCN incident), then the rest, 5 every 30 s. */
function july(tracker: ReturnType<typeof trackerAtOnce>, fold: EventFold): number {
  let now = T0;
  for (let i = 0; i < ESTATE.length; i += 5) {
    fold.apply(tracker.update(now, ESTATE.slice(i, i + 5).map((p) => failing(p.ods, p.pcn))));
    now += 30_000;
  }
  return now;
}

const kinds = (tracker: ReturnType<typeof trackerAtOnce>) => tracker.open().map((i) => `${i.kind}:${i.affected.length}`);

describe('incident tracker: practices failing together across the estate', () => {
  it('makes 40 practices in 9 PCNs failing locally within minutes exactly one open incident listing all of them', () => {
    const tracker = trackerAtOnce();
    const fold = new EventFold();
    fold.apply(tracker.update(T0, ESTATE.slice(0, 3).map((p) => failing(p.ods, p.pcn))));
    expect(kinds(tracker)).toEqual(['pcn:3']); // a smaller cluster first: the PCN rule
    july(tracker, fold);

    const open = tracker.open();
    expect(open).toHaveLength(1);
    const [incident] = open;
    expect(incident).toMatchObject({
      key: 'estate:endpoints',
      kind: 'endpoints',
      status: 'open',
      severity: 'down',
      title: 'Workstations silent and gateways not answering across 40 practices in 9 PCNs',
      finding: null,
      peakAffected: 40,
    });
    expect(incident!.affected).toEqual(ESTATE.map((p) => p.ods).sort());
    for (const p of ESTATE) expect(tracker.forSubject(`practice:${p.ods}`)?.key).toBe('estate:endpoints');
    expect(fold.open()).toEqual(open);

    // What it took over resolved pointing at it, and its timeline lists them.
    const folded = [...fold.incidents.values()].filter((i) => i.id !== incident!.id);
    expect(folded.length).toBeGreaterThan(0);
    for (const old of folded) {
      expect(old.status).toBe('resolved');
      expect(old.timeline.slice(-2).map((e) => e.text)).toEqual([
        `grouped into incident #${incident!.id}: practices failing together across the estate`,
        `resolved: grouped into incident #${incident!.id}`,
      ]);
    }
    const tookOver = incident!.timeline.find((e) => e.type === 'grouped')!.text;
    for (const old of folded) expect(tookOver).toContain(`#${old.id} (${old.affected.join(', ')})`);
  });

  it('opens the estate incident once 8 practices in 3 PCNs have started within 10 minutes, not before', () => {
    const tracker = trackerAtOnce();
    const seven = [...ESTATE.slice(0, 5), ESTATE[5]!, ESTATE[10]!]; // 7 practices in 3 PCNs
    tracker.update(T0, seven.map((p) => gateway(p.ods, p.pcn)));
    expect(kinds(tracker)).toEqual(['pcn:5', 'practice:1', 'practice:1']);
    const eightInTwo = trackerAtOnce();
    eightInTwo.update(T0, [...ESTATE.slice(0, 5), ...ESTATE.slice(5, 8)].map((p) => gateway(p.ods, p.pcn)));
    expect(kinds(eightInTwo)).toEqual(['pcn:5', 'pcn:3']);

    tracker.update(T0 + 9 * MIN, [gateway(ESTATE[15]!.ods, ESTATE[15]!.pcn)]);
    expect(kinds(tracker)).toEqual(['endpoints:8']);
    expect(tracker.open()[0]!.title).toBe('Gateways not answering across 8 practices in 4 PCNs');
  });

  it('leaves out practices that started failing before the window, and takes later failures in while open', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [gateway('A00001', 'Old PCN')]);
    const wave = ESTATE.slice(0, 12);
    tracker.update(T0 + 30 * MIN, wave.map((p) => failing(p.ods, p.pcn)));
    expect(tracker.open().map((i) => [i.key, i.affected.length])).toEqual([
      ['practice:A00001', 1],
      ['estate:endpoints', 12],
    ]);
    // Later: a practice of a PCN not yet in it, and hours later one more, still join.
    tracker.update(T0 + 45 * MIN, [failing(ESTATE[39]!.ods, ESTATE[39]!.pcn)]);
    tracker.update(T0 + 300 * MIN, [gateway('Z00001', 'Elsewhere PCN')]);
    expect(tracker.forSubject('practice:Z00001')?.key).toBe('estate:endpoints');
    expect(tracker.open()[1]!.affected).toHaveLength(14);
  });

  it('still gives one practice failing alone its own incident, and a PCN of 3 alone a PCN incident', () => {
    const alone = trackerAtOnce();
    alone.update(T0, [failing('E00101', 'PCN 1')]);
    expect(alone.open().map((i) => [i.key, i.kind])).toEqual([['practice:E00101', 'practice']]);

    const pcn = trackerAtOnce();
    pcn.update(T0, ESTATE.slice(0, 3).map((p) => failing(p.ods, p.pcn)));
    expect(pcn.open().map((i) => [i.key, i.affected])).toEqual([['pcn:PCN 1', ['E00101', 'E00102', 'E00103']]]);
  });

  it('does not count practices down because of a shared service', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [
      service('emis-web', 'down', checks('emis-api', 'timeout')),
      ...ESTATE.map((p) => practice(p.ods, 'down', { kind: 'upstream', service: 'emis-web', impact: 'critical', status: 'down', via: null }, p.pcn)),
    ]);
    expect(kinds(tracker)).toEqual(['service:40']);
  });

  it('resolves when its practices recover, held open while any is only recovering or unknown', () => {
    const tracker = trackerAtOnce();
    const fold = new EventFold();
    const end = july(tracker, fold);
    const [first, ...rest] = ESTATE;
    fold.apply(tracker.update(end + MIN, [...rest.map((p) => up(p.ods, p.pcn)), practice(first!.ods, 'unknown', null, first!.pcn)]));
    expect(tracker.open().map((i) => [i.kind, i.affected])).toEqual([['endpoints', [first!.ods]]]);
    const events = tracker.update(end + 2 * MIN, [up(first!.ods, first!.pcn)]);
    fold.apply(events);
    expect(tracker.open()).toEqual([]);
    const resolved = [...fold.incidents.values()].find((i) => i.kind === 'endpoints')!;
    expect(resolved).toMatchObject({ status: 'resolved', peakAffected: 40 });
    expect(resolved.timeline.at(-1)!.text).toMatch(/^resolved after \d+ min; peak 40 practices affected$/);
    // A practice failing afterwards is on its own again.
    tracker.update(end + 3 * MIN, [failing(first!.ods, first!.pcn)]);
    expect(kinds(tracker)).toEqual(['practice:1']);
  });

  it('takes over a PCN incident without the member that now fails because of a service', () => {
    const tracker = trackerAtOnce({ endpoints: { practices: 3, pcns: 2, windowMs: 5 * MIN } });
    tracker.update(T0, [gateway('B00001', 'P2'), gateway('B00002', 'P2'), gateway('B00003', 'P2')]);
    expect(kinds(tracker)).toEqual(['pcn:3']);
    const emis = { kind: 'upstream' as const, service: 'emis-web', impact: 'critical' as const, status: 'down' as const, via: null };
    tracker.update(T0 + 1000, [service('emis-web', 'down', checks('emis-api', 'timeout')), practice('B00001', 'down', emis, 'P2'), gateway('A00001', 'P1')]);
    expect(tracker.open().map((i) => [i.key, i.affected])).toEqual([
      ['estate:endpoints', ['A00001', 'B00002', 'B00003']],
      ['service:emis-web', ['B00001']],
    ]);
  });

  it('takes its thresholds from the options', () => {
    const tracker = trackerAtOnce({ endpoints: { practices: 4, pcns: 2, windowMs: 5 * MIN }, pcnThreshold: 5 });
    tracker.update(T0, [gateway('A00001', 'P1'), gateway('A00002', 'P1'), gateway('B00001', 'P2')]);
    expect(kinds(tracker)).toEqual(['practice:1', 'practice:1', 'practice:1']);
    tracker.update(T0 + 6 * MIN, [gateway('B00002', 'P2')]); // the first three started more than 5 min ago
    expect(kinds(tracker)).toHaveLength(4);
    tracker.update(T0 + 7 * MIN, [gateway('C00001', 'P3'), gateway('C00002', 'P3'), gateway('C00003', 'P3')]);
    expect(kinds(tracker)).toEqual(['practice:1', 'practice:1', 'practice:1', 'endpoints:4']);
  });
});

describe('incident tracker: describing a group', () => {
  it('uses the title and finding it is given, asking again at most every describeEveryMs', () => {
    const calls: [string, number][] = [];
    const describeIt: DescribeIncident = (key, ods) => {
      calls.push([key, ods.length]);
      if (key !== 'estate:endpoints') return {};
      return {
        title: `Workstations failing across ${ods.length} practices — 70% of agents silent`,
        finding: ods.length < 20 ? null : `94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)`,
      };
    };
    const tracker = trackerAtOnce({ describe: describeIt, describeEveryMs: 60_000 });
    const fold = new EventFold();
    const end = july(tracker, fold); // 8 updates over 3.5 minutes
    const estateCalls = calls.filter(([key]) => key === 'estate:endpoints');
    expect(estateCalls.length).toBeLessThanOrEqual(5); // opened, then at most once a minute
    const incident = tracker.open()[0]!;
    expect(incident.title).toBe(`Workstations failing across ${estateCalls.at(-1)![1]} practices — 70% of agents silent`);

    // The membership change still waiting is described once the interval has passed, even with nothing new.
    fold.apply(tracker.update(end + 2 * MIN, []));
    const latest = tracker.open()[0]!;
    expect(latest.title).toBe('Workstations failing across 40 practices — 70% of agents silent');
    expect(latest.finding).toBe('94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)');
    const n = calls.length;
    fold.apply(tracker.update(end + 2 * MIN + 30_000, []));
    expect(calls.length).toBe(n); // within the interval: not asked
    fold.apply(tracker.update(end + 10 * MIN, []));
    expect(calls.slice(n)).toEqual([['estate:endpoints', 40]]); // nothing changed, but the interval passed: asked again, once

    // The finding is on the timeline (coalesced: at most one entry a minute) and in what is persisted.
    fold.apply(tracker.update(end + 20 * MIN, []));
    const stored = fold.incidents.get(latest.id)!;
    expect(stored.finding).toBe(latest.finding);
    expect(stored.timeline.filter((e) => e.type === 'finding').map((e) => e.text)).toEqual([latest.finding]);
  });

  it('writes a finding entry when the finding changes and when it is withdrawn', () => {
    let finding: string | null = 'A';
    const tracker = trackerAtOnce({ describe: () => ({ finding }), describeEveryMs: 10_000 });
    tracker.update(T0, [failing('E00101', 'PCN 1')]);
    finding = 'B';
    tracker.update(T0 + 1000, [failing('E00102', 'PCN 2')]); // its own incident, new: asked about that one only
    expect(tracker.open().map((i) => i.finding)).toEqual(['A', 'B']);
    finding = null;
    tracker.update(T0 + 2 * MIN, [practice('E00101', 'down', checks('E00101-fleet', 'all silent'), 'PCN 1')]);
    expect(tracker.open().map((i) => i.finding)).toEqual([null, null]); // both asked again: the interval has passed
    const t = trackerAtOnce({ describe: () => ({ finding }), describeEveryMs: 0, pcnThreshold: 2 });
    finding = 'A';
    t.update(T0, [failing('E00101', 'PCN 1'), failing('E00102', 'PCN 1')]);
    finding = null;
    t.update(T0 + 2 * MIN, [failing('E00103', 'PCN 1')]);
    expect(t.open()[0]!.timeline.map((e) => [e.type, e.text])).toEqual([
      ['opened', 'Suspected common cause in PCN 1 — 2 practices failing locally'],
      ['finding', 'A'],
      ['affected', '3 practices affected (was 2)'],
      ['finding', 'finding withdrawn: nothing stands out any more'],
    ]);
    expect(t.open()[0]!.finding).toBeNull();
  });

  it('keeps tracking when describe throws', () => {
    const tracker = trackerAtOnce({
      describe: () => {
        throw new Error('boom');
      },
    });
    tracker.update(T0, ESTATE.slice(0, 15).map((p) => failing(p.ods, p.pcn)));
    expect(tracker.open().map((i) => i.title)).toEqual(['Workstations silent and gateways not answering across 15 practices in 3 PCNs']);
  });

  it('asks again every describeEveryMs while the incident is open although its practices do not change, and the new words land', () => {
    // The July day: the gateways fail first; the workstations fall silent only afterwards.
    let silent = false;
    const calls: number[] = [];
    const describeIt: DescribeIncident = (key, ods) => {
      calls.push(ods.length);
      if (key !== 'estate:endpoints' || !silent) return { title: '', finding: null };
      return {
        title: `Workstations failing across ${ods.length} practices in 9 PCNs — 70% of agents silent`,
        finding: '94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)',
      };
    };
    const tracker = trackerAtOnce({ describe: describeIt }); // describeEveryMs: the default, 10 s
    const fold = new EventFold();
    fold.apply(tracker.update(T0, ESTATE.map((p) => gateway(p.ods, p.pcn))));
    const [opened] = tracker.open();
    expect(opened).toMatchObject({ kind: 'endpoints', title: 'Gateways not answering across 40 practices in 9 PCNs', finding: null });
    expect(calls).toEqual([40]);

    silent = true; // only time passes: no practice changes from here on
    const seen: string[] = [];
    for (let s = 1; s <= 60; s++) {
      const events = tracker.update(T0 + s * 1000, []);
      fold.apply(events);
      for (const e of events) if (e.type === 'updated') seen.push(`${s}: ${e.incident.title}`);
    }
    expect(calls).toHaveLength(7); // at opening, then at 10, 20, … 60 s: not every tick
    expect(seen).toEqual(['10: Workstations failing across 40 practices in 9 PCNs — 70% of agents silent']);
    const [now] = tracker.open();
    expect(now!.finding).toBe('94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)');
    expect(fold.incidents.get(now!.id)).toMatchObject({ title: now!.title, finding: now!.finding });
    expect(now!.timeline.filter((e) => e.type === 'finding').map((e) => [e.at - T0, e.text])).toEqual([[60_000, now!.finding]]);
  });
});
