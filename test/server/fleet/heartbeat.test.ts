import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from '../../../server/fleet/heartbeat';

function errorOf(json: unknown): { field: string; message: string } {
  const parsed = parseHeartbeat(json);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(json)} to be rejected`);
  return parsed.error;
}

describe('heartbeat body', () => {
  it('accepts the smallest body: an agent id', () => {
    expect(parseHeartbeat({ agent: 'PC-01' })).toEqual({ ok: true, value: { agent: 'PC-01' } });
  });

  it('accepts every field', () => {
    const body = {
      agent: 'A81001.reception-2:win11_x64',
      hostname: 'RECEPTION-2',
      version: '7.16.18605.0',
      bootedAt: '2024-07-19T04:09:00Z',
      sentAt: '2024-07-19T05:10:00.123+01:00',
    };
    expect(parseHeartbeat(body)).toEqual({ ok: true, value: body });
  });

  it('accepts an agent id of exactly 128 characters', () => {
    expect(parseHeartbeat({ agent: 'a'.repeat(128) }).ok).toBe(true);
  });

  it.each([
    [null],
    ['PC-01'],
    [42],
    [[{ agent: 'PC-01' }]],
  ])('names the body when it is not a JSON object: %j', (json) => {
    expect(errorOf(json).field).toBe('body');
  });

  it('names a missing agent', () => {
    expect(errorOf({ hostname: 'PC-01' })).toEqual({ field: 'agent', message: 'missing (the agent id is required)' });
  });

  it.each([
    [{ agent: '' }, /at least 1/],
    [{ agent: 'a'.repeat(129) }, /at most 128/],
    [{ agent: 'PC 01' }, /letters, digits/],
    [{ agent: 'PC/01' }, /letters, digits/],
    [{ agent: 'PC-01\n' }, /letters, digits/],
    [{ agent: 7 }, /expected a string/],
  ])('rejects a bad agent id %j', (json, message) => {
    const err = errorOf(json);
    expect(err.field).toBe('agent');
    expect(err.message).toMatch(message);
  });

  it.each([
    [{ agent: 'PC-01', hostname: '' }, 'hostname'],
    [{ agent: 'PC-01', hostname: 'x'.repeat(254) }, 'hostname'],
    [{ agent: 'PC-01', hostname: 'PC\u0007' }, 'hostname'],
    [{ agent: 'PC-01', version: 7 }, 'version'],
    [{ agent: 'PC-01', version: 'v'.repeat(65) }, 'version'],
    [{ agent: 'PC-01', bootedAt: 'yesterday' }, 'bootedAt'],
    [{ agent: 'PC-01', bootedAt: 1721362140000 }, 'bootedAt'],
    [{ agent: 'PC-01', sentAt: '2024-07-19T04:09:00' }, 'sentAt'],
    [{ agent: 'PC-01', sentAt: '2024-07-19' }, 'sentAt'],
  ])('rejects %j naming %s', (json, field) => {
    expect(errorOf(json).field).toBe(field);
  });

  it('says what a date-time must look like', () => {
    expect(errorOf({ agent: 'PC-01', sentAt: 'now' }).message).toMatch(/ISO 8601 .*time zone/);
  });

  it('names an unknown field and lists the known ones', () => {
    expect(errorOf({ agent: 'PC-01', hostnme: 'PC-01' })).toEqual({
      field: 'hostnme',
      message: 'unknown field "hostnme"; expected agent, hostname, version, bootedAt, sentAt, software',
    });
  });

  it('never echoes a long unknown key back in full', () => {
    const key = 'k'.repeat(10_000);
    const err = errorOf({ agent: 'PC-01', [key]: 1 });
    expect(err.field.length).toBeLessThan(50);
    expect(err.message.length).toBeLessThan(200);
  });
});

describe('heartbeat software', () => {
  const software = { 'falcon-sensor': '7.16.18605', 'channel-file': 'C-00000291', os: '10.0.19045.4651' };

  it('accepts a small map of names to versions', () => {
    expect(parseHeartbeat({ agent: 'PC-01', software })).toEqual({ ok: true, value: { agent: 'PC-01', software } });
    expect(parseHeartbeat({ agent: 'PC-01', software: {} }).ok).toBe(true);
  });

  it('accepts 16 entries, names and versions of 64 characters', () => {
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v']));
    expect(parseHeartbeat({ agent: 'PC-01', software: sixteen }).ok).toBe(true);
    expect(parseHeartbeat({ agent: 'PC-01', software: { ['n'.repeat(64)]: 'v'.repeat(64) } }).ok).toBe(true);
    expect(parseHeartbeat({ agent: 'PC-01', software: { 'win:kb.5040427_x-64': 'installed 2024-07-09' } }).ok).toBe(true);
  });

  it('refuses a 17th entry as one error on the map', () => {
    const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 7]));
    expect(errorOf({ agent: 'PC-01', software: seventeen })).toEqual({ field: 'software', message: 'at most 16 entries (got 17)' });
  });

  it.each([
    ['a string', 'falcon-sensor'],
    ['an array', ['7.16']],
    ['null', null],
  ])('refuses software that is not an object (%s)', (_, value) => {
    expect(errorOf({ agent: 'PC-01', software: value })).toMatchObject({ field: 'software', message: /expected an object of software names to versions/ });
  });

  it.each([
    [{ 'falcon-sensor': 7 }, /expected a version as a string/],
    [{ 'falcon-sensor': '' }, /at least 1/],
    [{ 'falcon-sensor': 'v'.repeat(65) }, /at most 64 characters/],
    [{ 'falcon-sensor': '7.16\u0000' }, /printable text without control characters/],
    [{ 'falcon-sensor': '7.16\n' }, /printable text/],
    [{ 'falcon-sensor': '7.16\u009b' }, /printable text/],
    [{ 'falcon-sensor': '\u202e61.7' }, /printable text/],
  ])('refuses a bad version %j, naming its entry', (map, message) => {
    const err = errorOf({ agent: 'PC-01', software: map });
    expect(err.field).toBe('software.falcon-sensor');
    expect(err.message).toMatch(message);
  });

  it.each([['falcon sensor'], ['falcon/sensor'], ['-leading-dash'], ['__proto__'], ['n'.repeat(65)], ['']])(
    'refuses the name %j',
    (name) => {
      const err = errorOf({ agent: 'PC-01', software: { [name]: '1' } });
      expect(err.field.startsWith('software.')).toBe(true);
      expect(err.message).toMatch(/letters, digits, dots, underscores, colons or dashes, starting with a letter or digit/);
    },
  );

  it('refuses __proto__ as parsed from JSON (an own key), rather than dropping it', () => {
    expect(errorOf(JSON.parse('{"agent":"PC-01","software":{"__proto__":{"polluted":"yes"}}}')).field).toBe('software.__proto__');
  });

  it('clips a long bad name in the field it reports', () => {
    const err = errorOf({ agent: 'PC-01', software: { ['x y'.repeat(1000)]: '1' } });
    expect(err.field.length).toBeLessThan(60);
  });
});
