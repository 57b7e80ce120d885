// Each check kind's options, written in an estate file beside id/kind/target, load
// through the server's config loader; a wrong option is rejected naming its field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEstate } from '../../server/config/estate';

function estate(check: string): string {
  const indented = check
    .trim()
    .split('\n')
    .map((line, i) => (i === 0 ? `      - ${line}` : `        ${line}`))
    .join('\n');
  return `services:
  - id: spine
    name: Spine
    kind: national
    checks:
${indented}
`;
}

function optionsOf(check: string): Record<string, unknown> {
  return parseEstate(estate(check), 'estate.yaml').checks.get('c1')!.options;
}

function errorOf(check: string): ConfigError {
  try {
    parseEstate(estate(check), 'estate.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected the estate to be rejected');
}

describe('check options in the estate file', () => {
  it('loads http extensions: bodyMatches, json, degradedAfter, certExpiryDays, tls', () => {
    expect(
      optionsOf(`
id: c1
kind: http
target: https://api.example.nhs.uk/health
headers: { X-Practice: A81001, Authorization: { env: PULSE_HEALTH_TOKEN } }
degradedAfter: 800ms
certExpiryDays: 21
expect:
  bodyMatches: '"status":\\s*"pass"'
  json:
    - { path: checks.spine:status.0.status, equals: pass }
    - { path: version, equals: 3 }
tls:
  ca: { file: /etc/pulse/hscn-ca.pem }
  cert: { file: /etc/pulse/client.pem }
  key: { env: PULSE_CLIENT_KEY }
  serverName: api.example.nhs.uk`),
    ).toEqual({
      method: 'GET',
      headers: { 'X-Practice': 'A81001', Authorization: { env: 'PULSE_HEALTH_TOKEN' } },
      degradedAfter: '800ms',
      certExpiryDays: 21,
      expect: {
        bodyMatches: '"status":\\s*"pass"',
        json: [
          { path: 'checks.spine:status.0.status', equals: 'pass' },
          { path: 'version', equals: 3 },
        ],
      },
      tls: {
        ca: { file: '/etc/pulse/hscn-ca.pem' },
        cert: { file: '/etc/pulse/client.pem' },
        key: { env: 'PULSE_CLIENT_KEY' },
        serverName: 'api.example.nhs.uk',
        insecureSkipVerify: false,
      },
    });
  });

  it('loads tcp with tls: true', () => {
    expect(optionsOf('id: c1\nkind: tcp\ntarget: spine.example.nhs.uk:443\ntls: true')).toEqual({ tls: true });
  });

  it('loads dns, tls, fhir and nhs-api with their defaults filled', () => {
    expect(optionsOf('id: c1\nkind: dns\ntarget: spine.example.nhs.uk\nresolver: 10.0.0.53:53\nexpect: { anyOf: [10.20.0.1] }')).toEqual({
      recordType: 'A',
      resolver: '10.0.0.53:53',
      expect: { anyOf: ['10.20.0.1'] },
    });
    expect(optionsOf('id: c1\nkind: tls\ntarget: spine.example.nhs.uk:443')).toEqual({ degradedWithinDays: 14 });
    expect(
      optionsOf(`
id: c1
kind: fhir
target: https://gpconnect.example.nhs.uk/B82617/STU3/1/gpconnect/fhir
spine: { from: 200000000359, to: "918999198738" }
jwt:
  key: { file: /run/secrets/spine-jwt.pem }
  claims: { iss: https://pulse.example.nhs.uk, requesting_organization: { identifier: [ { value: B82617 } ] } }
tls:
  cert: { file: /run/secrets/spine-client.pem }
  key: { file: /run/secrets/spine-client.key }`),
    ).toEqual({
      headers: {},
      spine: { from: '200000000359', to: '918999198738', interactionId: 'urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1' },
      jwt: {
        key: { file: '/run/secrets/spine-jwt.pem' },
        alg: 'RS256',
        ttl: '5m',
        claims: { iss: 'https://pulse.example.nhs.uk', requesting_organization: { identifier: [{ value: 'B82617' }] } },
      },
      tls: { cert: { file: '/run/secrets/spine-client.pem' }, key: { file: '/run/secrets/spine-client.key' }, insecureSkipVerify: false },
      expect: { fhirVersions: ['3.0.1', '4.0.1'] },
    });
    expect(optionsOf('id: c1\nkind: nhs-api\ntarget: https://api.service.nhs.uk/pds\napiKey: { env: PULSE_PDS_KEY }\nrequireChecks: ["spine:status"]')).toEqual({
      endpoint: '_status',
      apiKey: { env: 'PULSE_PDS_KEY' },
      requireChecks: ['spine:status'],
    });
  });

  it.each([
    ['a regex that does not compile', 'kind: http\ntarget: https://x.example.nhs.uk/\nexpect: { bodyMatches: "(unclosed" }', 'services[0].checks[0].expect.bodyMatches', 'not a valid regular expression'],
    ['a bad duration', 'kind: http\ntarget: https://x.example.nhs.uk/\ndegradedAfter: fast', 'services[0].checks[0].degradedAfter', 'expected a duration'],
    ['a tls cert without its key', 'kind: tcp\ntarget: x.example.nhs.uk:443\ntls: { cert: { file: /c.pem } }', 'services[0].checks[0].tls.cert', 'cert and key go together'],
    ['an unknown record type', 'kind: dns\ntarget: x.example.nhs.uk\nrecordType: MX', 'services[0].checks[0].recordType', ''],
    ['a resolver given by name', 'kind: dns\ntarget: x.example.nhs.uk\nresolver: ns1.example.nhs.uk', 'services[0].checks[0].resolver', 'IP address of a DNS server'],
    ['a negative degradedWithinDays', 'kind: tls\ntarget: x.example.nhs.uk:443\ndegradedWithinDays: -1', 'services[0].checks[0].degradedWithinDays', ''],
    ['a configured exp claim', 'kind: fhir\ntarget: https://x.example.nhs.uk/fhir\njwt: { key: { env: K }, claims: { exp: 1 } }', 'services[0].checks[0].jwt.claims', 'set on each request'],
    ['an unknown nhs-api endpoint', 'kind: nhs-api\ntarget: https://x.example.nhs.uk/pds\nendpoint: _health', 'services[0].checks[0].endpoint', ''],
    ['a misspelt option', 'kind: tls\ntarget: x.example.nhs.uk:443\ndegradedWithinDay: 3', 'services[0].checks[0].degradedWithinDay', 'unknown field'],
  ])('rejects %s, naming the field', (_name, body, field, reason) => {
    const error = errorOf(`id: c1\n${body}`);
    expect(error.field).toBe(field);
    expect(error.line).toEqual(expect.any(Number));
    expect(error.reason).toContain(reason);
  });

  it('rejects a secret written into the file, without repeating it', () => {
    const error = errorOf('id: c1\nkind: nhs-api\ntarget: https://x.example.nhs.uk/pds\napiKey: sk-live-0123456789abcdef');
    expect(error.field).toBe('services[0].checks[0].apiKey');
    expect(error.message).toContain('never write the secret itself');
    expect(error.message).not.toContain('sk-live');
  });

  it('loads every check example in docs/checks.md', () => {
    const doc = readFileSync(new URL('../../docs/checks.md', import.meta.url), 'utf8');
    const examples = [...doc.matchAll(/```yaml\n(- id: [\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(6);
    for (const example of examples) {
      const indented = example.trimEnd().split('\n').map((line) => `      ${line}`).join('\n');
      const text = `services:\n  - id: spine\n    name: Spine\n    kind: national\n    checks:\n${indented}\n`;
      expect(() => parseEstate(text, 'docs/checks.md'), example.split('\n')[0]).not.toThrow();
    }
  });
});
