import { describe, expect, it } from 'vitest';
import { ConfigError, loadEstateFile, parseEstate } from '../../../server/config/estate';

const GOOD = `defaults:
  interval: 10s
  timeout: 2s
services:
  - id: hscn
    name: HSCN
    kind: network
    checks:
      - id: hscn-tcp
        kind: tcp
        target: 127.0.0.1:9
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    dependsOn:
      - service: hscn
    checks:
      - id: emis-web-api
        kind: http
        target: http://127.0.0.1:9/health
        interval: 5s
        expect:
          status: [200]
  - id: eps
    name: Electronic Prescription Service
    kind: national
practices:
  - ods: A81001
    name: Riverside Medical Practice
    pcn: Leeds Central PCN
    icb: QWO
    system: emis-web
    dependsOn:
      - service: eps
        impact: degrading
    checks:
      - id: A81001-gateway
        kind: http
        target: http://127.0.0.1:9/practices/A81001/gateway
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

describe('estate loader', () => {
  it('resolves services, practices, checks, defaults and the implied clinical-system dependency', () => {
    const estate = parseEstate(GOOD, 'estate.yaml');
    expect([...estate.services.keys()]).toEqual(['hscn', 'emis-web', 'eps']);
    expect(estate.services.get('emis-web')!.dependsOn).toEqual([{ service: 'hscn', impact: 'critical' }]);
    const practice = estate.practices.get('A81001')!;
    expect(practice.dependsOn).toEqual([
      { service: 'emis-web', impact: 'critical' },
      { service: 'eps', impact: 'degrading' },
    ]);
    expect(estate.checks.get('emis-web-api')).toMatchObject({ intervalMs: 5_000, timeoutMs: 2_000, kind: 'http' });
    expect(estate.checks.get('hscn-tcp')).toMatchObject({ intervalMs: 10_000, subject: { type: 'service', id: 'hscn' } });
    expect(estate.checks.get('A81001-gateway')!.subject).toEqual({ type: 'practice', id: 'A81001' });
    expect(estate.status).toEqual({ failuresToDown: 2, successesToUp: 1, quorum: 1, flapping: { windowMs: 600_000, maxChanges: 6 } });
    expect(estate.maintenance).toEqual([]);
  });

  // Each broken file must yield one line naming the file, the line and the field.
  const cases: [string, string, string][] = [
    ['an unknown check kind', GOOD.replace('kind: tcp', 'kind: tpc'), 'estate.yaml:10: services[0].checks[0].kind: unknown check kind; expected one of'],
    ['a malformed ODS code', GOOD.replace('ods: A81001', 'ods: a8100'), 'estate.yaml:28: practices[0].ods: expected an ODS practice code'],
    ['a missing name', GOOD.replace('    name: Riverside Medical Practice\n', ''), 'estate.yaml:28: practices[0].name: missing'],
    ['an unknown field', GOOD.replace('        interval: 5s', '        intervall: 5s'), 'estate.yaml:21: services[1].checks[0].intervall: unknown field "intervall"'],
    ['an unknown clinical system', GOOD.replace('system: emis-web', 'system: emis'), 'estate.yaml:32: practices[0].system: unknown service "emis"'],
    ['a system that is not a clinical system', GOOD.replace('system: emis-web', 'system: eps'), 'practices[0].system: "eps" is a national service, not a clinical system'],
    ['an unknown dependency', GOOD.replace('service: eps', 'service: epss'), 'estate.yaml:34: practices[0].dependsOn[0].service: unknown service "epss"'],
    ['a bad duration', GOOD.replace('interval: 5s', 'interval: 5 sec'), 'estate.yaml:21: services[1].checks[0].interval: expected a duration'],
    ['a timeout longer than the interval', GOOD.replace('interval: 5s', 'interval: 1s'), 'services[1].checks[0].timeout: timeout 2s is longer than the interval 1s'],
    ['an out-of-range status code', GOOD.replace('status: [200]', 'status: [700]'), 'estate.yaml:23: services[1].checks[0].expect.status[0]:'],
    ['a bad http target', GOOD.replace('http://127.0.0.1:9/health', 'ftp://x'), 'estate.yaml:20: services[1].checks[0].target:'],
    ['a bad tcp target', GOOD.replace('127.0.0.1:9\n', '127.0.0.1\n'), 'estate.yaml:11: services[0].checks[0].target:'],
    ['a duplicate check id', GOOD.replace('id: A81001-gateway', 'id: emis-web-api'), 'practices[0].checks[0].id: duplicate check id "emis-web-api" (first used at services[1].checks[0])'],
    ['a duplicate practice', GOOD + GOOD.slice(GOOD.indexOf('  - ods:')).replace(/A81001-gateway/g, 'other'), 'practices[1].ods: duplicate practice "A81001"'],
    ['a service dependency cycle', GOOD.replace('    kind: network\n', '    kind: network\n    dependsOn:\n      - service: emis-web\n'), 'dependency cycle: hscn → emis-web → hscn'],
    ['invalid YAML', 'services:\n  - id: [\n', 'estate.yaml:3: invalid YAML'],
    [
      'an option rule across fields (nhs-api _status needs an apiKey)',
      GOOD.replace('kind: tcp\n        target: 127.0.0.1:9', 'kind: nhs-api\n        target: https://api.example.nhs.uk/pds\n        endpoint: _status'),
      'estate.yaml:9: services[0].checks[0].apiKey: required for endpoint _status',
    ],
    [
      'a maintenance window on an unknown service',
      `${GOOD}maintenance:\n  - { subject: "service:emis", start: "2026-11-28T13:00:00Z", end: "2026-11-28T17:00:00Z", author: EMIS, reason: Failover test }\n`,
      'estate.yaml:41: maintenance[0].subject: unknown service "emis"',
    ],
    [
      'a maintenance window that ends before it starts',
      `${GOOD}maintenance:\n  - { subject: "service:emis-web", start: "2026-11-28T13:00:00Z", end: "2026-11-28T12:00:00Z", author: EMIS, reason: Failover test }\n`,
      'maintenance[0].end: end 2026-11-28T12:00:00Z is not after start 2026-11-28T13:00:00Z',
    ],
    [
      'a maintenance window with a bad time',
      `${GOOD}maintenance:\n  - { subject: "service:emis-web", start: "Saturday 1pm", end: "2026-11-28T12:00:00Z", author: EMIS, reason: Failover test }\n`,
      'maintenance[0].start: expected a date and time such as 2026-11-28T13:00:00Z',
    ],
    ['an empty file', '', 'estate.yaml: the file is empty'],
    ['no services', 'services: []\n', 'estate.yaml:1: services: expected at least one service'],
  ];
  it.each(cases)('rejects %s with file, line and field', (_name, text, expected) => {
    const err = errorOf(text);
    expect(err.message).toContain(expected);
    expect(err.message).not.toContain('\n');
    expect(err.code).toBe('CONFIG_INVALID');
  });

  it('says so when the file does not exist', () => {
    expect(() => loadEstateFile('/nonexistent/estate.yaml')).toThrow('/nonexistent/estate.yaml: file not found');
  });
});
