import { describe, expect, it } from 'vitest';
import type { IncidentEvent, SubjectState } from '../../../server/incidents/types';
import { EventFold, checks, odsList, practice, service, trackerAtOnce, upstream } from './fixtures';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

function emisOutage(odsCodes: string[]): SubjectState[] {
  return [service('emis-web', 'down', checks('emis-api', 'status 503, expected 2xx')), ...odsCodes.map((o) => practice(o, 'down', upstream('emis-web')))];
}

const local = (ods: string, pcn = 'Leeds Central PCN', status: 'down' | 'degraded' = 'down') =>
  practice(ods, status, checks(`${ods}-gateway`, 'status 503, expected 2xx', status), pcn);

const types = (events: IncidentEvent[]) => events.map((e) => (e.type === 'timeline' ? `timeline:${e.entry.type}` : e.type));

describe('incident tracker: grouping by root cause', () => {
  it('makes an EMIS Web outage of 42 practices exactly one incident with 42 affected', () => {
    const tracker = trackerAtOnce();
    const practices = odsList(42);
    const events = tracker.update(T0, emisOutage(practices));
    const open = tracker.open();
    expect(open).toHaveLength(1);
    const [incident] = open;
    expect(incident).toMatchObject({
      id: 1,
      key: 'service:emis-web',
      kind: 'service',
      title: 'EMIS Web down — 42 practices',
      status: 'open',
      severity: 'down',
      openedAt: T0,
      resolvedAt: null,
      peakAffected: 42,
    });
    expect(incident!.affected).toEqual(practices);
    expect(incident!.subjects).toHaveLength(43);
    expect(incident!.timeline).toEqual([{ at: T0, type: 'opened', text: 'EMIS Web down — 42 practices', count: 42 }]);
    expect(types(events)).toEqual(['opened', 'timeline:opened']);
    for (const ods of practices) expect(tracker.forSubject(`practice:${ods}`)?.id).toBe(1);
  });

  it('makes HSCN down one incident keyed service:hscn, not one for EMIS Web', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [
      service('hscn', 'down', checks('hscn-tcp', 'connection refused')),
      service('emis-web', 'down', upstream('hscn')),
      ...odsList(5).map((o) => practice(o, 'down', upstream('emis-web', 'hscn'))),
    ]);
    const open = tracker.open();
    expect(open.map((i) => i.key)).toEqual(['service:hscn']);
    expect(open[0]!.title).toBe('HSCN down — 5 practices');
    expect(open[0]!.subjects).toContain('service:emis-web');
    expect(tracker.forSubject('service:emis-web')?.key).toBe('service:hscn');
  });

  it('opens an incident for a national service down with no practices affected', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [service('nhs111-online', 'down', checks('111-api', 'timeout after 5 s'))]);
    expect(tracker.open().map((i) => [i.title, i.affected])).toEqual([['NHS 111 online down', []]]);
  });

  it('gives a practice failing on its own checks its own incident, titled with the failing check', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [practice('A81001', 'down', checks('A81001-gateway', 'status 503, expected 2xx'), 'Leeds Central PCN', 'Riverside Medical Practice')]);
    expect(tracker.open()).toMatchObject([
      {
        key: 'practice:A81001',
        kind: 'practice',
        title: 'Riverside Medical Practice (A81001) down: check A81001-gateway: status 503, expected 2xx',
        affected: ['A81001'],
      },
    ]);
  });

  it('moves a practice failing locally into a service outage that then takes it, resolving its own incident', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [local('A81001')]);
    tracker.update(T0 + MIN, emisOutage(['A81001', 'A81002']));
    expect(tracker.open().map((i) => [i.id, i.key, i.affected])).toEqual([[2, 'service:emis-web', ['A81001', 'A81002']]]);
    const old = tracker.get(1)!;
    expect(old.status).toBe('resolved');
    expect(old.timeline.at(-1)).toEqual({ at: T0 + MIN, type: 'resolved', text: 'resolved: now part of incident #2' });
  });

  it('raises nothing for maintenance, suspected, unknown or recovering', () => {
    const tracker = trackerAtOnce();
    const events = tracker.update(T0, [
      service('emis-web', 'maintenance'),
      ...(['maintenance', 'suspected', 'unknown', 'recovering', 'up'] as const).map((s, i) => practice(`A8000${i}`, s, upstream('emis-web'))),
      practice('B80001', 'suspected', checks('gw', 'status 503')),
    ]);
    expect(events).toEqual([]);
    expect(tracker.open()).toEqual([]);
  });
});

