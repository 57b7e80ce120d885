// The heartbeat body's two checks (issue 14): the plain check that takes the usual body
// without zod never accepts what the schema refuses, gives the same value, and every refused
// body still gets the schema's words (the field and what was wrong).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { heartbeatSchema, parseHeartbeat, plainlyValid } from '../../../server/fleet/heartbeat';

const nasty = fc.constantFrom('', ' ', 'PC-01', 'pc 01', 'a\u0000b', 'a\u007fb', 'x\u0085y', 'line\u2028sep', 'bidi\u202e', '__proto__', 'constructor', 'é', '7.16.18605', 'C-00000291', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(128), 'a'.repeat(129), 'a'.repeat(253), 'a'.repeat(254));
const text = fc.oneof(nasty, fc.string({ maxLength: 70 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
const stamp = fc.oneof(
  fc.constantFrom('2024-07-19T04:09:00Z', '2024-07-19T05:10:00.123+01:00', '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2024-07-19T24:00:00Z', '2024-07-19T04:09:00', '2024-07-19', 'now'),
  fc.date({ min: new Date('1990-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  text,
);
const value = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}));
const software = fc.oneof(
  fc.dictionary(fc.oneof(nasty, fc.string({ maxLength: 66 })), fc.oneof(text, value), { maxKeys: 18 }),
  value,
);
/** Bodies the schema takes, most of them; and the same with one field made wrong. */
const printable = fc.string({ minLength: 1, maxLength: 64 }).filter((v) => !/[\u0000-\u001f\u007f]/.test(v));
const good = fc.record(
  {
    agent: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
    hostname: printable,
    version: printable,
    bootedAt: fc.date({ min: new Date('1990-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    sentAt: fc.constantFrom('2024-07-19T04:09:00Z', '2024-07-19T05:10:00.123+01:00', '2024-02-29T23:59:59-05:30'),
    software: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/), fc.oneof(printable, nasty), { maxKeys: 17 }),
  },
  { requiredKeys: ['agent'] },
);
const spoilt = fc
  .tuple(good, fc.constantFrom('agent', 'hostname', 'version', 'bootedAt', 'sentAt', 'software', 'extra'), fc.oneof(value, stamp))
  .map(([b, key, v]) => ({ ...b, [key]: v }));
const random = fc.record(
  {
    agent: fc.oneof(text, value),
    hostname: fc.oneof(text, value),
    version: fc.oneof(text, value),
    bootedAt: fc.oneof(stamp, value),
    sentAt: fc.oneof(stamp, value),
    software,
    extra: value,
  },
  { requiredKeys: [] },
);
const body = fc.oneof(good, spoilt, random);

describe('plainlyValid against the heartbeat schema', () => {
  it('never accepts a body the schema refuses, and parseHeartbeat answers as the schema does', () => {
    let plain = 0;
    fc.assert(
      fc.property(body, (raw) => {
        // Through JSON, as the route gets it (an own __proto__ key included when generated).
        const json = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
        const schema = heartbeatSchema.safeParse(json);
        if (plainlyValid(json)) {
          plain++;
          expect(schema.success).toBe(true);
          expect(json).toEqual(schema.data);
        }
        const parsed = parseHeartbeat(json);
        expect(parsed.ok).toBe(schema.success);
        if (!parsed.ok) expect(parsed.error.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 3_000 },
    );
    // The generator reaches the plain check's yes, not only its no.
    expect(plain).toBeGreaterThan(30);
  });

  it('takes the bodies agents send without the schema', () => {
    expect(plainlyValid({ agent: 'RECEPTION-02' })).toBe(true);
    expect(
      plainlyValid({
        agent: 'A81001-PC-07',
        hostname: 'a81001-pc-07.practice.nhs.uk',
        version: '2.3.1',
        bootedAt: '2024-07-19T04:09:00Z',
        sentAt: '2024-07-19T05:10:00.123+01:00',
        software: { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291', os: '10.0.19045.4651' },
      }),
    ).toBe(true);
    expect(plainlyValid(JSON.parse('{"agent":"PC-01","__proto__":{"x":"1"}}') as Record<string, unknown>)).toBe(false);
  });

  it('leaves every refusal to the schema, worded with the field and what was wrong', () => {
    const error = (json: unknown) => {
      const parsed = parseHeartbeat(json);
      return parsed.ok ? null : parsed.error;
    };
    expect(error({ agent: 'PC 01' })).toEqual({ field: 'agent', message: 'expected letters, digits, dots, underscores, colons or dashes' });
    expect(error({ hostname: 'x' })).toEqual({ field: 'agent', message: 'missing (the agent id is required)' });
    expect(error({ agent: 'PC-01', sentAt: '2024-07-19T04:09:00' })?.field).toBe('sentAt');
    expect(error({ agent: 'PC-01', software: { 'falcon-sensor': 'a\u202eb' } })).toEqual({
      field: 'software.falcon-sensor',
      message: 'expected printable text without control characters',
    });
    expect(error({ agent: 'PC-01', hostnme: 'x' })?.message).toBe('unknown field "hostnme"; expected agent, hostname, version, bootedAt, sentAt, software');
  });
});
