import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dns, type DnsOptions } from '../../probes/dns';
import { startDnsServer, type DnsTestServer } from './dns-server';

const ZONE = {
  'spine.example.nhs.uk': { A: ['10.20.0.1', '10.20.0.2'], AAAA: ['2001:db8:0:0::1'] },
  'gpconnect.example.nhs.uk': { CNAME: ['spine-proxy.example.nhs.uk.'] },
  'broken.example.nhs.uk': { rcode: 2 },
  'refusing.example.nhs.uk': { rcode: 5 },
  'slow.example.nhs.uk': { silent: true },
};

let server: DnsTestServer;
beforeEach(async () => {
  server = await startDnsServer(ZONE);
});
afterEach(async () => {
  await server.close();
});

function options(input: Record<string, unknown> = {}): DnsOptions {
  return dns.options.parse({ resolver: server.address, ...input });
}
const ctx = (timeoutMs = 5_000) => ({ signal: AbortSignal.timeout(timeoutMs), timeoutMs });

describe('dns check kind', () => {
  it('resolves A records through the configured resolver and lists them', async () => {
    const outcome = await dns.run('spine.example.nhs.uk', options(), ctx());
    expect(outcome).toMatchObject({ ok: true, detail: 'A spine.example.nhs.uk: 10.20.0.1, 10.20.0.2' });
    expect(outcome.latencyMs).toBeGreaterThan(0);
    expect(server.queries).toEqual(['A spine.example.nhs.uk']);
  });

  it('resolves AAAA and CNAME, comparing IPv6 and names in canonical form', async () => {
    expect(await dns.run('spine.example.nhs.uk', options({ recordType: 'AAAA', expect: { answers: ['2001:DB8::1'] } }), ctx())).toMatchObject({
      ok: true,
      detail: 'AAAA spine.example.nhs.uk: 2001:db8::1',
    });
    expect(
      await dns.run('gpconnect.example.nhs.uk', options({ recordType: 'CNAME', expect: { answers: ['Spine-Proxy.example.nhs.uk.'] } }), ctx()),
    ).toMatchObject({ ok: true, detail: 'CNAME gpconnect.example.nhs.uk: spine-proxy.example.nhs.uk' });
  });

  it('requires every expected answer, and says what came back and what is missing', async () => {
    expect(await dns.run('spine.example.nhs.uk', options({ expect: { answers: ['10.20.0.2', '10.20.0.1'] } }), ctx())).toMatchObject({ ok: true });
    expect(await dns.run('spine.example.nhs.uk', options({ expect: { answers: ['10.20.0.1', '10.99.0.1'] } }), ctx())).toMatchObject({
      ok: false,
      error: 'assertion',
      detail: 'A spine.example.nhs.uk answered 10.20.0.1, 10.20.0.2; expected all of 10.20.0.1, 10.99.0.1 (missing 10.99.0.1)',
    });
  });

  it('accepts any one of anyOf, and fails as assertion when none is there', async () => {
    expect(await dns.run('spine.example.nhs.uk', options({ expect: { anyOf: ['10.99.0.1', '10.20.0.2'] } }), ctx())).toMatchObject({ ok: true });
    expect(await dns.run('spine.example.nhs.uk', options({ expect: { anyOf: ['10.99.0.1', '10.99.0.2'] } }), ctx())).toMatchObject({
      ok: false,
      error: 'assertion',
      detail: 'A spine.example.nhs.uk answered 10.20.0.1, 10.20.0.2; expected any of 10.99.0.1, 10.99.0.2',
    });
  });

  it('fails as dns on NXDOMAIN, naming the name and the resolver', async () => {
    expect(await dns.run('missing.example.nhs.uk', options(), ctx())).toMatchObject({
      ok: false,
      error: 'dns',
      detail: `missing.example.nhs.uk does not exist (NXDOMAIN from ${server.address})`,
    });
  });

  it('fails as dns on NODATA: the name exists without records of that type', async () => {
    expect(await dns.run('gpconnect.example.nhs.uk', options({ recordType: 'A' }), ctx())).toMatchObject({
      ok: false,
      error: 'dns',
      detail: `gpconnect.example.nhs.uk exists but has no A records (NODATA from ${server.address})`,
    });
  });

  it('fails as dns on SERVFAIL and REFUSED answers', async () => {
    expect(await dns.run('broken.example.nhs.uk', options(), ctx())).toMatchObject({ ok: false, error: 'dns', detail: expect.stringContaining('SERVFAIL') });
    expect(await dns.run('refusing.example.nhs.uk', options(), ctx())).toMatchObject({ ok: false, error: 'dns', detail: expect.stringContaining('REFUSED') });
  });

  it('fails as timeout when the resolver never answers, within the check timeout', async () => {
    const outcome = await dns.run('slow.example.nhs.uk', options(), ctx(300));
    expect(outcome).toMatchObject({
      ok: false,
      error: 'timeout',
      detail: `no answer from ${server.address} for A slow.example.nhs.uk within 300 ms`,
    });
    expect(outcome.latencyMs).toBeLessThan(2_000);
  });

  it('fails as timeout at once when handed an aborted signal, without querying', async () => {
    expect(await dns.run('spine.example.nhs.uk', options(), { signal: AbortSignal.abort(), timeoutMs: 300 })).toMatchObject({ ok: false, error: 'timeout' });
    expect(server.queries).toEqual([]);
  });

  it('fails as refused when nothing listens on the resolver port', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address() as AddressInfo;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    expect(await dns.run('spine.example.nhs.uk', dns.options.parse({ resolver: `127.0.0.1:${port}` }), ctx(2_000))).toMatchObject({
      ok: false,
      error: 'refused',
    });
  });

  describe('validation', () => {
    it('takes a host name as target, not an IP address or a URL', () => {
      expect(dns.validateTarget('spine.example.nhs.uk')).toBeNull();
      expect(dns.validateTarget('spine.example.nhs.uk.')).toBeNull();
      expect(dns.validateTarget('10.0.0.1')).toContain('IP address');
      expect(dns.validateTarget('https://spine.example.nhs.uk/')).toContain('not a host name');
      expect(dns.validateTarget('spine..example')).toContain('not a host name');
    });

    it('defaults to A and takes a resolver address with or without a port, never a name', () => {
      expect(dns.options.parse({})).toEqual({ recordType: 'A', expect: {} });
      for (const resolver of ['10.0.0.53', '10.0.0.53:5353', '::1', '[fd00::53]:53']) {
        expect(dns.options.safeParse({ resolver }).success).toBe(true);
      }
      const named = dns.options.safeParse({ resolver: 'dns.example.nhs.uk' });
      expect(named.error?.issues[0]?.message).toContain('expected the IP address of a DNS server');
      expect(dns.options.safeParse({ recordType: 'MX' }).success).toBe(false);
      expect(dns.options.safeParse({ expect: { answers: [] } }).success).toBe(false);
    });
  });
});
