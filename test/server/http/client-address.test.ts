import { describe, expect, it } from 'vitest';
import { clientAddress, NO_TRUSTED_PROXIES, parseTrustedProxies } from '../../../server/http/client-address';

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('client address', () => {
  it('ignores forwarded headers from a peer that is not a configured proxy', () => {
    expect(clientAddress('127.0.0.1', headers({ 'x-real-ip': '203.0.113.9' }), NO_TRUSTED_PROXIES)).toBe('127.0.0.1');
    expect(clientAddress('::ffff:127.0.0.1', headers({ 'x-forwarded-for': '203.0.113.9' }), NO_TRUSTED_PROXIES)).toBe('127.0.0.1');
  });

  it('believes a trusted proxy, taking the right-most hop that is not itself a proxy', () => {
    const trusted = parseTrustedProxies('127.0.0.1, 10.0.0.0/8');
    expect(clientAddress('127.0.0.1', headers({ 'x-real-ip': '203.0.113.9' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress('127.0.0.1', headers({ 'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.1.2.3' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress('192.0.2.5', headers({ 'x-forwarded-for': '203.0.113.9' }), trusted)).toBe('192.0.2.5');
  });

  it('falls back to the peer when the forwarded value is not an address', () => {
    const trusted = parseTrustedProxies('127.0.0.1');
    expect(clientAddress('127.0.0.1', headers({ 'x-forwarded-for': 'evil, 203.0.113.9' }), trusted)).toBe('203.0.113.9');
    expect(clientAddress('127.0.0.1', headers({ 'x-forwarded-for': 'not-an-ip' }), trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', headers({ 'x-real-ip': 'nope' }), trusted)).toBe('127.0.0.1');
    expect(clientAddress(undefined, headers({}), trusted)).toBe('unknown');
  });

  it('names a bad entry in the configuration', () => {
    expect(() => parseTrustedProxies('127.0.0.1, localhost')).toThrow('PULSE_TRUSTED_PROXIES: "localhost" is not an IP address');
    expect(() => parseTrustedProxies('10.0.0.0/33')).toThrow('"10.0.0.0/33" has a prefix length outside 0–32');
    expect(parseTrustedProxies('').entries).toEqual([]);
    expect(parseTrustedProxies('::1').trusts('::1')).toBe(true);
  });
});
