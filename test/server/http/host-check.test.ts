import { describe, expect, it } from 'vitest';
import { hostName, hostPolicy, parseAllowedHosts } from '../../../server/http/host-check';

describe('host check', () => {
  it('reads the name of a Host header without port, brackets, case or trailing dot', () => {
    expect(hostName('Pulse.Example.NHS.uk.:443')).toBe('pulse.example.nhs.uk');
    expect(hostName('[::1]:8080')).toBe('::1');
    expect(hostName('evil.example/path')).toBeNull();
    expect(hostName('a@b')).toBeNull();
  });

  it('with no name configured answers loopback and IP addresses, never a DNS name', () => {
    const p = hostPolicy();
    for (const h of ['localhost:1234', '127.0.0.1', '[::1]:9', '10.0.0.5:8080', undefined]) expect(p.allows(h), String(h)).toBe(true);
    for (const h of ['evil.example', 'localhost.evil.example', 'bad host']) expect(p.allows(h), h).toBe(false);
  });

  it('with names configured answers only them and loopback', () => {
    const p = hostPolicy(['pulse.example.nhs.uk']);
    expect(p.allows('PULSE.example.nhs.uk:443')).toBe(true);
    expect(p.allows('localhost:5173')).toBe(true);
    expect(p.allows('10.0.0.5')).toBe(false);
    expect(p.allows('evil.example')).toBe(false);
  });

  it('names a bad PULSE_ALLOWED_HOSTS entry', () => {
    expect(parseAllowedHosts(' a.example , [::1], 10.0.0.1 ')).toEqual(['a.example', '::1', '10.0.0.1']);
    expect(() => parseAllowedHosts('a.example, https://b.example')).toThrow('PULSE_ALLOWED_HOSTS: "https://b.example" is not a host name');
    expect(() => parseAllowedHosts('b.example:8443')).toThrow('"b.example:8443"');
    expect(parseAllowedHosts(undefined)).toEqual([]);
  });
});
