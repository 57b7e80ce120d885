import { describe, expect, it } from 'vitest';
import { incidentHref, practiceHref, routeOf } from '../../web/lib/route';

describe('routeOf', () => {
  it('maps each page path', () => {
    expect(routeOf('/')).toEqual({ page: 'console' });
    expect(routeOf('/wall')).toEqual({ page: 'wall' });
    expect(routeOf('/wall/')).toEqual({ page: 'wall' });
    expect(routeOf('/practice/a81001')).toEqual({ page: 'practice', ods: 'A81001' });
    expect(routeOf('/incidents/42')).toEqual({ page: 'incident', id: 42 });
  });

  it('answers not-found for anything else, naming the path', () => {
    expect(routeOf('/incidents/0')).toEqual({ page: 'not-found', path: '/incidents/0' });
    expect(routeOf('/practice/../../etc')).toEqual({ page: 'not-found', path: '/practice/../../etc' });
    expect(routeOf('/nope')).toEqual({ page: 'not-found', path: '/nope' });
  });

  it('round-trips the links it makes', () => {
    expect(routeOf(practiceHref('B82005'))).toEqual({ page: 'practice', ods: 'B82005' });
    expect(routeOf(incidentHref(7))).toEqual({ page: 'incident', id: 7 });
  });
});