describe('incident tracker: suspected common cause in a PCN', () => {
  it('groups 3 practices of one PCN failing locally within 10 minutes into one pcn incident', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [local('A81001')]);
    tracker.update(T0 + 4 * MIN, [local('A81002'), local('B82001', 'Bradford North PCN')]);
    expect(tracker.open().map((i) => i.key)).toEqual(['practice:A81001', 'practice:A81002', 'practice:B82001']);

    const events = tracker.update(T0 + 10 * MIN, [local('A81003')]);
    const open = tracker.open();
    expect(open.map((i) => [i.id, i.key])).toEqual([
      [3, 'practice:B82001'],
      [4, 'pcn:Leeds Central PCN'],
    ]);
    const pcn = open[1]!;
    expect(pcn).toMatchObject({
      kind: 'pcn',
      title: 'Suspected common cause in Leeds Central PCN — 3 practices failing locally',
      affected: ['A81001', 'A81002', 'A81003'],
    });
    expect(pcn.timeline.map((e) => e.text)).toEqual([
      'Suspected common cause in Leeds Central PCN — 3 practices failing locally',
      'took over #1 (A81001), #2 (A81002)',
    ]);
    for (const id of [1, 2]) {
      const old = tracker.get(id)!;
      expect(old.status).toBe('resolved');
      expect(old.timeline.slice(-2).map((e) => [e.type, e.text])).toEqual([
        ['grouped', 'grouped into incident #4: suspected common cause in Leeds Central PCN'],
        ['resolved', 'resolved: grouped into incident #4'],
      ]);
    }
    expect(types(events)).toEqual(['resolved', 'timeline:grouped', 'timeline:resolved', 'resolved', 'timeline:grouped', 'timeline:resolved', 'opened', 'timeline:opened', 'timeline:grouped']);

    tracker.update(T0 + 30 * MIN, [local('A81004')]);
    expect(tracker.forSubject('practice:A81004')?.id).toBe(4);
  });

  it('takes practices that switch from a service outage to failing locally without marking the service incident grouped', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, emisOutage(['A81001', 'A81002']).map((s) => (s.key.startsWith('practice:') ? { ...s, pcn: 'Leeds Central PCN' } : s)));
    tracker.update(T0 + MIN, [local('A81001'), local('A81002'), local('A81003')]);
    expect(tracker.open().map((i) => [i.id, i.key, i.affected])).toEqual([
      [1, 'service:emis-web', []],
      [2, 'pcn:Leeds Central PCN', ['A81001', 'A81002', 'A81003']],
    ]);
    expect(tracker.get(1)!.timeline.map((e) => e.type)).toEqual(['opened', 'affected']);
    expect(tracker.get(2)!.timeline.map((e) => e.type)).toEqual(['opened']);
  });

  it('does not group practices whose failures start more than 10 minutes apart', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [local('A81001')]);
    tracker.update(T0 + 5 * MIN, [local('A81002')]);
    tracker.update(T0 + 10 * MIN + 1, [local('A81003')]);
    expect(tracker.open().map((i) => i.kind)).toEqual(['practice', 'practice', 'practice']);
  });

  it('counts only practices still failing, and only those failing on their own checks', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [local('A81001'), practice('A81002', 'down', upstream('emis-web')), service('emis-web', 'down', checks('emis-api', '503'))]);
    tracker.update(T0 + MIN, [practice('A81001', 'up', null)]);
    tracker.update(T0 + 2 * MIN, [local('A81003'), local('A81004')]);
    expect(tracker.open().map((i) => i.key)).toEqual(['service:emis-web', 'practice:A81003', 'practice:A81004']);
  });

  it('groups practices starting together in one tick, with the threshold configurable', () => {
    const tracker = trackerAtOnce({ pcnThreshold: 2 });
    tracker.update(T0, [local('A81001'), local('A81002'), local('C83001', 'Wakefield PCN')]);
    expect(tracker.open().map((i) => [i.key, i.affected.length])).toEqual([
      ['pcn:Leeds Central PCN', 2],
      ['practice:C83001', 1],
    ]);
    expect(tracker.get(1)!.timeline).toHaveLength(1); // opened straight into the group: no incidents to take over
  });

  it('resolves the pcn incident once every practice in it has recovered', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, ['A81001', 'A81002', 'A81003'].map((o) => local(o)));
    tracker.update(T0 + MIN, [practice('A81001', 'up', null), practice('A81002', 'up', null)]);
    expect(tracker.open()[0]!.title).toBe('Suspected common cause in Leeds Central PCN — 1 practice failing locally');
    tracker.update(T0 + 2 * MIN, [practice('A81003', 'up', null)]);
    expect(tracker.open()).toEqual([]);
  });
});

