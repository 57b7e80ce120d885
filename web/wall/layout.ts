// How the wall display fits the estate on one screen: practices grouped by PCN or clinical
// system, worst first, and a plan for how big each tile can be in the space there is. When
// tiles would be too small to read, the plan falls back to one tile per group with counts by
// status. Pure and synchronous (no DOM): the component measures, this decides. It never
// decides a practice's status; it counts and orders the ones the server sent.
import type { PracticeView, ServiceView } from '../../server/live/protocol';
import { STATUS_LEVELS, type StatusLevel } from '../../server/status/types';

export type GroupBy = 'pcn' | 'system';

/** Worst first, as the status engine orders levels. */
export const RANK: Record<StatusLevel, number> = Object.fromEntries(STATUS_LEVELS.map((s, i) => [s, i])) as Record<StatusLevel, number>;

export type StatusCounts = Record<StatusLevel, number>;

export interface Group {
  key: string;
  label: string;
  /** Members in no particular order: sort only what is shown (see `orderedMembers`). */
  practices: PracticeView[];
  counts: StatusCounts;
  /** Practices not in normal mode (entering, in or leaving backup). */
  backup: number;
  worst: StatusLevel;
}

export function emptyCounts(): StatusCounts {
  return { down: 0, unknown: 0, suspected: 0, degraded: 0, recovering: 0, maintenance: 0, up: 0 };
}

/** The `group` query parameter: `system`, or PCN by default. */
export function groupByFrom(search: string): GroupBy {
  return new URLSearchParams(search).get('group') === 'system' ? 'system' : 'pcn';
}

/** The page's address with the grouping in it (everything else, e.g. `display`, kept). */
export function withGroupBy(href: string, by: GroupBy): string {
  const url = new URL(href);
  url.searchParams.set('group', by);
  return url.toString();
}

/** Fewer failing practices sort later; ties by label. */
function groupOrder(a: Group, b: Group): number {
  return (
    RANK[a.worst] - RANK[b.worst] ||
    b.counts[a.worst] - a.counts[a.worst] ||
    b.practices.length - b.counts.up - (a.practices.length - a.counts.up) ||
    (a.label < b.label ? -1 : a.label > b.label ? 1 : 0)
  );
}

/**
 * One pass over the practices: members, counts by status and backup, worst status per group;
 * groups worst first (the worst level, then how many practices are at it). O(n) plus the sort
 * of the groups: cheap enough to run on every delta for 6,300 practices.
 */
export function groupPractices(
  practices: Iterable<PracticeView>,
  by: GroupBy,
  services: Readonly<Record<string, ServiceView>>,
): Group[] {
  const groups = new Map<string, Group>();
  for (const p of practices) {
    const key = by === 'pcn' ? p.pcn : p.system;
    let group = groups.get(key);
    if (!group) {
      const label = by === 'pcn' ? p.pcn : (services[p.system]?.name ?? p.system);
      group = { key, label, practices: [], counts: emptyCounts(), backup: 0, worst: 'up' };
      groups.set(key, group);
    }
    group.practices.push(p);
    group.counts[p.status] += 1;
    if (p.mode !== 'normal') group.backup += 1;
    if (RANK[p.status] < RANK[group.worst]) group.worst = p.status;
  }
  return [...groups.values()].sort(groupOrder);
}

/** Worst first, then by name and ODS code (plain comparison: stable and fast). */
export function practiceOrder(a: PracticeView, b: PracticeView): number {
  return (
    RANK[a.status] - RANK[b.status] ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    (a.ods < b.ods ? -1 : a.ods > b.ods ? 1 : 0)
  );
}

export function orderedMembers(group: Group): PracticeView[] {
  return [...group.practices].sort(practiceOrder);
}

// ---------------------------------------------------------------------------------------
// The plan: how big, how many columns, tiles or aggregates.

/** How much a tile can say at its size. */
export type Detail = 'full' | 'compact' | 'mini';

export interface PlanInput {
  width: number;
  height: number;
  /** Gap between tiles, px. */
  gap: number;
  /** Members of each group, in the groups' order. */
  groupSizes: readonly number[];
  /** The screen's scale: 1 at 1920×1080, 2 at 3840×2160 (text must grow with the screen). */
  scale: number;
}

