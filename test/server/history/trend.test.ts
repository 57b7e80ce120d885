import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CheckResult } from '../../../probes/types';
import { createPulse, type Pulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import { bucketStarts, emptyCounts, trendBuckets, type PracticeChange, type StatusCounts } from '../../../server/history/trend';
import { STATUS_LEVELS, type StatusLevel } from '../../../server/status/types';

const MIN = 60_000;
const B = 5 * MIN;
const T0 = Date.UTC(2026, 4, 1, 9, 0, 0); // aligned to 5 minutes

const counts = (partial: Partial<StatusCounts>): StatusCounts => ({ ...emptyCounts(), ...partial });
const change = (ods: string, from: StatusLevel, to: StatusLevel, at: number): PracticeChange => ({ ods, from, to, at });

describe('trend buckets', () => {
  it('aligns bucket starts to the bucket size and covers the window', () => {
    expect(bucketStarts(T0 + 2 * MIN, T0 + 12 * MIN, B)).toEqual([T0, T0 + B, T0 + 2 * B]);
    expect(() => bucketStarts(T0, T0, B)).toThrow(/to > from/);
    expect(() => bucketStarts(T0, T0 + B, 0)).toThrow(/bucketMs > 0/);
  });

  it('counts a practice without recorded changes at its status now, in every bucket', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + 3 * B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'up'], ['A2', 'down']]),
      changes: [],
    });
    expect(buckets.map((b) => b.start)).toEqual([T0, T0 + B, T0 + 2 * B]);
    for (const b of buckets) expect(b.counts).toEqual(counts({ up: 1, down: 1 }));
  });

  it('takes the status at the window start from the latest change before it', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + 2 * B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'up']]),
      // Down an hour before the window, and still down now by the record (the view says up,
      // but nothing recorded it coming back inside the window: the record wins for history).
      changes: [change('A1', 'up', 'down', T0 - 60 * MIN)],
    });
    expect(buckets.map((b) => b.counts.down)).toEqual([1, 1]);
  });

  it('counts a short outage in its bucket at the worst status held, then the status after it', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + 4 * B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'up'], ['A2', 'up']]),
      changes: [
        change('A1', 'up', 'down', T0 + B + MIN), // down for two minutes inside bucket 1
        change('A1', 'down', 'up', T0 + B + 3 * MIN),
        change('A2', 'up', 'degraded', T0 + 2 * B + MIN), // degraded from bucket 2 on
      ],
    });
    expect(buckets.map((b) => b.counts)).toEqual([
      counts({ up: 2 }),
      counts({ down: 1, up: 1 }),
      counts({ up: 1, degraded: 1 }),
      counts({ up: 1, degraded: 1 }),
    ]);
  });

  it('uses the first change’s `from` when nothing earlier was recorded', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + 3 * B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'up']]),
      changes: [change('A1', 'unknown', 'up', T0 + 2 * B)],
    });
    expect(buckets.map((b) => [b.counts.unknown, b.counts.up])).toEqual([[1, 0], [1, 0], [1, 0]]);
  });

  it('ignores practices outside the given set (out of scope)', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'up']]),
      changes: [change('B9', 'up', 'down', T0 + MIN)],
    });
    expect(buckets[0]!.counts).toEqual(counts({ up: 1 }));
  });

  it('reads the status in a past window from the first change after it', () => {
    const buckets = trendBuckets({
      from: T0,
      to: T0 + B,
      bucketMs: B,
      current: new Map<string, StatusLevel>([['A1', 'down']]),
      changes: [change('A1', 'up', 'down', T0 + 10 * B)],
    });
    expect(buckets[0]!.counts).toEqual(counts({ up: 1 }));
  });

  it('agrees with replaying every practice bucket by bucket, and each bucket adds up to the practices', () => {
    const level = fc.constantFrom(...STATUS_LEVELS);
    const ods = fc.constantFrom('A1', 'A2', 'A3', 'A4');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(ods, level, fc.integer({ min: -2 * B, max: 6 * B })), { maxLength: 40 }),
        fc.array(level, { minLength: 4, maxLength: 4 }),
        (raw, now) => {
          const sorted = [...raw].sort((a, b) => a[2] - b[2]);
          // Chain each practice's changes so `from` is the previous `to`, starting from up.
          const last = new Map<string, StatusLevel>();
          const changes = sorted.map(([o, to, at]) => {
            const from = last.get(o) ?? 'up';
            last.set(o, to);
            return change(o, from, to, T0 + at);
          });
          const current = new Map<string, StatusLevel>(['A1', 'A2', 'A3', 'A4'].map((o, i) => [o, now[i]!]));
          const buckets = trendBuckets({ from: T0, to: T0 + 4 * B, bucketMs: B, current, changes });
          const rank = (s: StatusLevel) => STATUS_LEVELS.indexOf(s);
          buckets.forEach((bucket, i) => {
            const start = T0 + i * B;
            const expected = emptyCounts();
            for (const [o, statusNow] of current) {
              const mine = changes.filter((c) => c.ods === o);
              if (mine.length === 0) {
                expected[statusNow] += 1;
                continue;
              }
              const prior = mine.filter((c) => c.at < start).at(-1);
              let worst: StatusLevel = prior ? prior.to : mine[0]!.from;
              for (const c of mine) if (c.at >= start && c.at < start + B && rank(c.to) < rank(worst)) worst = c.to;
              expected[worst] += 1;
            }
            expect(bucket.counts).toEqual(expected);
            expect(Object.values(bucket.counts).reduce((a, b) => a + b, 0)).toBe(4);
          });
        },
      ),
    );
  });
});