describe('incident tracker: lifecycle', () => {
  it('resolves the outage when the service and its practices are back up', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, emisOutage(odsList(3)));
    const events = tracker.update(T0 + 75 * MIN, [service('emis-web', 'up'), ...odsList(3).map((o) => practice(o, 'up', null))]);
    expect(tracker.open()).toEqual([]);
    expect(tracker.forSubject('practice:A80001')).toBeUndefined();
    const incident = tracker.get(1)!;
    expect(incident).toMatchObject({ status: 'resolved', resolvedAt: T0 + 75 * MIN, peakAffected: 3, affected: odsList(3) });
    expect(incident.timeline.at(-1)).toEqual({ at: T0 + 75 * MIN, type: 'resolved', text: 'resolved after 1 h 15 min; peak 3 practices affected' });
    expect(types(events)).toEqual(['resolved', 'timeline:resolved']);
  });

  it('keeps the incident open while members are recovering or unknown, not declaring recovery early', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, emisOutage(['A80001']));
    tracker.update(T0 + MIN, [service('emis-web', 'recovering', checks('emis-api', 'ok', 'recovering')), practice('A80001', 'unknown', upstream('emis-web'))]);
    expect(tracker.open().map((i) => i.affected)).toEqual([['A80001']]);
    tracker.update(T0 + 2 * MIN, [service('emis-web', 'down', checks('emis-api', '503'))]);
    expect(tracker.open().map((i) => i.id)).toEqual([1]); // the same incident, not a new one
    tracker.update(T0 + 3 * MIN, [service('emis-web', 'up'), practice('A80001', 'up', null)]);
    expect(tracker.open()).toEqual([]);
  });

  it('takes a subject going into maintenance out of its incident', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [local('A81001')]);
    tracker.update(T0 + MIN, [practice('A81001', 'maintenance', null)]);
    expect(tracker.open()).toEqual([]);
  });

  it('records a severity change on the timeline and in the title', () => {
    const tracker = trackerAtOnce();
    tracker.update(T0, [service('emis-web', 'degraded', checks('emis-api', 'slow', 'degraded')), practice('A80001', 'degraded', upstream('emis-web'))]);
    expect(tracker.open()[0]!.severity).toBe('degraded');
    const events = tracker.update(T0 + 5_000, [service('emis-web', 'down', checks('emis-api', '503')), practice('A80001', 'down', upstream('emis-web'))]);
    const incident = tracker.open()[0]!;
    expect(incident.title).toBe('EMIS Web down — 1 practice');
    expect(incident.timeline.at(-1)).toEqual({ at: T0 + 5_000, type: 'severity', text: 'severity down (was degraded)' });
    expect(types(events)).toEqual(['updated', 'timeline:severity']);
  });

  it('writes at most one affected entry a minute, with the latest count, while the list stays current', () => {
    const tracker = trackerAtOnce();
    const all = odsList(40);
    tracker.update(T0, emisOutage(all.slice(0, 10)));
    const counts: number[] = [];
    for (const [at, n] of [[10_000, 20], [30_000, 30], [59_999, 35]] as const) {
      const events = tracker.update(T0 + at, all.slice(10, n).map((o) => practice(o, 'down', upstream('emis-web'))));
      expect(types(events)).toEqual(['updated']);
      counts.push(tracker.open()[0]!.affected.length);
    }
    expect(counts).toEqual([20, 30, 35]);
    expect(tracker.open()[0]!.timeline).toHaveLength(1);

    const flushed = tracker.update(T0 + 60_000, []);
    expect(types(flushed)).toEqual(['timeline:affected']);
    expect(tracker.open()[0]!.timeline.at(-1)).toEqual({ at: T0 + 60_000, type: 'affected', text: '35 practices affected (was 10)', count: 35 });

    // Back to the logged count within the minute: nothing to write.
    tracker.update(T0 + 70_000, [practice(all[0]!, 'up', null)]);
    tracker.update(T0 + 80_000, [practice(all[0]!, 'down', upstream('emis-web'))]);
    expect(tracker.update(T0 + 200_000, [])).toEqual([]);

    // A minute after the last entry a change is written at once; the next one waits its minute.
    tracker.update(T0 + 210_000, all.slice(0, 30).map((o) => practice(o, 'up', null)));
    tracker.update(T0 + 215_000, all.slice(35).map((o) => practice(o, 'down', upstream('emis-web'))));
    expect(tracker.open()[0]).toMatchObject({ peakAffected: 35, title: 'EMIS Web down — 10 practices' });
    expect(tracker.update(T0 + 269_999, [])).toEqual([]);
    expect(types(tracker.update(T0 + 270_000, []))).toEqual(['timeline:affected']);
    const entries = tracker.open()[0]!.timeline.filter((e) => e.type === 'affected');
    expect(entries.map((e) => [e.at - T0, e.count])).toEqual([[60_000, 35], [210_000, 5], [270_000, 10]]);
  });
});

