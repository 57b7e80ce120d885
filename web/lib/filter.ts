// The operations console's search, filters and sort, and how they live in the page's URL so a
// view can be shared and survives a reload. Pure: it narrows and orders what the live feed
// holds; it never decides a status or a mode.
import type { PracticeView } from '../../server/live/protocol';
import type { StatusLevel } from '../../server/status/types';
import { STATUS_ORDER, worstFirst } from './view';

/** `backup` covers every mode that is not `normal` (entering, backup, leaving). */
export type ModeFilter = 'normal' | 'backup';
export type SortKey = 'worst' | 'name' | 'ods' | 'since';

export const SORT_KEYS: readonly SortKey[] = ['worst', 'name', 'ods', 'since'];
export const SORT_LABEL: Record<SortKey, string> = {
  worst: 'Worst first',
  name: 'Name',
  ods: 'ODS code',
  since: 'Most recent change',
};
export const MODE_FILTERS: readonly ModeFilter[] = ['normal', 'backup'];
export const MODE_FILTER_LABEL: Record<ModeFilter, string> = { normal: 'Normal', backup: 'In backup' };

export interface ConsoleQuery {
  /** Free text matched against ODS code, name and PCN (case-insensitive); '' for none. */
  q: string;
  /** Statuses to keep; empty keeps every status. */
  status: StatusLevel[];
  /** Clinical system service id; '' for any. */
  system: string;
  mode: ModeFilter | null;
  sort: SortKey;
}

export const DEFAULT_QUERY: ConsoleQuery = { q: '', status: [], system: '', mode: null, sort: 'worst' };

/** The URL parameters this module owns; any other (e.g. `display`) is left as it was. */
const KEYS = ['q', 'status', 'system', 'mode', 'sort'] as const;
const MAX_SEARCH = 100;
const SYSTEM_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface ReadQuery {
  query: ConsoleQuery;
  /** What in the URL was not understood and was left out, each saying which parameter and why. */
  ignored: string[];
}

/** Reads the console's view from a URL query string (`?q=…&status=down,unknown&sort=name`). */
export function readQuery(search: string): ReadQuery {
  const params = new URLSearchParams(search);
  const ignored: string[] = [];
  const query: ConsoleQuery = { ...DEFAULT_QUERY, status: [] };

  const q = params.get('q');
  if (q !== null) {
    if (q.length > MAX_SEARCH) ignored.push(`q: search is ${q.length} characters; at most ${MAX_SEARCH}`);
    else query.q = q.trim();
  }

  const status = params.get('status');
  if (status !== null && status !== '') {
    for (const word of status.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      if (!(STATUS_ORDER as string[]).includes(word)) ignored.push(`status: "${word}" is not a status (${STATUS_ORDER.join(', ')})`);
      else if (!query.status.includes(word as StatusLevel)) query.status.push(word as StatusLevel);
    }
    query.status.sort((a, b) => STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b));
  }

  const system = params.get('system');
  if (system !== null && system !== '') {
    if (SYSTEM_ID.test(system)) query.system = system;
    else ignored.push(`system: "${system}" is not a service id`);
  }

  const mode = params.get('mode');
  if (mode !== null && mode !== '') {
    if ((MODE_FILTERS as string[]).includes(mode)) query.mode = mode as ModeFilter;
    else ignored.push(`mode: "${mode}" is not one of ${MODE_FILTERS.join(', ')}`);
  }

  const sort = params.get('sort');
  if (sort !== null && sort !== '') {
    if ((SORT_KEYS as string[]).includes(sort)) query.sort = sort as SortKey;
    else ignored.push(`sort: "${sort}" is not one of ${SORT_KEYS.join(', ')}`);
  }
  return { query, ignored };
}

/**
 * The query string for `query`, keeping every parameter of `search` this module does not own
 * (a wall display's `display` token, say). Defaults are left out, so the plain view is `/`.
 * Returns '' or a string starting with '?'.
 */
export function writeQuery(search: string, query: ConsoleQuery): string {
  const params = new URLSearchParams(search);
  for (const key of KEYS) params.delete(key);
  if (query.q.trim() !== '') params.set('q', query.q.trim());
  if (query.status.length > 0) params.set('status', query.status.join(','));
  if (query.system !== '') params.set('system', query.system);
  if (query.mode !== null) params.set('mode', query.mode);
  if (query.sort !== DEFAULT_QUERY.sort) params.set('sort', query.sort);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** True when anything narrows the list (the sort alone does not). */
export function isFiltered(query: ConsoleQuery): boolean {
  return query.q.trim() !== '' || query.status.length > 0 || query.system !== '' || query.mode !== null;
}

/** Whether one practice passes the search and every filter. */
export function matches(practice: PracticeView, query: ConsoleQuery): boolean {
  if (query.status.length > 0 && !query.status.includes(practice.status)) return false;
  if (query.system !== '' && practice.system !== query.system) return false;
  if (query.mode === 'normal' && practice.mode !== 'normal') return false;
  if (query.mode === 'backup' && practice.mode === 'normal') return false;
  const needle = query.q.trim().toLowerCase();
  if (needle === '') return true;
  return (
    practice.ods.toLowerCase().includes(needle) ||
    practice.name.toLowerCase().includes(needle) ||
    practice.pcn.toLowerCase().includes(needle)
  );
}

const byName = (a: PracticeView, b: PracticeView) => a.name.localeCompare(b.name, 'en-GB') || a.ods.localeCompare(b.ods);
const byOds = (a: PracticeView, b: PracticeView) => a.ods.localeCompare(b.ods);
/** Newest change of status first; an unreadable time sorts last. */
const bySince = (a: PracticeView, b: PracticeView) => (timeOf(b.since) - timeOf(a.since)) || worstFirst(a, b);

const COMPARE: Record<SortKey, (a: PracticeView, b: PracticeView) => number> = {
  worst: worstFirst,
  name: byName,
  ods: byOds,
  since: bySince,
};

/** The practices that match, in the chosen order (a new array; the input is not changed). */
export function filterPractices(practices: Iterable<PracticeView>, query: ConsoleQuery): PracticeView[] {
  const out: PracticeView[] = [];
  for (const practice of practices) if (matches(practice, query)) out.push(practice);
  return out.sort(COMPARE[query.sort]);
}

function timeOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? -Infinity : t;
}