// The endpoint over the real app and a real SQLite store, with a fake clock.
// A lone practice's incident opens at once (no group wait): these tests are about other things.
const ESTATE = `incidents: { groupWait: 0s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: Oakwood Surgery, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Moorside Health Centre, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
`;

interface TrendJson {
  window: string;
  bucketMinutes: number;
  practices: number;
  from: string;
  to: string;
  buckets: { start: string; counts: StatusCounts }[];
  incidents: { id: number; kind: string; title: string; openedAt: string; affected: number }[];
}

describe('GET /api/trend', () => {
  let now = T0;
  let pulse: Pulse;
  let store: SqliteStore;
  let national: Record<string, string>;
  let qwo: Record<string, string>;
  const result = (checkId: string, ok: boolean): CheckResult =>
    ok ? { ok, checkId, at: now, location: 'l', latencyMs: 1 } : { ok, checkId, at: now, location: 'l', latencyMs: 1, error: 'refused', detail: 'refused' };
  async function round(failing: string[]): Promise<void> {
    pulse.ingest(['emis-api', 'gw1', 'gw2', 'gw3'].map((id) => result(id, !failing.includes(id))));
    await pulse.tick();
  }
  const trend = async (h: Record<string, string>, query = '') => {
    const res = await pulse.app.request(`/api/trend${query}`, { headers: h });
    return { status: res.status, body: (await res.json()) as TrendJson };
  };

  beforeAll(async () => {
    store = new SqliteStore(':memory:');
    pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store, clock: { now: () => now }, log: silentLogger, workerToken: 'w' });
    await pulse.restore();
    national = { authorization: `Bearer ${(await store.accounts.createToken({ kind: 'display', name: 'all', icb: null, createdBy: 't', now })).secret}` };
    qwo = { authorization: `Bearer ${(await store.accounts.createToken({ kind: 'display', name: 'qwo', icb: 'QWO', createdBy: 't', now })).secret}` };
    // Everyone up at T0; B00003 down from T0 + 3 h for ten minutes (two failures confirm it).
    await round([]);
    now = T0 + 3 * 3_600_000;
    await round(['gw3']);
    now += 1_000;
    await round(['gw3']);
    now += 10 * MIN;
    await round([]);
    now = T0 + 6 * 3_600_000;
  });
  afterAll(async () => {
    pulse.close('done');
    await store.close();
  });

  it('gives 5-minute buckets over 24 h that add up to the practices, with the outage in its buckets', async () => {
    const { status, body } = await trend(national, '?window=24h');
    expect(status).toBe(200);
    expect(body).toMatchObject({ window: '24h', bucketMinutes: 5, practices: 3 });
    expect(body.buckets).toHaveLength(288);
    for (const b of body.buckets) expect(Object.values(b.counts).reduce((x, y) => x + y, 0)).toBe(3);
    const down = body.buckets.filter((b) => b.counts.down === 1).map((b) => Date.parse(b.start));
    expect(down[0]).toBe(T0 + 3 * 3_600_000);
    expect(down.at(-1)).toBe(T0 + 3 * 3_600_000 + 10 * MIN);
    expect(body.buckets.at(-1)!.counts.up).toBe(3);
    expect(body.incidents.map((i) => [i.kind, i.affected])).toEqual([['practice', 1]]);
    expect(Date.parse(body.incidents[0]!.openedAt)).toBeGreaterThanOrEqual(T0 + 3 * 3_600_000);
  });

  it('counts only the caller’s practices, and leaves out incidents elsewhere', async () => {
    const { body } = await trend(qwo);
    expect(body.practices).toBe(2);
    expect(body.buckets.every((b) => b.counts.down === 0)).toBe(true);
    expect(body.incidents).toEqual([]);
  });

  it('refuses an unknown window, naming the field', async () => {
    const { status, body } = await trend(national, '?window=7y');
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toMatch(/window/);
  });

  it('needs a credential', async () => {
    expect((await pulse.app.request('/api/trend')).status).toBe(401);
  });
});

describe('store: transitionsSince', () => {
  it('returns the window’s practice transitions by practice, oldest first, and nothing older (a practice’s status at the start is its first change’s from)', async () => {
    const store = new SqliteStore(':memory:');
    await store.recordTransitions([
      { subject: 'practice:A1', from: 'unknown', to: 'up', cause: null, at: T0 - 3 * B },
      { subject: 'practice:A1', from: 'up', to: 'degraded', cause: null, at: T0 - 2 * B },
      { subject: 'practice:A2', from: 'unknown', to: 'up', cause: null, at: T0 - B },
      { subject: 'service:emis-web', from: 'up', to: 'down', cause: null, at: T0 + MIN },
      { subject: 'practice:A2', from: 'up', to: 'down', cause: null, at: T0 + 2 * MIN },
      { subject: 'practice:A1', from: 'degraded', to: 'up', cause: null, at: T0 + MIN },
    ]);
    const rows = await store.transitionsSince('practice', T0);
    expect(rows.map((r) => [r.subject, r.to, r.at - T0])).toEqual([
      ['practice:A1', 'up', MIN],
      ['practice:A2', 'down', 2 * MIN],
    ]);
    await store.close();
  });
});