describe('incident tracker: notes and references', () => {
  function withIncident() {
    const tracker = trackerAtOnce();
    tracker.update(T0, emisOutage(['A80001']));
    return tracker;
  }

  it('adds a note with its author and returns the event to persist', () => {
    const tracker = withIncident();
    const result = tracker.addNote(1, { by: 'j.smith', text: '  EMIS confirm a hosting fault  ' }, T0 + MIN);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.events).toEqual([{ type: 'timeline', id: 1, seq: 1, entry: { at: T0 + MIN, type: 'note', text: 'EMIS confirm a hosting fault', by: 'j.smith' } }]);
    expect(tracker.get(1)!.timeline).toHaveLength(2);
  });

  it('rejects empty and over-long notes and unknown incidents with a clear error', () => {
    const tracker = withIncident();
    expect(tracker.addNote(1, { by: 'j.smith', text: '   ' }, T0)).toEqual({
      ok: false,
      error: { code: 'INVALID_NOTE', field: 'text', message: 'note text: is required' },
    });
    expect(tracker.addNote(1, { by: 'j.smith', text: 'x'.repeat(2_001) }, T0)).toMatchObject({
      ok: false,
      error: { code: 'INVALID_NOTE', field: 'text', message: 'note text: must be at most 2,000 characters' },
    });
    expect(tracker.addNote(1, { by: 'j.smith', text: 'x'.repeat(2_000) }, T0).ok).toBe(true);
    expect(tracker.addNote(1, { by: '', text: 'hello' }, T0)).toMatchObject({ ok: false, error: { field: 'by' } });
    expect(tracker.addNote(99, { by: 'j.smith', text: 'hello' }, T0)).toMatchObject({ ok: false, error: { code: 'INCIDENT_NOT_FOUND' } });
    const bad = tracker.addNote(99, { by: 'j.smith', text: 'hello' }, T0);
    expect(!bad.ok && bad.error.message).toMatch(/^incident #99 not found/);
  });

  it('records a service desk reference once, on open incidents only', () => {
    const tracker = withIncident();
    const added = tracker.addReference(1, { system: 'service-desk', reference: 'INC0012345', by: 'j.smith' }, T0 + MIN);
    expect(added.ok && added.events).toEqual([
      { type: 'timeline', id: 1, seq: 1, entry: { at: T0 + MIN, type: 'reference', text: 'IT service desk reference INC0012345', by: 'j.smith' } },
      { type: 'reference', id: 1, seq: 0, reference: { system: 'service-desk', reference: 'INC0012345', by: 'j.smith', at: T0 + MIN } },
    ]);
    const again = tracker.addReference(1, { system: 'service-desk', reference: 'inc0012345', by: 'a.n.other' }, T0 + 2 * MIN);
    expect(again.ok && again.events).toEqual([]);
    expect(tracker.get(1)!.references).toHaveLength(1);

    expect(tracker.addReference(1, { system: 'supplier', reference: 'x'.repeat(101), by: 'j' }, T0)).toMatchObject({ ok: false, error: { code: 'INVALID_REFERENCE', field: 'reference' } });
    expect(tracker.addReference(1, { system: 'supplier', reference: 'A\nB', by: 'j' }, T0)).toMatchObject({ ok: false, error: { field: 'reference' } });
    expect(tracker.addReference(1, { system: 'fax' as never, reference: 'X1', by: 'j' }, T0)).toMatchObject({ ok: false, error: { field: 'system' } });

    tracker.update(T0 + 3 * MIN, [service('emis-web', 'up'), practice('A80001', 'up', null)]);
    expect(tracker.addReference(1, { system: 'supplier', reference: 'EMIS-77', by: 'j' }, T0 + 4 * MIN)).toMatchObject({
      ok: false,
      error: { code: 'INCIDENT_RESOLVED' },
    });
    const post = tracker.addNote(1, { by: 'j.smith', text: 'Backlog re-entered by Tuesday' }, T0 + 5 * MIN);
    expect(post.ok).toBe(true);
  });

  it('takes post-incident notes on an older resolved incident once it is remembered from the store', () => {
    const tracker = trackerAtOnce({ retainResolved: 1 });
    const fold = new EventFold();
    fold.apply(tracker.update(T0, [local('A81001'), local('B82001', 'Bradford North PCN')]));
    fold.apply(tracker.update(T0 + MIN, [practice('A81001', 'up', null)]));
    fold.apply(tracker.update(T0 + 2 * MIN, [practice('B82001', 'up', null)]));
    expect(tracker.get(1)).toBeUndefined();
    tracker.remember(fold.incidents.get(1)!);
    const result = tracker.addNote(1, { by: 'j.smith', text: 'router replaced' }, T0 + 3 * MIN);
    expect(result.ok && result.events.map((e) => e.type === 'timeline' && e.seq)).toEqual([2]);
  });
});

