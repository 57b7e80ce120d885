import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { http, MAX_BODY_BYTES, type HttpOptions } from '../../probes/http';
import type { ProbeOutcome } from '../../probes/types';

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

  it('fails as dns for a host that does not exist', async () => {
    // `.invalid` is reserved (RFC 6761) and answered NXDOMAIN by the local resolver here.
    const outcome = await probe('http://nonexistent.invalid/', {}, 10_000);
    expect(outcome).toMatchObject({ ok: false, error: 'dns' });
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
    });
  });
});
