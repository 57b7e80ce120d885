// Pulse's own incident: one `pulse:self` while Pulse says its monitoring is impaired, with the
// reason as its finding, no practices in it, resolved when the reason goes; it survives a restart.
import { describe, expect, it } from 'vitest';
import type { IncidentEvent } from '../../../server/incidents/types';
import { EventFold, checks, makeTracker, practice, trackerAtOnce } from './fixtures';

const T0 = 1_700_000_000_000;
const OVERLOADED = "Pulse's probes in local are overloaded: 4.6 s behind";
const PAUSED = 'Pulse was not listening for 40 s: workstation silence not witnessed';

const types = (events: IncidentEvent[]) => events.map((e) => (e.type === 'timeline' ? `timeline:${e.entry.type}` : e.type));

describe("incident tracker: Pulse's own incident", () => {
  it('opens one pulse:self incident with the reason as its finding and no practices', () => {
    const tracker = makeTracker();
    const events = tracker.update(T0, [], OVERLOADED);
    expect(types(events)).toEqual(['opened', 'timeline:opened', 'timeline:finding']);
    expect(tracker.open()).toEqual([
      {
        id: 1,
        key: 'pulse:self',
        kind: 'pulse',
        title: "Pulse's own monitoring is impaired",
        finding: OVERLOADED,
        status: 'open',
        severity: 'degraded',
        openedAt: T0,
        resolvedAt: null,
        affected: [],
        peakAffected: 0,
        subjects: [],
        timeline: [
          { at: T0, type: 'opened', text: "Pulse's own monitoring is impaired" },
          { at: T0, type: 'finding', text: OVERLOADED },
        ],
        references: [],
      },
    ]);
    expect(tracker.update(T0 + 1000, [], OVERLOADED)).toEqual([]); // the same reason: nothing new
    expect(tracker.update(T0 + 2000, [])).toEqual([]); // not told: stays as it was
    expect(tracker.open().map((i) => i.key)).toEqual(['pulse:self']);
  });

  it('keeps the finding current and writes at most one finding entry a minute, with the latest reason', () => {
    const tracker = makeTracker();
    tracker.update(T0, [], OVERLOADED);
    expect(types(tracker.update(T0 + 5_000, [], PAUSED))).toEqual(['updated']);
    expect(tracker.open()[0]!.finding).toBe(PAUSED);
    tracker.update(T0 + 10_000, [], 'Pulse was not listening for 41 s');
    expect(tracker.update(T0 + 59_999, [], 'Pulse was not listening for 41 s')).toEqual([]);
    expect(types(tracker.update(T0 + 60_000, [], 'Pulse was not listening for 41 s'))).toEqual(['timeline:finding']);
    expect(tracker.open()[0]!.timeline.map((e) => e.text).slice(1)).toEqual([OVERLOADED, 'Pulse was not listening for 41 s']);
  });

  it('resolves when the reason is null, and never holds or counts a practice', () => {
    const tracker = trackerAtOnce(); // the practice opens its incident at once: this is about Pulse's own
    tracker.update(T0, [practice('A81001', 'down', checks('A81001-gateway', 'timeout after 5 s'))], OVERLOADED);
    expect(tracker.open().map((i) => [i.kind, i.affected])).toEqual([
      ['practice', ['A81001']],
      ['pulse', []],
    ]);
    expect(tracker.forSubject('practice:A81001')?.kind).toBe('practice');
    const events = tracker.update(T0 + 90_000, [], null);
    expect(types(events)).toEqual(['resolved', 'timeline:resolved']);
    expect(tracker.get(2)!.timeline.at(-1)).toEqual({ at: T0 + 90_000, type: 'resolved', text: 'resolved after 1 min' });
    expect(tracker.open().map((i) => i.kind)).toEqual(['practice']);
    // Impaired again later: a new incident.
    tracker.update(T0 + 200_000, [], PAUSED);
    expect(tracker.open().map((i) => [i.id, i.kind])).toEqual([
      [1, 'practice'],
      [3, 'pulse'],
    ]);
  });

  it('carries on after a restart with the stored reason until told otherwise', () => {
    const fold = new EventFold();
    let ids = 0;
    const before = makeTracker({ nextId: () => ++ids });
    fold.apply(before.update(T0, [], OVERLOADED));
    fold.apply(before.update(T0 + 10_000, [], PAUSED));

    const after = makeTracker({ nextId: () => ++ids });
    after.restore(fold.open(), []);
    expect(after.open()).toEqual(before.open());
    expect(after.update(T0 + 20_000, [])).toEqual([]); // not orphaned for having no members
    // The reason not yet on the timeline is written when its minute is up, as without the restart.
    expect(after.update(T0 + 60_000, [], PAUSED)).toEqual(before.update(T0 + 60_000, [], PAUSED));
    expect(after.update(T0 + 70_000, [], null)).toEqual(before.update(T0 + 70_000, [], null));
    expect(after.open()).toEqual([]);
  });
});
