import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { http, MAX_BODY_BYTES, type HttpOptions } from '../../probes/http';
import { clearSecretCache } from '../../probes/secrets';
import type { ProbeOutcome } from '../../probes/types';
import { makeTlsFixtures, type KeyPair, type TlsFixtures } from './tls-fixtures';

const servers: Server[] = [];

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  return `http://127.0.0.1:${await listen(createServer(handler))}`;
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

function options(input: unknown = {}): HttpOptions {
  return http.options.parse(input);
}

function probe(url: string, opts: unknown = {}, timeoutMs = 5_000): Promise<ProbeOutcome> {
  return http.run(url, options(opts), { signal: AbortSignal.timeout(timeoutMs), timeoutMs });
}

describe('http check kind', () => {
  it('passes on 200 and reports the status and a latency', async () => {
    const url = await serve((_req, res) => res.end('hello'));
    const outcome = await probe(url);
    expect(outcome).toMatchObject({ ok: true, detail: 'status 200' });
    expect(outcome.latencyMs).toBeGreaterThan(0);
  });

  it('fails a 503 as a status error saying what was expected', async () => {
    const url = await serve((_req, res) => {
      res.statusCode = 503;
      res.end('down');
    });
    expect(await probe(url)).toMatchObject({ ok: false, error: 'status', detail: 'status 503, expected 2xx' });
  });

  it('judges the status against an explicit list', async () => {
    const url = await serve((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    expect(await probe(url, { expect: { status: [200] } })).toMatchObject({ error: 'status', detail: 'status 503, expected 200' });
    expect(await probe(url, { expect: { status: [200, 204] } })).toMatchObject({ detail: 'status 503, expected 200 or 204' });
    expect(await probe(url, { expect: { status: [503] } })).toMatchObject({ ok: true, detail: 'status 503' });
  });

  it('does not follow redirects and shows where one pointed', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(301, { location: 'https://example.nhs.uk/' });
      res.end();
    });
    expect(await probe(url)).toMatchObject({
      error: 'status',
      detail: 'status 301, expected 2xx (Location: "https://example.nhs.uk/")',
    });
  });

  it('sends the configured method and headers', async () => {
    const seen: { method?: string; auth?: string }[] = [];
    const url = await serve((req, res) => {
      seen.push({ method: req.method, auth: req.headers['x-practice'] as string | undefined });
      res.end();
    });
    expect(await probe(url, { method: 'HEAD', headers: { 'X-Practice': 'A81001' } })).toMatchObject({ ok: true });
    expect(seen).toEqual([{ method: 'HEAD', auth: 'A81001' }]);
  });

  it('takes a header value from a secret reference on this host, and names the reference when it is missing', async () => {
    const seen: (string | undefined)[] = [];
    const url = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.statusCode = 403;
      res.end(`forbidden: ${req.headers.authorization}`);
    });
    const opts = { headers: { Authorization: { env: 'PULSE_TEST_BEARER' } }, expect: { status: [200] } };
    expect(await probe(url, opts)).toMatchObject({
      ok: false,
      error: 'error',
      detail: 'headers.Authorization: environment variable PULSE_TEST_BEARER is not set on this worker',
    });
    process.env.PULSE_TEST_BEARER = 'Bearer tok-0123456789abcdef\n';
    try {
      expect(await probe(url, { ...opts, expect: { status: [403], bodyContains: 'allowed' } })).toMatchObject({
        ok: false,
        error: 'assertion',
      });
      expect(seen).toEqual(['Bearer tok-0123456789abcdef']);
    } finally {
      delete process.env.PULSE_TEST_BEARER;
      clearSecretCache();
    }
  });

  it('checks bodyContains: a miss is an assertion failure naming the text, a hit passes', async () => {
    const url = await serve((_req, res) => res.end('<h1>Book an appointment</h1>'));
    const miss = await probe(url, { expect: { bodyContains: 'Online services' } });
    expect(miss).toMatchObject({ ok: false, error: 'assertion' });
    expect(miss.ok === false && miss.detail).toBe('body does not contain "Online services" (status 200, 28 bytes read)');
    expect(await probe(url, { expect: { bodyContains: 'appointment' } })).toMatchObject({ ok: true });
  });

  it('stops reading past 1 MiB and fails as too_large', async () => {
    const url = await serve((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 'a');
      for (let i = 0; i < 40; i++) res.write(chunk); // 2.5 MiB
      res.end();
    });
    const outcome = await probe(url);
    expect(outcome).toMatchObject({ ok: false, error: 'too_large' });
    expect(outcome.ok === false && outcome.detail).toContain(`larger than ${MAX_BODY_BYTES} bytes`);
  });

  it('gives up as timeout when the signal aborts while the server never answers', async () => {
    const url = await serve(() => {
      /* never answers */
    });
    const outcome = await probe(url, {}, 200);
    expect(outcome).toMatchObject({ ok: false, error: 'timeout' });
    expect(outcome.ok === false && outcome.detail).toContain('within 200 ms (waiting for the response)');
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(150);
  });

  it('fails as refused on a closed port', async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    servers.splice(servers.indexOf(server), 1);
    expect(await probe(`http://127.0.0.1:${port}/`)).toMatchObject({ ok: false, error: 'refused' });
  });

  it('fails as reset when the server drops the connection', async () => {
    const url = await serve((req) => req.socket.destroy());
    expect(await probe(url)).toMatchObject({ ok: false, error: 'reset' });
  });

  it('fails as reset when the body is cut short', async () => {
    const url = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial', () => req.socket.destroy());
    });
    expect(await probe(url)).toMatchObject({ ok: false, error: 'reset' });
  });

  describe('on the wire (a server that writes its own bytes)', () => {
    const raw: NetServer[] = [];
    afterEach(() => raw.splice(0).forEach((s) => s.close()));
    /** A TCP server that records each request's bytes and answers with `reply` (pieces written 5 ms apart). */
    async function rawServer(reply: string[]): Promise<{ url: string; requests: string[] }> {
      const requests: string[] = [];
      const server = createNetServer((socket) => {
        let text = '';
        socket.on('data', async (d) => {
          text += d.toString('latin1');
          if (!text.includes('\r\n\r\n')) return;
          requests.push(text);
          for (const piece of reply) {
            socket.write(piece);
            await new Promise((r) => setTimeout(r, 5));
          }
          socket.end();
        });
        socket.on('error', () => {});
      });
      raw.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
    }

    it('sends credentials given in the URL as Basic authentication, as node:http did', async () => {
      const { url, requests } = await rawServer(['HTTP/1.1 204 No Content\r\n\r\n']);
      const withUser = url.replace('http://', 'http://probe%40icb:s%3Acret@');
      expect(await probe(`${withUser}/health`)).toMatchObject({ ok: true });
      const line = requests[0]!.split('\r\n').find((l) => l.startsWith('Authorization: '));
      expect(line).toBe(`Authorization: Basic ${Buffer.from('probe@icb:s:cret').toString('base64')}`);
    });

    it('sends one request line, Host, its user agent, the configured headers and Connection: close', async () => {
      const { url, requests } = await rawServer(['HTTP/1.1 204 No Content\r\n\r\n']);
      expect(await probe(`${url}/health?deep=1`, { method: 'POST', headers: { 'X-Practice': 'A81001' } })).toMatchObject({ ok: true });
      const port = new URL(url).port;
      expect(requests[0]!.split('\r\n')).toEqual([
        'POST /health?deep=1 HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'User-Agent: Pulse-probe/1 (+health monitoring for NHS GP practices)',
        'X-Practice: A81001',
        'Content-Length: 0',
        'Connection: close',
        '',
        '',
      ]);
    });

    it('reads a chunked body that arrives in pieces, after an interim 100 Continue', async () => {
      const { url } = await rawServer([
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nall ',
        '\r\n',
        '2\r\nok\r\n0\r\n\r\n',
      ]);
      expect(await probe(url, { expect: { bodyContains: 'all ok' } })).toMatchObject({ ok: true, detail: expect.stringContaining('status 200') });
    });

    it('fails as error, quoting what came, when the answer is not HTTP', async () => {
      const { url } = await rawServer(['SSH-2.0-OpenSSH_9.2\r\n\r\n']);
      expect(await probe(url)).toMatchObject({
        ok: false,
        error: 'error',
        detail: `${url}: not a valid HTTP/1.1 response (not an HTTP/1.x status line: "SSH-2.0-OpenSSH_9.2")`,
      });
    });

    it('fails as reset when the connection closes before a whole status line and headers', async () => {
      const { url } = await rawServer(['HTTP/1.1 200 OK\r\nContent-Le']);
      expect(await probe(url)).toMatchObject({ ok: false, error: 'reset', detail: `connection to ${url} reset before a complete response (socket hang up)` });
    });
  });

  it('fails as dns for a host that does not exist', async () => {
    // `.invalid` is reserved (RFC 6761) and answered NXDOMAIN by the local resolver here.
    const outcome = await probe('http://nonexistent.invalid/', {}, 10_000);
    expect(outcome).toMatchObject({ ok: false, error: 'dns' });
  });

  it('checks bodyMatches: a miss names the expression, a hit passes', async () => {
    const url = await serve((_req, res) => res.end('Online services: available since 07:30'));
    expect(await probe(url, { expect: { bodyMatches: 'available since \\d{2}:\\d{2}' } })).toMatchObject({ ok: true });
    expect(await probe(url, { expect: { bodyMatches: '^unavailable' } })).toMatchObject({
      ok: false,
      error: 'assertion',
      detail: 'body does not match /^unavailable/ (status 200, 38 bytes read)',
    });
  });

  describe('expect.json', () => {
    const health = {
      status: 'fail',
      version: 3,
      live: false,
      checks: { 'spine:status': [{ status: 'fail', responseCode: 503, outcome: 'timeout' }] },
    };
    const serveJson = (body: string) => serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });

    it('passes when every dotted path holds its value, through keys with colons and array indexes', async () => {
      const url = await serveJson(JSON.stringify(health));
      const outcome = await probe(url, {
        expect: {
          json: [
            { path: 'version', equals: 3 },
            { path: 'live', equals: false },
            { path: 'checks.spine:status.0.outcome', equals: 'timeout' },
          ],
        },
      });
      expect(outcome).toMatchObject({ ok: true, detail: 'status 200' });
    });

    it('fails as assertion naming the path, what it held and what was expected', async () => {
      const url = await serveJson(JSON.stringify(health));
      expect(await probe(url, { expect: { json: [{ path: 'status', equals: 'pass' }] } })).toMatchObject({
        ok: false,
        error: 'assertion',
        detail: 'json status = "fail", expected "pass"',
      });
      expect(await probe(url, { expect: { json: [{ path: 'version', equals: '3' }, { path: 'checks.nhs111', equals: 'pass' }] } })).toMatchObject({
        detail: 'json version = 3, expected "3"; json checks.nhs111 missing, expected "pass"',
      });
    });

    it('fails as assertion when the body is not JSON, saying what came instead', async () => {
      const url = await serve((_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end('<html>Service unavailable</html>');
      });
      const outcome = await probe(url, { expect: { json: [{ path: 'status', equals: 'pass' }] } });
      expect(outcome).toMatchObject({ ok: false, error: 'assertion' });
      expect(outcome.ok === false && outcome.detail).toBe('body is not JSON (status 200, content-type text/html, 32 bytes: "<html>Service unavailable</html>")');
    });
  });

  it('is degraded, not failed, when slower than degradedAfter', async () => {
    // The server holds its answer for 40 ms: a floor on the latency, not a wait in the test.
    const url = await serve((_req, res) => {
      setTimeout(() => res.end('ok'), 40);
    });
    const slow = await probe(url, { degradedAfter: '5ms' });
    expect(slow).toMatchObject({ ok: true, detail: 'status 200' });
    expect(slow.ok && slow.degraded).toMatch(/^slow: \d+ ms, above degradedAfter 5ms$/);
    const fine = await probe(url, { degradedAfter: '10s' });
    expect(fine).toMatchObject({ ok: true });
    expect(fine.ok && fine.degraded).toBeUndefined();
  });

  describe('over TLS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-tls-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fails as tls against a self-signed certificate', async () => {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
      ], { stdio: 'ignore' });
      const server = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (_req, res) => res.end('secret'),
      );
      const port = await listen(server as unknown as Server);
      const outcome = await probe(`https://127.0.0.1:${port}/`);
      expect(outcome).toMatchObject({ ok: false, error: 'tls' });
      expect(outcome.ok === false && outcome.detail).toMatch(/self[- ]signed/i);
    });
  });

  describe('over TLS with a private CA', () => {
    let certs: TlsFixtures;
    beforeAll(() => {
      certs = makeTlsFixtures();
    });
    afterAll(() => certs.remove());
    afterEach(() => {
      clearSecretCache();
      delete process.env.PULSE_TEST_CLIENT_KEY;
    });

    async function serveTls(pair: KeyPair, extra: { requestCert?: boolean } = {}): Promise<string> {
      const server = createHttpsServer(
        { key: pair.key, cert: pair.cert, ca: certs.ca, requestCert: extra.requestCert ?? false, rejectUnauthorized: extra.requestCert ?? false },
        (req, res) => {
          const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
          res.end(peer?.subject ? `hello ${peer.subject.CN}` : 'hello');
        },
      );
      const port = await listen(server as unknown as Server);
      return `https://127.0.0.1:${port}/`;
    }

    it('fails as tls when the CA is not trusted, and passes with tls.ca from a file', async () => {
      const url = await serveTls(certs.server);
      const untrusted = await probe(url);
      expect(untrusted).toMatchObject({ ok: false, error: 'tls' });
      expect(untrusted.ok === false && untrusted.detail).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      expect(await probe(url, { tls: { ca: { file: certs.caPath } } })).toMatchObject({ ok: true, detail: 'status 200' });
    });

    it('verifies tls.serverName against the certificate', async () => {
      const url = await serveTls(certs.server);
      expect(await probe(url, { tls: { ca: { file: certs.caPath }, serverName: 'localhost' } })).toMatchObject({ ok: true });
      const wrong = await probe(url, { tls: { ca: { file: certs.caPath }, serverName: 'gpconnect.example.nhs.uk' } });
      expect(wrong).toMatchObject({ ok: false, error: 'tls' });
      expect(wrong.ok === false && wrong.detail).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    });

    it('reports days to expiry with certExpiryDays, degraded when within them', async () => {
      const url = await serveTls(certs.server);
      const fine = await probe(url, { certExpiryDays: 30, tls: { ca: { file: certs.caPath } } });
      expect(fine).toMatchObject({ ok: true });
      expect(fine.ok && fine.degraded).toBeUndefined();
      expect(fine.ok && fine.detail).toMatch(/^status 200; certificate expires in 8\d days \(notAfter \d{4}-\d{2}-\d{2}\)$/);

      const soonUrl = await serveTls(certs.expiringSoon);
      const soon = await probe(soonUrl, { certExpiryDays: 30, tls: { ca: { file: certs.caPath } } });
      expect(soon).toMatchObject({ ok: true, detail: 'status 200' });
      expect(soon.ok && soon.degraded).toMatch(/^certificate expires in 5 days \(notAfter [\d-]+\), within certExpiryDays 30$/);
    });

    it('carries the certificate notAfter as certExpiresAt (epoch ms, for the metrics), with or without certExpiryDays', async () => {
      const url = await serveTls(certs.server);
      const expected = Date.parse(new X509Certificate(certs.server.cert).validTo);
      expect(await probe(url, { tls: { ca: { file: certs.caPath } } })).toMatchObject({ ok: true, certExpiresAt: expected });
      expect(await probe(url, { certExpiryDays: 30, tls: { ca: { file: certs.caPath } } })).toMatchObject({ ok: true, certExpiresAt: expected });
    });

    it('fails an expired certificate as tls, verified or not', async () => {
      const url = await serveTls(certs.expired);
      const verified = await probe(url, { certExpiryDays: 30, tls: { ca: { file: certs.caPath } } });
      expect(verified).toMatchObject({ ok: false, error: 'tls' });
      expect(verified.ok === false && verified.detail).toContain('CERT_HAS_EXPIRED');
      const unverified = await probe(url, { certExpiryDays: 30, tls: { insecureSkipVerify: true } });
      expect(unverified).toMatchObject({ ok: false, error: 'tls' });
      expect(unverified.ok === false && unverified.detail).toMatch(/^certificate expired 3 days ago \(notAfter [\d-]+\)$/);
    });

    it('presents a client certificate for mutual TLS (cert from a file, key from the environment)', async () => {
      const url = await serveTls(certs.server, { requestCert: true });
      process.env.PULSE_TEST_CLIENT_KEY = certs.client.key.toString('utf8');
      const withCert = await probe(url, {
        expect: { bodyContains: 'hello pulse-worker-leeds' },
        tls: { ca: { file: certs.caPath }, cert: { file: certs.client.certPath }, key: { env: 'PULSE_TEST_CLIENT_KEY' } },
      });
      expect(withCert).toMatchObject({ ok: true });
      const without = await probe(url, { tls: { ca: { file: certs.caPath } } });
      expect(without).toMatchObject({ ok: false, error: 'tls' });
      expect(without.ok === false && without.detail).toContain('certificate required');
    });

    it('fails as error, naming the reference and not the contents, when a key is missing or unusable', async () => {
      const url = await serveTls(certs.server);
      const tlsOpts = { ca: { file: certs.caPath }, cert: { file: certs.client.certPath }, key: { env: 'PULSE_TEST_CLIENT_KEY' } };
      expect(await probe(url, { tls: tlsOpts })).toMatchObject({
        ok: false,
        error: 'error',
        detail: 'tls.key: environment variable PULSE_TEST_CLIENT_KEY is not set on this worker',
      });
      process.env.PULSE_TEST_CLIENT_KEY = 'NOT-A-KEY-but-a-secret-all-the-same';
      const unusable = await probe(url, { tls: tlsOpts });
      expect(unusable).toMatchObject({ ok: false, error: 'error' });
      expect(unusable.ok === false && unusable.detail).toMatch(/^tls\.key \(env PULSE_TEST_CLIENT_KEY\) is not a usable PEM private key/);
      expect(unusable.ok === false && unusable.detail).not.toContain('NOT-A-KEY');
      // The client key of another pair: well-formed, but not the certificate's.
      process.env.PULSE_TEST_CLIENT_KEY = certs.server.key.toString('utf8');
      const mismatched = await probe(url, { tls: tlsOpts });
      expect(mismatched.ok === false && mismatched.detail).toContain('tls.cert and tls.key could not be used together');
      expect(mismatched.ok === false && mismatched.detail).not.toContain('PRIVATE KEY');
    });

    it('refuses tls settings and certExpiryDays on an http:// target rather than ignoring them', async () => {
      const url = await serve((_req, res) => res.end());
      expect(await probe(url, { certExpiryDays: 30 })).toMatchObject({ ok: false, error: 'error', detail: expect.stringContaining('https:// targets only') });
    });
  });

  describe('validation', () => {
    it('accepts only http(s) URLs as targets', () => {
      expect(http.validateTarget('https://www.example.nhs.uk/health')).toBeNull();
      expect(http.validateTarget('http://10.0.0.5:8080/')).toBeNull();
      expect(http.validateTarget('ftp://example.nhs.uk/')).toContain('http:// or https://');
      expect(http.validateTarget('example.nhs.uk')).toContain('not a valid URL');
    });

    it('fills defaults and rejects unknown or out-of-range options', () => {
      expect(http.options.parse({})).toEqual({ method: 'GET', headers: {}, expect: {} });
      expect(http.options.safeParse({ timeout: 5 }).success).toBe(false);
      expect(http.options.safeParse({ expect: { staus: [200] } }).success).toBe(false);
      expect(http.options.safeParse({ expect: { status: [99] } }).success).toBe(false);
      expect(http.options.safeParse({ method: 'DELETE' }).success).toBe(false);
      expect(http.options.safeParse({ headers: { 'X-Bad': 'a\r\nInjected: 1' } }).success).toBe(false);
      expect(http.options.safeParse({ degradedAfter: 'soon' }).success).toBe(false);
      expect(http.options.safeParse({ certExpiryDays: 0 }).success).toBe(false);
      expect(http.options.safeParse({ expect: { json: [{ path: 'status' }] } }).success).toBe(false);
      expect(http.options.safeParse({ expect: { json: [{ path: 'a..b', equals: 1 }] } }).success).toBe(false);
      expect(http.options.safeParse({ tls: { cert: { file: '/c.pem' } } }).success).toBe(false);
    });

    it('says why a bodyMatches expression does not compile', () => {
      const result = http.options.safeParse({ expect: { bodyMatches: '([a-z]+' } });
      expect(result.success).toBe(false);
      expect(result.error!.issues[0]).toMatchObject({
        path: ['expect', 'bodyMatches'],
        message: expect.stringMatching(/^not a valid regular expression: .*Unterminated group/),
      });
    });
  });
});
