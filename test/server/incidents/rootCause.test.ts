import { describe, expect, it } from 'vitest';
import { isFailing, rootCause } from '../../../server/incidents/rootCause';
import { STATUS_LEVELS } from '../../../server/status/types';
import { checks, upstream } from './fixtures';

describe('root cause', () => {
  it('is the deepest service of an upstream chain: EMIS Web ← HSCN is HSCN', () => {
    expect(rootCause('practice:A81001', 'down', upstream('emis-web', 'hscn'))).toBe('service:hscn');
    expect(rootCause('service:emis-web', 'down', upstream('hscn'))).toBe('service:hscn');
  });

  it('is the service itself for a practice down because its clinical system is', () => {
    expect(rootCause('practice:A81001', 'degraded', upstream('emis-web'))).toBe('service:emis-web');
  });

  it('is the subject itself when it fails on its own checks', () => {
    expect(rootCause('practice:A81001', 'down', checks('A81001-gateway', 'status 503, expected 2xx'))).toBe('practice:A81001');
    expect(rootCause('service:nhs111-online', 'down', checks('111-api', 'timeout'))).toBe('service:nhs111-online');
  });

  it('stops at an upstream link whose own cause is unknown (via null)', () => {
    const cause = { kind: 'upstream', service: 'emis-web', impact: 'critical', status: 'down', via: null } as const;
    expect(rootCause('practice:A81001', 'down', cause)).toBe('service:emis-web');
  });

  it('is null for every status but down and degraded: only confirmed failures open incidents', () => {
    const opening = STATUS_LEVELS.filter((s) => rootCause('practice:A81001', s, upstream('emis-web')) !== null);
    expect(opening).toEqual(['down', 'degraded']);
    expect(STATUS_LEVELS.filter(isFailing)).toEqual(['down', 'degraded']);
  });
});