describe('incident tracker: restore after a restart', () => {
  it('carries on with the same ids and timelines, reopening and duplicating nothing', () => {
    const fold = new EventFold();
    let ids = 0;
    const before = trackerAtOnce({ nextId: () => ++ids });
    const states = [...emisOutage(odsList(4)), local('B82001', 'Bradford North PCN')];
    fold.apply(before.update(T0, states));
    const note = before.addNote(1, { by: 'j.smith', text: 'on the phone to EMIS' }, T0 + MIN);
    if (note.ok) fold.apply(note.events);

    const after = trackerAtOnce({ nextId: () => ++ids });
    after.restore(fold.open(), states);
    expect(after.open()).toEqual(before.open().map((i) => fold.incidents.get(i.id)));
    expect(after.update(T0 + 2 * MIN, states)).toEqual([]);
    expect(after.update(T0 + 3 * MIN, [practice('B82001', 'down', checks('B82001-gateway', 'timeout after 5 s'))]).map((e) => e.type)).toEqual(['updated']);
    after.update(T0 + 4 * MIN, [service('emis-web', 'up'), ...odsList(4).map((o) => practice(o, 'up', null))]);
    expect(after.open().map((i) => i.id)).toEqual([2]);
    expect(after.get(1)!.timeline.map((e) => e.type)).toEqual(['opened', 'note', 'resolved']);
  });

  it('reconciles on the next update: a member now up leaves, a failing subject in no incident gets one', () => {
    const fold = new EventFold();
    const before = trackerAtOnce();
    fold.apply(before.update(T0, [local('A81001', 'P1'), local('A81002', 'P2')]));
    const after = trackerAtOnce({ nextId: () => 10 });
    after.restore(fold.open(), [practice('A81001', 'up', null, 'P1'), local('A81002', 'P2'), local('A81003', 'P3')]);
    after.update(T0 + MIN, []);
    expect(after.open().map((i) => [i.id, i.key])).toEqual([
      [2, 'practice:A81002'],
      [10, 'practice:A81003'],
    ]);
  });
});
