import { describe, expect, it } from 'vitest';
import type { PracticeView } from '../../server/live/protocol';
import { DEFAULT_QUERY, filterPractices, isFiltered, matches, readQuery, writeQuery, type ConsoleQuery } from '../../web/lib/filter';

function practice(over: Partial<PracticeView> & { ods: string }): PracticeView {
  return {
    name: `Practice ${over.ods}`,
    pcn: 'North PCN',
    icb: null,
    system: 'emis-web',
    status: 'up',
    cause: null,
    mode: 'normal',
    since: '2026-05-01T08:00:00Z',
    ...over,
  };
}

const estate = [
  practice({ ods: 'A81001', name: 'Riverside Surgery', pcn: 'Tees Valley PCN', status: 'down', since: '2026-05-01T09:00:00Z' }),
  practice({ ods: 'A81002', name: 'Hilltop Medical', pcn: 'North PCN', system: 'systmone', status: 'up', since: '2026-05-01T07:00:00Z' }),
  practice({ ods: 'B82003', name: 'Abbey Health Centre', pcn: 'Tees Valley PCN', status: 'degraded', mode: 'backup', since: '2026-05-01T10:00:00Z' }),
  practice({ ods: 'B82004', name: 'Zion Road', pcn: 'South PCN', system: 'vision', status: 'down', mode: 'entering', since: '2026-05-01T08:30:00Z' }),
  practice({ ods: 'C83005', name: 'Market Street', pcn: 'South PCN', status: 'unknown', mode: 'leaving', since: 'not a time' }),
];

const q = (over: Partial<ConsoleQuery>): ConsoleQuery => ({ ...DEFAULT_QUERY, ...over });
const ods = (list: PracticeView[]) => list.map((p) => p.ods);

describe('search', () => {
  it('matches ODS code, name and PCN, ignoring case and surrounding spaces', () => {
    expect(ods(filterPractices(estate, q({ q: 'a81', sort: 'ods' })))).toEqual(['A81001', 'A81002']);
    expect(ods(filterPractices(estate, q({ q: '  RIVERSIDE ' })))).toEqual(['A81001']);
    expect(ods(filterPractices(estate, q({ q: 'tees valley', sort: 'ods' })))).toEqual(['A81001', 'B82003']);
    expect(filterPractices(estate, q({ q: 'nowhere' }))).toEqual([]);
  });

  it('does not match on the clinical system or cause', () => {
    expect(matches(estate[0]!, q({ q: 'emis' }))).toBe(false);
  });
});

describe('filters', () => {
  it('keeps any of the chosen statuses', () => {
    expect(ods(filterPractices(estate, q({ status: ['down', 'unknown'] })))).toEqual(['A81001', 'B82004', 'C83005']);
  });

  it('keeps one clinical system', () => {
    expect(ods(filterPractices(estate, q({ system: 'systmone' })))).toEqual(['A81002']);
  });

  it('treats entering, backup and leaving as "in backup", and only normal as normal', () => {
    expect(ods(filterPractices(estate, q({ mode: 'backup', sort: 'ods' })))).toEqual(['B82003', 'B82004', 'C83005']);
    expect(ods(filterPractices(estate, q({ mode: 'normal', sort: 'ods' })))).toEqual(['A81001', 'A81002']);
  });

  it('combines search and filters (all must hold)', () => {
    expect(ods(filterPractices(estate, q({ q: 'PCN', status: ['down'], mode: 'normal' })))).toEqual(['A81001']);
  });

  it('says whether anything narrows the list', () => {
    expect(isFiltered(DEFAULT_QUERY)).toBe(false);
    expect(isFiltered(q({ sort: 'name' }))).toBe(false);
    expect(isFiltered(q({ q: '  ' }))).toBe(false);
    expect(isFiltered(q({ mode: 'backup' }))).toBe(true);
  });
});

describe('sort', () => {
  it('worst first, then by name', () => {
    expect(ods(filterPractices(estate, DEFAULT_QUERY))).toEqual(['A81001', 'B82004', 'C83005', 'B82003', 'A81002']);
  });
  it('by name, by ODS code', () => {
    expect(ods(filterPractices(estate, q({ sort: 'name' })))).toEqual(['B82003', 'A81002', 'C83005', 'A81001', 'B82004']);
    expect(ods(filterPractices(estate, q({ sort: 'ods' })))).toEqual(['A81001', 'A81002', 'B82003', 'B82004', 'C83005']);
  });
  it('by most recent change, an unreadable time last', () => {
    expect(ods(filterPractices(estate, q({ sort: 'since' })))).toEqual(['B82003', 'A81001', 'B82004', 'A81002', 'C83005']);
  });
  it('does not change the list it is given', () => {
    const before = ods(estate);
    filterPractices(estate, q({ sort: 'name' }));
    expect(ods(estate)).toEqual(before);
  });
});

describe('the view in the URL', () => {
  it('round-trips every setting', () => {
    const query = q({ q: 'tees valley', status: ['down', 'unknown'], system: 'emis-web', mode: 'backup', sort: 'since' });
    const search = writeQuery('', query);
    expect(search).toBe('?q=tees+valley&status=down%2Cunknown&system=emis-web&mode=backup&sort=since');
    expect(readQuery(search)).toEqual({ query, ignored: [] });
  });

  it('writes nothing for the default view, and keeps parameters it does not own', () => {
    expect(writeQuery('', DEFAULT_QUERY)).toBe('');
    expect(writeQuery('?display=abc&q=old&sort=name', q({ mode: 'normal' }))).toBe('?display=abc&mode=normal');
  });

  it('reads statuses in worst-first order without repeats', () => {
    expect(readQuery('?status=up,down,up').query.status).toEqual(['down', 'up']);
  });

  it('leaves out what it does not understand and says which parameter and why', () => {
    const { query, ignored } = readQuery('?status=down,broken&mode=sideways&sort=random&system=%3Cscript%3E');
    expect(query).toEqual(q({ status: ['down'] }));
    expect(ignored).toEqual([
      expect.stringMatching(/^status: "broken" is not a status/),
      'system: "<script>" is not a service id',
      'mode: "sideways" is not one of normal, backup',
      'sort: "random" is not one of worst, name, ods, since',
    ]);
    expect(readQuery(`?q=${'x'.repeat(101)}`).ignored).toEqual(['q: search is 101 characters; at most 100']);
  });
});