export type Plan =
  | {
      mode: 'tiles';
      tileWidth: number;
      tileHeight: number;
      columns: number;
      /** Columns a group's label cell spans. */
      labelSpan: number;
      detail: Detail;
    }
  | {
      mode: 'aggregate';
      tileWidth: number;
      tileHeight: number;
      columns: number;
      /** Groups shown as their own tile; the rest (the least bad) share one last "more" tile. */
      shown: number;
    };

/** Tile height for a width: names read across, so tiles are wider than tall. */
const TILE_ASPECT = 0.56;
const AGG_ASPECT = 0.62;
/** Below this (×scale) a practice tile's ODS code cannot be read across a room. */
export const MIN_TILE_WIDTH = 84;
const MAX_TILE_WIDTH = 300;
const MIN_AGG_WIDTH = 190;
const MAX_AGG_WIDTH = 420;

export function detailFor(tileHeight: number, scale: number): Detail {
  if (tileHeight >= 104 * scale) return 'full';
  if (tileHeight >= 64 * scale) return 'compact';
  return 'mini';
}

/** Rows a flow of cells needs: each group's label cell (span columns) then its members. */
function rowsNeeded(groupSizes: readonly number[], columns: number, labelSpan: number): number {
  // Walk the flow as CSS grid places it (a spanning label never splits across rows).
  let row = 0;
  let col = 0;
  for (const size of groupSizes) {
    if (col + labelSpan > columns) {
      row += 1;
      col = 0;
    }
    col += labelSpan;
    const total = col + size;
    row += Math.floor(total / columns);
    col = total % columns;
  }
  return col > 0 ? row + 1 : row;
}

/**
 * The biggest tiles that fit every practice (with a label cell per group) without scrolling;
 * when even the smallest readable tile does not fit, one tile per group, as big as fits, and
 * if even those do not all fit, the worst groups and one "more" tile for the rest.
 */
export function planLayout(input: PlanInput): Plan {
  const { width, height, gap, groupSizes } = input;
  const scale = Math.max(0.5, input.scale);
  const practices = groupSizes.reduce((a, b) => a + b, 0);
  const minTile = Math.round(MIN_TILE_WIDTH * scale);
  const maxTile = Math.round(MAX_TILE_WIDTH * scale);
  if (width <= 0 || height <= 0 || practices === 0) {
    return { mode: 'tiles', tileWidth: maxTile, tileHeight: Math.round(maxTile * TILE_ASPECT), columns: 1, labelSpan: 1, detail: 'full' };
  }

  // Quick bound: area alone rules out most sizes, so the search below is short.
  for (let w = maxTile; w >= minTile; w -= 2) {
    const h = Math.round(w * TILE_ASPECT);
    const columns = Math.floor((width + gap) / (w + gap));
    if (columns < 2) continue;
    const rowsFit = Math.floor((height + gap) / (h + gap));
    if (rowsFit * columns < practices + groupSizes.length) continue;
    const labelSpan = columns >= 12 ? 2 : 1;
    if (rowsNeeded(groupSizes, columns, labelSpan) <= rowsFit) {
      return { mode: 'tiles', tileWidth: w, tileHeight: h, columns, labelSpan, detail: detailFor(h, scale) };
    }
  }

  const groups = groupSizes.length;
  const minAgg = Math.round(MIN_AGG_WIDTH * scale);
  const maxAgg = Math.round(MAX_AGG_WIDTH * scale);
  let best = { w: minAgg, columns: 1, capacity: 1 };
  for (let w = maxAgg; w >= minAgg; w -= 2) {
    const h = Math.round(w * AGG_ASPECT);
    const columns = Math.max(1, Math.floor((width + gap) / (w + gap)));
    const capacity = columns * Math.max(1, Math.floor((height + gap) / (h + gap)));
    best = { w, columns, capacity };
    if (capacity >= groups) break;
  }
  const shown = best.capacity >= groups ? groups : Math.max(0, best.capacity - 1);
  return { mode: 'aggregate', tileWidth: best.w, tileHeight: Math.round(best.w * AGG_ASPECT), columns: best.columns, shown };
}

/** The least bad groups folded into one: their counts and how many there are. */
export function foldRest(groups: readonly Group[], from: number): { groups: number; practices: number; counts: StatusCounts; backup: number } {
  const counts = emptyCounts();
  let practices = 0;
  let backup = 0;
  for (let i = from; i < groups.length; i++) {
    const g = groups[i]!;
    for (const s of STATUS_LEVELS) counts[s] += g.counts[s];
    practices += g.practices.length;
    backup += g.backup;
  }
  return { groups: Math.max(0, groups.length - from), practices, counts, backup };
}
