import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../probes/http';
import { nhsApi, type NhsApiOptions } from '../../probes/nhs-api';
import { clearSecretCache } from '../../probes/secrets';
import type { ProbeOutcome } from '../../probes/types';

const API_KEY = 'k3y-for-the-nhs-api-platform-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'pulse-nhs-api-'));
const keyFile = join(dir, 'apikey');
writeFileSync(keyFile, `${API_KEY}\n`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: Server[] = [];
afterEach(async () => {
  clearSecretCache();
  delete process.env.PULSE_TEST_API_KEY;
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

const RELEASE = { version: 'personal-demographics-service-api-1.4.2', revision: '7f1c', releaseId: '1234', commitId: '7f1c2e' };

type Health = 'pass' | 'warn' | 'fail';

/** The API platform's _status document: checks hold arrays of results. */
function statusDocument(overall: Health, spine: Health, spineCode: number): unknown {
  return {
    status: overall,
    ...RELEASE,
    checks: {
      'healthcheckService:status': [{ status: 'pass', timeout: false, responseCode: 200, outcome: '{"ping":"pong"}', links: {} }],
      'spine:status': [{ status: spine, timeout: false, responseCode: spineCode, outcome: '<html>Service Unavailable</html>', links: {} }],
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An API platform proxy at /pds: _ping open to all, _status only with the right apikey. */
async function startApi(status: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; keys: (string | undefined)[] }> {
  const keys: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/pds/_ping') return json(res, 200, RELEASE);
    if (req.url !== '/pds/_status') return json(res, 404, { message: 'not found' });
    const key = req.headers.apikey as string | undefined;
    keys.push(key);
    if (key !== API_KEY) return json(res, 401, { fault: { faultstring: 'Invalid ApiKey', detail: { errorcode: 'oauth.v2.InvalidApiKey' } } });
    status(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pds`, keys };
}

function probe(base: string, input: Record<string, unknown>, timeoutMs = 5_000): Promise<ProbeOutcome> {
  const options: NhsApiOptions = nhsApi.options.parse(input);
  return nhsApi.run(base, options, { signal: AbortSignal.timeout(timeoutMs), timeoutMs });
}

const withKey = (extra: Record<string, unknown> = {}) => ({ apiKey: { file: keyFile }, ...extra });

describe('nhs-api check kind', () => {
  describe('_ping', () => {
    it('passes on 200 JSON and reports the version, sending no key', async () => {
      const { base, keys } = await startApi(() => {});
      expect(await probe(base, { endpoint: '_ping' })).toMatchObject({ ok: true, detail: `_ping ok (version ${RELEASE.version})` });
      expect(keys).toEqual([]);
    });

    it('fails as status on anything but 200, and as assertion on a body that is not JSON', async () => {
      const missing = await startApi(() => {});
      expect(await probe(`${missing.base}/v2`, { endpoint: '_ping' })).toMatchObject({ ok: false, error: 'status', detail: '_ping status 404, expected 200' });
      const server = createServer((_req, res) => res.end('pong'));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const outcome = await probe(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { endpoint: '_ping' });
      expect(outcome).toMatchObject({ ok: false, error: 'assertion' });
      expect(outcome.ok === false && outcome.detail).toMatch(/^_ping body is not JSON/);
    });
  });

  describe('_status', () => {
    it('passes on pass, sending the key from a file (trimmed) as the apikey header', async () => {
      const { base, keys } = await startApi((_req, res) => json(res, 200, statusDocument('pass', 'pass', 200)));
      expect(await probe(base, withKey())).toMatchObject({ ok: true, detail: `_status pass, 2 inner checks (version ${RELEASE.version})` });
      expect(keys).toEqual([API_KEY]);
    });

    it('takes the key from an environment variable too', async () => {
      const { base } = await startApi((_req, res) => json(res, 200, statusDocument('pass', 'pass', 200)));
      process.env.PULSE_TEST_API_KEY = API_KEY;
      expect(await probe(base, { apiKey: { env: 'PULSE_TEST_API_KEY' } })).toMatchObject({ ok: true });
    });

    it('is degraded on warn, naming the inner checks that warn', async () => {
      const { base } = await startApi((_req, res) => json(res, 200, statusDocument('warn', 'warn', 200)));
      const outcome = await probe(base, withKey());
      expect(outcome).toMatchObject({ ok: true, degraded: '_status warn: spine:status warn (responseCode 200)' });
    });

    it('fails as assertion on fail (HTTP 503), naming the failing inner check and its response code', async () => {
      const { base } = await startApi((_req, res) => json(res, 503, statusDocument('fail', 'fail', 503)));
      expect(await probe(base, withKey())).toMatchObject({
        ok: false,
        error: 'assertion',
        detail: '_status fail: spine:status fail (responseCode 503)',
      });
    });

    it('reads inner checks given as objects as well as arrays', async () => {
      const { base } = await startApi((_req, res) =>
        json(res, 503, { status: 'fail', checks: { 'spine:status': { status: 'fail', responseCode: 504, timeout: true }, 'pds:status': { status: 'pass' } } }),
      );
      expect(await probe(base, withKey())).toMatchObject({ error: 'assertion', detail: '_status fail: spine:status fail (responseCode 504, timed out)' });
    });

    it('fails as assertion when a required inner check is missing or failing, even if the whole says pass', async () => {
      const { base } = await startApi((_req, res) =>
        json(res, 200, { status: 'pass', checks: { 'spine:status': [{ status: 'fail', responseCode: 500 }], 'healthcheckService:status': [{ status: 'pass' }] } }),
      );
      expect(await probe(base, withKey({ requireChecks: ['spine:status'] }))).toMatchObject({
        ok: false,
        error: 'assertion',
        detail: '_status pass but required: spine:status fail (responseCode 500)',
      });
      expect(await probe(base, withKey({ requireChecks: ['nhs111:status'] }))).toMatchObject({
        ok: false,
        error: 'assertion',
        detail: '_status has no nhs111:status check (found: spine:status, healthcheckService:status)',
      });
      expect(await probe(base, withKey())).toMatchObject({ ok: true });
    });

    it('fails as status when the key is refused, and as error naming the variable when it is not set', async () => {
      const { base, keys } = await startApi(() => {});
      process.env.PULSE_TEST_API_KEY = 'not-the-key';
      expect(await probe(base, { apiKey: { env: 'PULSE_TEST_API_KEY' } })).toMatchObject({
        ok: false,
        error: 'status',
        detail: '_status status 401, expected 200',
      });
      delete process.env.PULSE_TEST_API_KEY;
      expect(await probe(base, { apiKey: { env: 'PULSE_TEST_API_KEY' } })).toMatchObject({
        ok: false,
        error: 'error',
        detail: 'apiKey: environment variable PULSE_TEST_API_KEY is not set on this worker',
      });
      expect(keys).toEqual(['not-the-key']);
    });

    it('never puts the key in a detail, even when the server echoes it', async () => {
      const { base } = await startApi((req, res) => json(res, 200, { status: `unknown key ${String(req.headers.apikey)}`, checks: {} }));
      const outcome = await probe(base, withKey());
      expect(outcome).toMatchObject({ ok: false, error: 'assertion', detail: '_status status "unknown key [redacted]", expected pass, warn or fail (HTTP 200)' });
      expect(JSON.stringify(outcome)).not.toContain(API_KEY.slice(0, 12));
    });

    it('fails as too_large past 1 MiB and as timeout when no answer comes', async () => {
      const big = await startApi((_req, res) => res.end(Buffer.alloc(MAX_BODY_BYTES + 1, 'a')));
      expect(await probe(big.base, withKey())).toMatchObject({ ok: false, error: 'too_large' });
      const silent = await startApi(() => {});
      expect(await probe(silent.base, withKey(), 250)).toMatchObject({
        ok: false,
        error: 'timeout',
        detail: expect.stringContaining('within 250 ms (waiting for the response)'),
      });
    });
  });

  describe('validation', () => {
    it('takes the API base URL, not an endpoint', () => {
      expect(nhsApi.validateTarget('https://api.service.nhs.uk/personal-demographics/FHIR/R4')).toBeNull();
      expect(nhsApi.validateTarget('https://api.service.nhs.uk/personal-demographics/FHIR/R4/_status')).toContain('base URL');
    });

    it('defaults to _status, which needs an apiKey reference; _ping needs none and takes no requireChecks', () => {
      expect(nhsApi.options.parse({ apiKey: { env: 'K' } })).toEqual({ endpoint: '_status', apiKey: { env: 'K' } });
      const noKey = nhsApi.options.safeParse({});
      expect(noKey.error?.issues[0]).toMatchObject({ path: ['apiKey'], message: expect.stringContaining('required for endpoint _status') });
      expect(nhsApi.options.safeParse({ endpoint: '_ping' }).success).toBe(true);
      expect(nhsApi.options.safeParse({ endpoint: '_ping', requireChecks: ['spine:status'] }).success).toBe(false);
      expect(nhsApi.options.safeParse({ apiKey: API_KEY }).success).toBe(false);
    });
  });
});
