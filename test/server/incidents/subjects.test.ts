import { describe, expect, it } from 'vitest';
import { parseEstate } from '../../../server/config/estate';
import { changedSubjects, estateNames, subjectState } from '../../../server/incidents/subjects';
import { upstream } from './fixtures';

const estate = parseEstate(
  `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A81001, name: Riverside Medical Practice, pcn: Leeds Central PCN, system: emis-web }
`,
  'e.yaml',
);

describe('estate adapters for the tracker', () => {
  it("gives a practice's state its PCN and name, and a service's its name with no PCN", () => {
    expect(subjectState(estate, 'practice:A81001', { status: 'down', cause: upstream('emis-web') })).toEqual({
      key: 'practice:A81001',
      status: 'down',
      cause: upstream('emis-web'),
      pcn: 'Leeds Central PCN',
      name: 'Riverside Medical Practice',
    });
    expect(subjectState(estate, 'service:emis-web', { status: 'up', cause: null })).toMatchObject({ pcn: null, name: 'EMIS Web' });
    expect(changedSubjects(estate, [{ subject: 'practice:A81001', from: 'up', to: 'degraded', cause: null, at: 5 }])).toEqual([
      { key: 'practice:A81001', status: 'degraded', cause: null, pcn: 'Leeds Central PCN', name: 'Riverside Medical Practice' },
    ]);
  });

  it('names services, practices and PCNs for titles, and nothing it does not know', () => {
    const nameOf = estateNames(estate);
    expect(nameOf('service:emis-web')).toBe('EMIS Web');
    expect(nameOf('practice:A81001')).toBe('Riverside Medical Practice');
    expect(nameOf('pcn:Leeds Central PCN')).toBe('Leeds Central PCN');
    expect(nameOf('service:gone')).toBeUndefined();
  });
});
