import { X509Certificate } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tls, type TlsOptions } from '../../probes/tls';
import { makeTlsFixtures, type KeyPair, type TlsFixtures } from './tls-fixtures';

let certs: TlsFixtures;
beforeAll(() => {
  certs = makeTlsFixtures();
});
afterAll(() => certs.remove());

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function serveTls(pair: KeyPair, requestCert = false): Promise<string> {
  const server = createTlsServer({ key: pair.key, cert: pair.cert, ca: certs.ca, requestCert, rejectUnauthorized: requestCert }, (socket) => {
    socket.on('error', () => {});
    socket.end();
  });
  server.on('tlsClientError', () => {});
  return listen(server);
}

const options = (input: Record<string, unknown> = {}): TlsOptions => tls.options.parse(input);
const trustingCa = (extra: Record<string, unknown> = {}): TlsOptions => options({ tls: { ca: { file: certs.caPath } }, ...extra });
const ctx = (timeoutMs = 5_000) => ({ signal: AbortSignal.timeout(timeoutMs), timeoutMs });
const notAfter = (pair: KeyPair): string => new Date(new X509Certificate(pair.cert).validTo).toISOString().slice(0, 10);

describe('tls check kind', () => {
  it('passes a certificate chained to the configured CA and reports days left, protocol, subject and issuer', async () => {
    const target = await serveTls(certs.server);
    const outcome = await tls.run(target, trustingCa(), ctx());
    expect(outcome).toMatchObject({ ok: true });
    expect(outcome.ok && outcome.degraded).toBeUndefined();
    expect(outcome.ok && outcome.detail).toBe(
      `89 days left (notAfter ${notAfter(certs.server)}); TLSv1.3, subject CN=localhost, issuer CN=Pulse Test CA, O=Pulse tests`,
    );
  });

  it('is degraded within degradedWithinDays of expiry (14 by default), saying when', async () => {
    const target = await serveTls(certs.expiringSoon);
    const outcome = await tls.run(target, trustingCa(), ctx());
    expect(outcome).toMatchObject({
      ok: true,
      degraded: `certificate expires in 5 days (notAfter ${notAfter(certs.expiringSoon)}), within degradedWithinDays 14`,
    });
    expect(outcome.ok && outcome.detail).toMatch(/^5 days left; TLSv1\.3/);
    const relaxed = await tls.run(target, trustingCa({ degradedWithinDays: 3 }), ctx());
    expect(relaxed.ok && relaxed.degraded).toBeUndefined();
  });

  it('fails an expired certificate as tls, saying how long ago and the date', async () => {
    const target = await serveTls(certs.expired);
    expect(await tls.run(target, trustingCa(), ctx())).toMatchObject({
      ok: false,
      error: 'tls',
      detail: `certificate expired 3 days ago (notAfter ${notAfter(certs.expired)})`,
    });
    // Verification off still judges expiry.
    expect(await tls.run(target, options({ tls: { insecureSkipVerify: true } }), ctx())).toMatchObject({
      ok: false,
      error: 'tls',
      detail: `certificate expired 3 days ago (notAfter ${notAfter(certs.expired)})`,
    });
  });

  it('carries the certificate notAfter as certExpiresAt (epoch ms, for the metrics), also when the certificate fails', async () => {
    const expiry = (pair: KeyPair): number => Date.parse(new X509Certificate(pair.cert).validTo);
    expect(await tls.run(await serveTls(certs.server), trustingCa(), ctx())).toMatchObject({ ok: true, certExpiresAt: expiry(certs.server) });
    expect(await tls.run(await serveTls(certs.expired), trustingCa(), ctx())).toMatchObject({ ok: false, certExpiresAt: expiry(certs.expired) });
  });

  it('fails a self-signed certificate as tls', async () => {
    const target = await serveTls(certs.selfSigned);
    expect(await tls.run(target, trustingCa(), ctx())).toMatchObject({ ok: false, error: 'tls', detail: 'self-signed certificate' });
  });

  it('fails as tls when the chain does not lead to a trusted CA (the system CAs by default)', async () => {
    const server = createTlsServer({ key: certs.server.key, cert: certs.server.cert }, (socket) => socket.end());
    const target = await listen(server);
    expect(await tls.run(target, options(), ctx())).toMatchObject({
      ok: false,
      error: 'tls',
      detail: 'certificate chain does not lead to a trusted CA (issuer CN=Pulse Test CA, O=Pulse tests; UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
    });
  });

  it('fails as tls when the certificate is not for tls.serverName', async () => {
    const target = await serveTls(certs.server);
    expect(await tls.run(target, options({ tls: { ca: { file: certs.caPath }, serverName: 'localhost' } }), ctx())).toMatchObject({ ok: true });
    expect(await tls.run(target, options({ tls: { ca: { file: certs.caPath }, serverName: 'gpconnect.example.nhs.uk' } }), ctx())).toMatchObject({
      ok: false,
      error: 'tls',
      detail: 'certificate is not valid for gpconnect.example.nhs.uk (IP Address:127.0.0.1, DNS:localhost)',
    });
  });

  it('passes an untrusted certificate with insecureSkipVerify, and says the chain was not verified', async () => {
    const target = await serveTls(certs.selfSigned);
    const outcome = await tls.run(target, options({ tls: { insecureSkipVerify: true } }), ctx());
    expect(outcome).toMatchObject({ ok: true });
    expect(outcome.ok && outcome.detail).toContain('chain not verified (insecureSkipVerify)');
  });

  it('presents a client certificate to a server that asks for one', async () => {
    const target = await serveTls(certs.server, true);
    const outcome = await tls.run(
      target,
      options({ tls: { ca: { file: certs.caPath }, cert: { file: certs.client.certPath }, key: { file: certs.client.keyPath } } }),
      ctx(),
    );
    expect(outcome).toMatchObject({ ok: true });
  });

  it('fails as refused on a closed port', async () => {
    const server = createServer();
    const target = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    servers.splice(servers.indexOf(server), 1);
    expect(await tls.run(target, options(), ctx())).toMatchObject({ ok: false, error: 'refused', detail: `connection refused by ${target}` });
  });

  it('fails as timeout in the handshake when the peer accepts and says nothing', async () => {
    const target = await listen(createServer((socket) => socket.on('error', () => {}).resume()));
    expect(await tls.run(target, options(), ctx(200))).toMatchObject({
      ok: false,
      error: 'timeout',
      detail: `no TLS session with ${target} within 200 ms (in the TLS handshake)`,
    });
  });

  describe('validation', () => {
    it('takes host:port as target', () => {
      expect(tls.validateTarget('spine.example.nhs.uk:443')).toBeNull();
      expect(tls.validateTarget('https://spine.example.nhs.uk')).toEqual(expect.any(String));
    });

    it('defaults degradedWithinDays to 14 and rejects unknown options', () => {
      expect(tls.options.parse({})).toEqual({ degradedWithinDays: 14 });
      expect(tls.options.safeParse({ degradedWithinDays: -1 }).success).toBe(false);
      expect(tls.options.safeParse({ serverName: 'x' }).success).toBe(false);
      expect(tls.options.safeParse({ tls: { key: { file: '/k.pem' } } }).success).toBe(false);
    });
  });
});
