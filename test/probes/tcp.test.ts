import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseHostPort, tcp, type TcpOptions } from '../../probes/tcp';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures';

const servers: Server[] = [];

async function listen(host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  // resume(): a peer's unread bytes (a ClientHello) would otherwise keep the socket, and close(), waiting.
  const server = createServer((socket) => socket.on('error', () => {}).resume());
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

const ctx = (timeoutMs = 5_000) => ({ signal: AbortSignal.timeout(timeoutMs), timeoutMs });

describe('tcp check kind', () => {
  it('passes when the port accepts a connection', async () => {
    const { port } = await listen();
    const outcome = await tcp.run(`127.0.0.1:${port}`, {}, ctx());
    expect(outcome).toMatchObject({ ok: true, detail: `connected to 127.0.0.1:${port}` });
    expect(outcome.latencyMs).toBeGreaterThan(0);
  });

  it('connects to a bracketed IPv6 address', async () => {
    const { port } = await listen('::1');
    expect(await tcp.run(`[::1]:${port}`, {}, ctx())).toMatchObject({ ok: true });
  });

  it('fails as refused on a closed port', async () => {
    const { server, port } = await listen();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    servers.splice(servers.indexOf(server), 1);
    expect(await tcp.run(`127.0.0.1:${port}`, {}, ctx())).toMatchObject({
      ok: false,
      error: 'refused',
      detail: `connection refused by 127.0.0.1:${port}`,
    });
  });

  // Loopback cannot blackhole a SYN (and this sandbox refuses even TEST-NET
  // addresses at once), so the timeout path is driven by the signal: aborted
  // in the same tick as the connect starts, before it can complete.
  it('fails as timeout when the signal aborts before the connection completes', async () => {
    const { port } = await listen();
    const controller = new AbortController();
    const pending = tcp.run(`127.0.0.1:${port}`, {}, { signal: controller.signal, timeoutMs: 300 });
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, error: 'timeout', detail: `no connection to 127.0.0.1:${port} within 300 ms` });
  });

  it('fails as timeout at once when handed an already aborted signal', async () => {
    expect(await tcp.run('127.0.0.1:9', {}, { signal: AbortSignal.abort(), timeoutMs: 300 })).toMatchObject({
      ok: false,
      error: 'timeout',
    });
  });

  it('fails as dns for a host that does not exist', async () => {
    // `.invalid` is reserved (RFC 6761) and answered NXDOMAIN by the local resolver here.
    expect(await tcp.run('nonexistent.invalid:443', {}, ctx(10_000))).toMatchObject({ ok: false, error: 'dns' });
  });

  describe('with tls', () => {
    let certs: TlsFixtures;
    beforeAll(() => {
      certs = makeTlsFixtures();
    });
    afterAll(() => certs.remove());

    async function listenTls(): Promise<number> {
      const server = createTlsServer({ key: certs.server.key, cert: certs.server.cert }, (socket) => socket.on('error', () => {}));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    }
    const opts = (input: unknown): TcpOptions => tcp.options.parse(input);

    it('completes a handshake verified against tls.ca and says which protocol', async () => {
      const port = await listenTls();
      expect(await tcp.run(`127.0.0.1:${port}`, opts({ tls: { ca: { file: certs.caPath } } }), ctx())).toMatchObject({
        ok: true,
        detail: `connected to 127.0.0.1:${port}, TLSv1.3 handshake done`,
      });
    });

    it('fails as tls when tls: true meets a certificate the system CAs do not trust', async () => {
      const port = await listenTls();
      const outcome = await tcp.run(`127.0.0.1:${port}`, opts({ tls: true }), ctx());
      expect(outcome).toMatchObject({ ok: false, error: 'tls' });
      expect(outcome.ok === false && outcome.detail).toContain(`TLS with 127.0.0.1:${port} failed`);
    });

    it('fails as tls when the peer does not speak TLS', async () => {
      const server = createServer((socket) => {
        socket.on('error', () => {}).resume();
        socket.end('SSH-2.0-OpenSSH_9.6\r\n');
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const outcome = await tcp.run(`127.0.0.1:${port}`, opts({ tls: true }), ctx());
      expect(outcome).toMatchObject({ ok: false, error: 'tls' });
    });

    it('fails as timeout, naming the handshake, when the peer accepts but never answers the ClientHello', async () => {
      const { port } = await listen();
      const outcome = await tcp.run(`127.0.0.1:${port}`, opts({ tls: true }), ctx(200));
      expect(outcome).toMatchObject({ ok: false, error: 'timeout', detail: `no TLS handshake with 127.0.0.1:${port} within 200 ms` });
    });
  });

  describe('validation', () => {
    it('parses host:port and [ipv6]:port', () => {
      expect(parseHostPort('emis.example.nhs.uk:443')).toEqual({ host: 'emis.example.nhs.uk', port: 443 });
      expect(parseHostPort('[::1]:443')).toEqual({ host: '::1', port: 443 });
      expect(parseHostPort('10.1.2.3:65535')).toEqual({ host: '10.1.2.3', port: 65535 });
    });

    it.each([
      ['host-only', 'example.nhs.uk'],
      ['empty host', ':443'],
      ['port 0', 'example.nhs.uk:0'],
      ['port above 65535', 'example.nhs.uk:65536'],
      ['non-numeric port', 'example.nhs.uk:https'],
      ['unbracketed IPv6', '::1:443'],
      ['bracketed non-IPv6', '[example]:443'],
      ['a URL', 'https://example.nhs.uk:443'],
    ])('rejects %s', (_name, target) => {
      expect(tcp.validateTarget(target)).toEqual(expect.any(String));
    });

    it('takes only the tls option', () => {
      expect(tcp.options.safeParse({}).success).toBe(true);
      expect(tcp.options.safeParse({ tls: true }).success).toBe(true);
      expect(tcp.options.safeParse({ tls: { serverName: 'spine.example.nhs.uk', ca: { file: '/etc/pulse/ca.pem' } } }).success).toBe(true);
      expect(tcp.options.safeParse({ tls: false }).success).toBe(false);
      expect(tcp.options.safeParse({ tls: { serverName: '10.0.0.1' } }).success).toBe(false);
      expect(tcp.options.safeParse({ port: 80 }).success).toBe(false);
    });
  });
});
