// The estate file's optional `incidents:` section: defaults when absent, values resolved to
// milliseconds, and every mistake reported with file, line and field.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEstate } from '../../../server/config/estate';

const BASE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
`;

function errorOf(text: string): ConfigError {
  try {
    parseEstate(text, 'estate.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected the estate to be rejected');
}

describe('estate file: incidents section', () => {
  it('defaults to 3 practices of a PCN, and 8 practices in 3 PCNs across the estate, each within 10 minutes, waiting 30 s for a group', () => {
    expect(parseEstate(BASE, 'estate.yaml').incidents).toEqual({
      pcnThreshold: 3,
      pcnWindowMs: 600_000,
      endpoints: { practices: 8, pcns: 3, windowMs: 600_000 },
      groupWaitMs: 30_000,
    });
  });

  it.each([
    ['0s', 0],
    ['0', null],
    ['45s', 45_000],
    ['10m', 600_000],
  ])('takes groupWait: %s', (text, ms) => {
    const yaml = `${BASE}incidents: { groupWait: ${text} }\n`;
    if (ms === null) expect(errorOf(yaml).message).toContain('estate.yaml:3: incidents.groupWait: expected a duration such as 0s, 30s or 2m');
    else expect(parseEstate(yaml, 'estate.yaml').incidents.groupWaitMs).toBe(ms);
  });

  it('takes the thresholds given, with defaults for the rest', () => {
    const estate = parseEstate(`${BASE}incidents:\n  pcn: { practices: 4 }\n  endpoints:\n    practices: 20\n    window: 15m\n`, 'estate.yaml');
    expect(estate.incidents).toEqual({ pcnThreshold: 4, pcnWindowMs: 600_000, endpoints: { practices: 20, pcns: 3, windowMs: 900_000 }, groupWaitMs: 30_000 });
  });

  const cases: [string, string, string][] = [
    ['a count that is not a whole number', 'incidents:\n  pcn:\n    practices: 2.5\n', 'estate.yaml:5: incidents.pcn.practices: expected a whole number of practices'],
    ['a count below 2', 'incidents:\n  endpoints:\n    pcns: 1\n', 'estate.yaml:5: incidents.endpoints.pcns: expected at least 2 PCNs'],
    ['a bad duration', 'incidents:\n  endpoints:\n    window: ten minutes\n', 'estate.yaml:5: incidents.endpoints.window: expected a duration such as 30s, 10m or 1h'],
    ['a window too short', 'incidents:\n  pcn:\n    window: 5s\n', 'estate.yaml:5: incidents.pcn.window: expected a window from 1m to 24h'],
    ['more PCNs than practices', 'incidents:\n  endpoints:\n    practices: 4\n    pcns: 5\n', 'estate.yaml:6: incidents.endpoints.pcns: 5 PCNs cannot be met by 4 practices'],
    ['a group wait that is not a duration', 'incidents:\n  groupWait: soon\n', 'estate.yaml:4: incidents.groupWait: expected a duration such as 0s, 30s or 2m'],
    ['a group wait that is negative', 'incidents:\n  groupWait: -5s\n', 'estate.yaml:4: incidents.groupWait: expected a duration such as 0s, 30s or 2m'],
    ['a group wait over 10 minutes', 'incidents:\n  groupWait: 11m\n', 'estate.yaml:4: incidents.groupWait: expected a wait from 0s to 10m'],
    ['an unknown field', 'incidents:\n  endpoint: { practices: 4 }\n', 'estate.yaml:4: incidents.endpoint: unknown field "endpoint"'],
  ];
  it.each(cases)('rejects %s with file, line and field', (_name, section, expected) => {
    const err = errorOf(BASE + section);
    expect(err.message).toContain(expected);
    expect(err.code).toBe('CONFIG_INVALID');
  });
});
