import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_AGENTS_PER_PRACTICE, fleetSchema, parseFleetDuration } from '../../../server/fleet/config';

const TOKEN = { env: 'PULSE_FLEET_A81001' };

/** The first issue's field path and message, as the estate loader would report it. */
function firstIssue(input: unknown): { field: string; message: string } {
  const parsed = fleetSchema.safeParse(input);
  if (parsed.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  const issue = parsed.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.');
  return { field, message: issue.message };
}

describe('parseFleetDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['7d', 7 * 86_400_000],
    ['1.5d', 36 * 3_600_000],
    [' 60s ', 60_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseFleetDuration(text)).toBe(ms);
  });
  it.each(['', '7', 'd', '0s', '0d', '-1d', '1w', '1 day', 'soon'])('rejects %j', (text) => {
    expect(parseFleetDuration(text)).toBeNull();
  });
});

describe('fleet block', () => {
  it('fills the defaults and resolves durations to milliseconds', () => {
    expect(fleetSchema.parse({ token: TOKEN })).toEqual({
      token: TOKEN,
      intervalMs: 60_000,
      silentAfter: 3,
      degradedAt: 0.2,
      downAt: 0.5,
      expectedAgents: null,
      forgetAfterMs: 7 * 86_400_000,
    });
  });

  it('keeps every field it is given', () => {
    expect(
      fleetSchema.parse({
        token: { file: '/run/secrets/fleet-A81001' },
        interval: '30s',
        silentAfter: 4,
        degradedAt: 0.1,
        downAt: 0.3,
        expectedAgents: 20,
        forgetAfter: '2d',
      }),
    ).toEqual({
      token: { file: '/run/secrets/fleet-A81001' },
      intervalMs: 30_000,
      silentAfter: 4,
      degradedAt: 0.1,
      downAt: 0.3,
      expectedAgents: 20,
      forgetAfterMs: 2 * 86_400_000,
    });
  });

  it('accepts downAt of 1 (down only when every workstation is silent)', () => {
    expect(fleetSchema.parse({ token: TOKEN, degradedAt: 0.5, downAt: 1 }).downAt).toBe(1);
  });

  it('is accepted as an optional practice field, as the estate schema will use it', () => {
    const practice = z.object({ ods: z.string(), fleet: fleetSchema.optional() }).strict();
    expect(practice.parse({ ods: 'A81001' }).fleet).toBeUndefined();
    expect(practice.parse({ ods: 'A81001', fleet: { token: TOKEN } }).fleet?.intervalMs).toBe(60_000);
    const bad = practice.safeParse({ ods: 'A81001', fleet: { token: TOKEN, downAt: 0.1 } });
    expect(bad.error?.issues[0]?.path).toEqual(['fleet', 'downAt']);
  });
});

describe('fleet block errors name the field', () => {
  it('refuses a token written in the file, without echoing it', () => {
    const err = firstIssue({ token: 's3cr3t-practice-token' });
    expect(err.field).toBe('token');
    expect(err.message).toMatch(/\{ env: VARIABLE \} or \{ file: \/path\/to\/file \}/);
    expect(err.message).not.toContain('s3cr3t');
  });
  it('requires the token', () => {
    expect(firstIssue({}).field).toBe('token');
  });
  it('requires exactly one of env or file', () => {
    expect(firstIssue({ token: {} })).toEqual({ field: 'token', message: 'expected exactly one of env or file' });
    expect(firstIssue({ token: { env: 'A', file: '/a' } })).toEqual({ field: 'token', message: 'expected exactly one of env or file' });
  });
  it('rejects a bad environment variable name', () => {
    expect(firstIssue({ token: { env: 'not a name' } }).field).toBe('token.env');
  });
  it('rejects a relative token file', () => {
    expect(firstIssue({ token: { file: 'secrets/fleet' } })).toMatchObject({ field: 'token.file', message: /absolute/ });
  });
  it('rejects an unknown field inside token and in the block', () => {
    expect(firstIssue({ token: { env: 'A', value: 'x' } }).field).toBe('value');
    expect(firstIssue({ token: TOKEN, silentAfterr: 3 }).field).toBe('silentAfterr');
  });
  it.each([
    [{ interval: '60' }, 'interval'],
    [{ interval: 60 }, 'interval'],
    [{ forgetAfter: 'a week' }, 'forgetAfter'],
    [{ silentAfter: 0 }, 'silentAfter'],
    [{ silentAfter: 2.5 }, 'silentAfter'],
    [{ degradedAt: 0 }, 'degradedAt'],
    [{ degradedAt: -0.1 }, 'degradedAt'],
    [{ downAt: 1.5 }, 'downAt'],
    [{ downAt: '50%' }, 'downAt'],
    [{ expectedAgents: 0 }, 'expectedAgents'],
    [{ expectedAgents: 12.5 }, 'expectedAgents'],
    [{ expectedAgents: MAX_AGENTS_PER_PRACTICE + 1 }, 'expectedAgents'],
  ])('rejects %j at its field', (fields, field) => {
    expect(firstIssue({ token: TOKEN, ...fields }).field).toBe(field);
  });
  it('says downAt must be greater than degradedAt, naming both values', () => {
    expect(firstIssue({ token: TOKEN, degradedAt: 0.5, downAt: 0.3 })).toEqual({
      field: 'downAt',
      message: 'downAt (0.3) must be greater than degradedAt (0.5)',
    });
    expect(firstIssue({ token: TOKEN, degradedAt: 0.4, downAt: 0.4 }).field).toBe('downAt');
    // Against the defaults too: degradedAt alone raised past the default downAt.
    expect(firstIssue({ token: TOKEN, degradedAt: 0.6 }).message).toBe('downAt (0.5) must be greater than degradedAt (0.6)');
  });
  it('refuses a forgetAfter that would forget agents before they count as silent', () => {
    expect(firstIssue({ token: TOKEN, interval: '1h', silentAfter: 3, forgetAfter: '3h' })).toEqual({
      field: 'forgetAfter',
      message: 'forgetAfter 3h must be longer than silentAfter × interval (3 × 1h)',
    });
    expect(fleetSchema.safeParse({ token: TOKEN, interval: '1h', silentAfter: 3, forgetAfter: '4h' }).success).toBe(true);
  });
});
