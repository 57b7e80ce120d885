import { describe, expect, it } from 'vitest';
import type { PracticeView, ServiceView } from '../../../server/live/protocol';
import { foldRest, groupByFrom, groupPractices, orderedMembers, planLayout, withGroupBy } from '../../../web/wall/layout';
import { parseTrend, describeTrend } from '../../../web/wall/trend';

function practice(ods: string, pcn: string, system: string, status: PracticeView['status'], mode: PracticeView['mode'] = 'normal'): PracticeView {
  return { ods, name: `Practice ${ods}`, pcn, icb: null, system, status, cause: null, mode, since: '2026-05-01T08:00:00Z' };
}

const services: Record<string, ServiceView> = {
  'emis-web': { id: 'emis-web', name: 'EMIS Web', kind: 'clinical-system', status: 'down', cause: null, since: '2026-05-01T08:00:00Z', practicesAffected: 2 },
  systmone: { id: 'systmone', name: 'SystmOne', kind: 'clinical-system', status: 'up', cause: null, since: '2026-05-01T08:00:00Z', practicesAffected: 0 },
};

const estate = [
  practice('A1', 'North PCN', 'systmone', 'up'),
  practice('A2', 'North PCN', 'emis-web', 'degraded', 'backup'),
  practice('A3', 'South PCN', 'emis-web', 'down'),
  practice('A4', 'South PCN', 'systmone', 'up', 'entering'),
  practice('A5', 'East PCN', 'systmone', 'up'),
];

describe('wall grouping', () => {
  it('groups by PCN, worst group first, with counts and practices in backup (any mode but normal)', () => {
    const groups = groupPractices(estate, 'pcn', services);
    expect(groups.map((g) => [g.label, g.worst, g.practices.length, g.backup])).toEqual([
      ['South PCN', 'down', 2, 1],
      ['North PCN', 'degraded', 2, 1],
      ['East PCN', 'up', 1, 0],
    ]);
    expect(groups[0]!.counts).toMatchObject({ down: 1, up: 1 });
  });

  it('groups by clinical system under the service’s name', () => {
    const groups = groupPractices(estate, 'system', services);
    expect(groups.map((g) => [g.key, g.label, g.practices.length])).toEqual([
      ['emis-web', 'EMIS Web', 2],
      ['systmone', 'SystmOne', 3],
    ]);
  });

  it('orders a group’s members worst first, then by name', () => {
    const [south] = groupPractices(estate, 'pcn', services);
    expect(orderedMembers(south!).map((p) => p.ods)).toEqual(['A3', 'A4']);
  });

  it('reads and writes the grouping in the address, keeping the display secret', () => {
    expect(groupByFrom('?display=s3cret&group=system')).toBe('system');
    expect(groupByFrom('?display=s3cret')).toBe('pcn');
    expect(groupByFrom('?group=nonsense')).toBe('pcn');
    const url = new URL(withGroupBy('http://pulse.local/wall?display=s3cret', 'system'));
    expect(url.searchParams.get('display')).toBe('s3cret');
    expect(url.searchParams.get('group')).toBe('system');
  });

  it('folds the rest of the groups into one, with their counts', () => {
    const groups = groupPractices(estate, 'pcn', services);
    expect(foldRest(groups, 1)).toEqual({
      groups: 2,
      practices: 3,
      counts: { down: 0, unknown: 0, suspected: 0, degraded: 1, recovering: 0, maintenance: 0, up: 2 },
      backup: 1,
    });
  });
});

describe('wall layout plan', () => {
  const sizes = (groups: number, each: number) => Array.from({ length: groups }, () => each);

  it('gives a small estate big tiles, a tile for each practice', () => {
    const plan = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: sizes(15, 5), scale: 1 });
    expect(plan.mode).toBe('tiles');
    if (plan.mode !== 'tiles') return;
    expect(plan.tileWidth).toBeGreaterThanOrEqual(120);
    // What it planned fits: columns across, and rows down.
    expect(plan.columns * (plan.tileWidth + 4) - 4).toBeLessThanOrEqual(1380);
  });

  it('uses smaller tiles for more practices, never below the readable minimum', () => {
    const few = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: sizes(15, 5), scale: 1 });
    const more = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: sizes(28, 5), scale: 1 });
    expect(more.mode).toBe('tiles');
    expect(more.tileWidth).toBeLessThan(few.tileWidth);
    expect(more.tileWidth).toBeGreaterThanOrEqual(84);
  });

  it('falls back to one tile per group for 6,300 practices, and folds what does not fit into a last tile', () => {
    const byPcn = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: sizes(1_260, 5), scale: 1 });
    expect(byPcn.mode).toBe('aggregate');
    if (byPcn.mode !== 'aggregate') return;
    expect(byPcn.shown).toBeGreaterThan(10);
    expect(byPcn.shown).toBeLessThan(1_260);
    const rows = Math.ceil((byPcn.shown + 1) / byPcn.columns);
    expect(rows * (byPcn.tileHeight + 4) - 4).toBeLessThanOrEqual(850);

    const bySystem = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: [3_900, 2_100, 300], scale: 1 });
    expect(bySystem).toMatchObject({ mode: 'aggregate', shown: 3 });
  });

  it('scales tiles with the screen: 4K gets the same layout at twice the size', () => {
    const hd = planLayout({ width: 1380, height: 850, gap: 4, groupSizes: sizes(15, 5), scale: 1 });
    const uhd = planLayout({ width: 2760, height: 1700, gap: 8, groupSizes: sizes(15, 5), scale: 2 });
    expect(uhd.mode).toBe(hd.mode);
    expect(uhd.tileWidth).toBeGreaterThanOrEqual(2 * hd.tileWidth - 4);
  });
});

describe('wall trend', () => {
  const body = {
    window: '24h',
    bucketMinutes: 5,
    practices: 10,
    buckets: [
      { start: '2026-05-01T09:00:00.000Z', counts: { down: 0, degraded: 1, suspected: 1, recovering: 0, unknown: 0, maintenance: 0, up: 8 } },
      { start: '2026-05-01T09:05:00.000Z', counts: { down: 4, degraded: 0, suspected: 0, recovering: 0, unknown: 0, maintenance: 0, up: 6 } },
    ],
    incidents: [{ id: 7, title: 'EMIS Web down — 4 practices', severity: 'down', openedAt: '2026-05-01T09:06:00.000Z' }],
  };

  it('reads the series to draw and the incident marks', () => {
    const series = parseTrend(body);
    expect(series.times).toEqual([Date.parse('2026-05-01T09:00:00Z'), Date.parse('2026-05-01T09:05:00Z')]);
    expect(series.down).toEqual([0, 4]);
    expect(series.degraded).toEqual([2, 0]);
    expect(series.incidents).toEqual([{ id: 7, title: 'EMIS Web down — 4 practices', severity: 'down', at: Date.parse('2026-05-01T09:06:00Z') }]);
    expect(describeTrend(series)).toMatch(/peak 4 at .*, 4 now; 0 degraded now; 1 incident opened/);
  });

  it('refuses an answer that is not a trend, saying which bucket is wrong', () => {
    expect(() => parseTrend({ error: 'x' })).toThrow(/no buckets/);
    expect(() => parseTrend({ ...body, buckets: [{ start: 'yesterday', counts: {} }] })).toThrow(/bucket 0/);
  });
});
