import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fhir, GP_CONNECT_METADATA_INTERACTION, type FhirOptions } from '../../probes/fhir';
import { MAX_BODY_BYTES } from '../../probes/http';
import { clearSecretCache } from '../../probes/secrets';
import type { ProbeOutcome } from '../../probes/types';
import { makeTlsFixtures, type TlsFixtures } from './tls-fixtures';

const FROM = '200000000359';
const TO = '918999198738';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let certs: TlsFixtures;
let rsa: { privatePath: string; publicKey: KeyObject };
let ec: { privatePem: string; publicKey: KeyObject };
let otherRsaPath: string;

beforeAll(() => {
  certs = makeTlsFixtures();
  const r = generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsa = { privatePath: join(certs.dir, 'jwt-rsa.pem'), publicKey: r.publicKey };
  writeFileSync(rsa.privatePath, r.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const e = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  ec = { privatePem: e.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: e.publicKey };
  otherRsaPath = join(certs.dir, 'jwt-other.pem');
  writeFileSync(otherRsaPath, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
afterAll(() => certs.remove());

const servers: Server[] = [];
afterEach(async () => {
  clearSecretCache();
  delete process.env.PULSE_TEST_JWT_KEY;
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

interface Seen {
  traceId: string | undefined;
  jwt: Record<string, unknown> | undefined;
  clientCn: string | undefined;
}

const CAPABILITY = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  fhirVersion: '3.0.1',
  software: { name: 'EMIS Web', version: '9.1' },
};

function operationOutcome(res: ServerResponse, status: number, code: string, diagnostics: string): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', details: { coding: [{ code }] }, diagnostics }] }));
}

/** Verifies a compact JWS with node:crypto; returns its claims or why it is not acceptable. */
function checkJwt(token: string, keys: Record<string, KeyObject>): Record<string, unknown> | string {
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) return 'not a JWS';
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string; typ?: string };
  const key = header.alg ? keys[header.alg] : undefined;
  if (!key) return `alg ${header.alg} not accepted`;
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(s, 'base64url'));
  if (!ok) return 'bad signature';
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.iat !== 'number' || claims.iat > now + 5) return 'bad iat';
  if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp - claims.iat > 300) return 'bad exp';
  if (typeof claims.jti !== 'string') return 'no jti';
  return claims;
}

/**
 * A GP Connect–like FHIR server over mutual TLS: it answers /fhir/metadata only with a
 * client certificate from the test CA, the four Spine headers and a valid JWT.
 */
async function startFhirServer(
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify(CAPABILITY));
  },
): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createHttpsServer(
    { key: certs.server.key, cert: certs.server.cert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const h = req.headers;
      if (req.url !== '/fhir/metadata') return operationOutcome(res, 404, 'NOT_FOUND', `no route ${req.url}`);
      if (h.accept !== 'application/fhir+json') return operationOutcome(res, 406, 'BAD_REQUEST', 'Accept must be application/fhir+json');
      for (const name of ['ssp-traceid', 'ssp-from', 'ssp-to', 'ssp-interactionid']) {
        if (!h[name]) return operationOutcome(res, 400, 'BAD_REQUEST', `${name} header missing`);
      }
      if (!UUID.test(String(h['ssp-traceid']))) return operationOutcome(res, 400, 'BAD_REQUEST', 'Ssp-TraceID is not a UUID');
      if (h['ssp-interactionid'] !== GP_CONNECT_METADATA_INTERACTION) return operationOutcome(res, 400, 'BAD_REQUEST', 'wrong interaction');
      const auth = /^Bearer (.+)$/.exec(h.authorization ?? '');
      if (!auth) return operationOutcome(res, 401, 'INVALID_JWT', 'no bearer token');
      const claims = checkJwt(auth[1]!, { RS256: rsa.publicKey, ES256: ec.publicKey });
      if (typeof claims === 'string') return operationOutcome(res, 401, 'INVALID_JWT', `token rejected: ${claims}; got ${auth[1]}`);
      seen.push({
        traceId: String(h['ssp-traceid']),
        jwt: claims,
        clientCn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN),
      });
      answer(req, res);
    },
  );
  server.on('tlsClientError', () => {});
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `https://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`, seen };
}

const mtls = () => ({ ca: { file: certs.caPath }, cert: { file: certs.client.certPath }, key: { file: certs.client.keyPath } });
const gpConnect = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  spine: { from: FROM, to: TO },
  jwt: { key: { file: rsa.privatePath }, claims: { iss: 'https://pulse.example.nhs.uk', aud: 'https://gpconnect.example.nhs.uk', reason_for_request: 'directcare' } },
  tls: mtls(),
  ...extra,
});

function probe(base: string, input: Record<string, unknown>, timeoutMs = 5_000): Promise<ProbeOutcome> {
  const options: FhirOptions = fhir.options.parse(input);
  return fhir.run(base, options, { signal: AbortSignal.timeout(timeoutMs), timeoutMs });
}

describe('fhir check kind', () => {
  it('passes GP Connect metadata over mutual TLS with Spine headers and an RS256 JWT', async () => {
    const { base, seen } = await startFhirServer();
    const outcome = await probe(base, gpConnect());
    expect(outcome).toMatchObject({ ok: true, detail: 'CapabilityStatement active, fhirVersion 3.0.1 (EMIS Web 9.1)' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.clientCn).toBe('pulse-worker-leeds');
    expect(seen[0]!.jwt).toMatchObject({ iss: 'https://pulse.example.nhs.uk', reason_for_request: 'directcare' });
    expect((seen[0]!.jwt!.exp as number) - (seen[0]!.jwt!.iat as number)).toBe(300);
  });

  it('mints a fresh Ssp-TraceID and JWT (jti) for every request', async () => {
    const { base, seen } = await startFhirServer();
    await probe(base, gpConnect());
    await probe(base, gpConnect());
    expect(seen).toHaveLength(2);
    expect(seen[0]!.traceId).not.toBe(seen[1]!.traceId);
    expect(seen[0]!.jwt!.jti).not.toBe(seen[1]!.jwt!.jti);
  });

  it('signs ES256 with a key from the environment and honours ttl', async () => {
    const { base, seen } = await startFhirServer();
    process.env.PULSE_TEST_JWT_KEY = ec.privatePem;
    const outcome = await probe(base, gpConnect({ jwt: { key: { env: 'PULSE_TEST_JWT_KEY' }, alg: 'ES256', ttl: '1m' } }));
    expect(outcome).toMatchObject({ ok: true });
    expect((seen[0]!.jwt!.exp as number) - (seen[0]!.jwt!.iat as number)).toBe(60);
  });

  it('fails as status with the OperationOutcome when the Spine headers are missing', async () => {
    const { base } = await startFhirServer();
    expect(await probe(base, gpConnect({ spine: undefined }))).toMatchObject({
      ok: false,
      error: 'status',
      detail: 'status 400, expected 2xx (OperationOutcome error forbidden BAD_REQUEST "ssp-traceid header missing")',
    });
  });

  it('fails as status when the JWT is signed with a key the server does not know, and never shows the token', async () => {
    const { base } = await startFhirServer();
    const outcome = await probe(base, gpConnect({ jwt: { key: { file: otherRsaPath } } }));
    expect(outcome).toMatchObject({ ok: false, error: 'status' });
    // The server echoes the token it rejected; the detail must not carry it on.
    expect(outcome.ok === false && outcome.detail).toBe(
      'status 401, expected 2xx (OperationOutcome error forbidden INVALID_JWT "token rejected: bad signature; got [redacted]…")',
    );
  });

  it('fails as tls without a client certificate', async () => {
    const { base } = await startFhirServer();
    const outcome = await probe(base, gpConnect({ tls: { ca: { file: certs.caPath } } }));
    expect(outcome).toMatchObject({ ok: false, error: 'tls' });
    expect(outcome.ok === false && outcome.detail).toContain('certificate required');
  });

  it('fails as assertion naming the fhirVersion found and the ones expected', async () => {
    const r4 = await startFhirServer((_req, res) => res.end(JSON.stringify({ ...CAPABILITY, fhirVersion: '4.0.1' })));
    expect(await probe(r4.base, gpConnect({ expect: { fhirVersions: ['3.0.1'] } }))).toMatchObject({
      ok: false,
      error: 'assertion',
      detail: 'fhirVersion 4.0.1, expected one of 3.0.1',
    });
    expect(await probe(r4.base, gpConnect())).toMatchObject({ ok: true, detail: 'CapabilityStatement active, fhirVersion 4.0.1 (EMIS Web 9.1)' });
  });

  it('fails as assertion on a DSTU2 Conformance, a draft statement, or a body that is not JSON', async () => {
    const dstu2 = await startFhirServer((_req, res) => res.end(JSON.stringify({ ...CAPABILITY, resourceType: 'Conformance', fhirVersion: '1.0.2' })));
    expect(await probe(dstu2.base, gpConnect())).toMatchObject({ error: 'assertion', detail: 'resourceType "Conformance", expected CapabilityStatement' });
    const draft = await startFhirServer((_req, res) => res.end(JSON.stringify({ ...CAPABILITY, status: 'draft' })));
    expect(await probe(draft.base, gpConnect())).toMatchObject({ error: 'assertion', detail: 'CapabilityStatement status "draft", expected active' });
    const xml = await startFhirServer((_req, res) => {
      res.setHeader('content-type', 'application/fhir+xml');
      res.end('<CapabilityStatement xmlns="http://hl7.org/fhir"/>');
    });
    const outcome = await probe(xml.base, gpConnect());
    expect(outcome).toMatchObject({ error: 'assertion' });
    expect(outcome.ok === false && outcome.detail).toMatch(/^body is not JSON \(status 200, content-type application\/fhir\+xml/);
  });

  it('fails as too_large past 1 MiB', async () => {
    const { base } = await startFhirServer((_req, res) => {
      res.write(`{"resourceType":"CapabilityStatement","padding":"`);
      res.end(`${'x'.repeat(MAX_BODY_BYTES + 10)}"}`);
    });
    expect(await probe(base, gpConnect())).toMatchObject({ ok: false, error: 'too_large' });
  });

  it('fails as timeout when the server never answers', async () => {
    const { base } = await startFhirServer(() => {
      /* holds the request */
    });
    expect(await probe(base, gpConnect(), 300)).toMatchObject({
      ok: false,
      error: 'timeout',
      detail: expect.stringContaining('within 300 ms (waiting for the response)'),
    });
  });

  it('fails as refused on a closed port', async () => {
    const server = createNetServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await probe(`https://127.0.0.1:${port}/fhir`, gpConnect())).toMatchObject({ ok: false, error: 'refused' });
  });

  it('fails as error naming the reference when the JWT key is missing or not a key, never quoting it', async () => {
    const { base, seen } = await startFhirServer();
    expect(await probe(base, gpConnect({ jwt: { key: { env: 'PULSE_TEST_JWT_KEY' } } }))).toMatchObject({
      ok: false,
      error: 'error',
      detail: 'jwt.key: environment variable PULSE_TEST_JWT_KEY is not set on this worker',
    });
    process.env.PULSE_TEST_JWT_KEY = 'hunter2-not-a-pem-key';
    const garbage = await probe(base, gpConnect({ jwt: { key: { env: 'PULSE_TEST_JWT_KEY' } } }));
    expect(garbage).toMatchObject({ ok: false, error: 'error' });
    expect(garbage.ok === false && garbage.detail).toMatch(/^jwt\.key \(env PULSE_TEST_JWT_KEY\) is not a usable PEM private key/);
    expect(garbage.ok === false && garbage.detail).not.toContain('hunter2');
    process.env.PULSE_TEST_JWT_KEY = ec.privatePem;
    expect(await probe(base, gpConnect({ jwt: { key: { env: 'PULSE_TEST_JWT_KEY' }, alg: 'RS256' } }))).toMatchObject({
      ok: false,
      error: 'error',
      detail: 'jwt.key (env PULSE_TEST_JWT_KEY): RS256 needs an RSA key, not ec',
    });
    expect(seen).toHaveLength(0);
  });

  describe('validation', () => {
    it('takes the FHIR base URL as target', () => {
      expect(fhir.validateTarget('https://gpconnect.example.nhs.uk/B82617/STU3/1/gpconnect/fhir')).toBeNull();
      expect(fhir.validateTarget('https://gpconnect.example.nhs.uk/fhir?x=1')).toContain('base URL');
      expect(fhir.validateTarget('gpconnect.example.nhs.uk')).toContain('not a valid URL');
    });

    it('fills defaults: the metadata interaction, RS256, a 5-minute ttl and STU3 or R4', () => {
      const parsed = fhir.options.parse({ spine: { from: 200000000359, to: TO }, jwt: { key: { env: 'K' } } });
      expect(parsed).toEqual({
        headers: {},
        spine: { from: FROM, to: TO, interactionId: GP_CONNECT_METADATA_INTERACTION },
        jwt: { key: { env: 'K' }, alg: 'RS256', claims: {}, ttl: '5m' },
        expect: { fhirVersions: ['3.0.1', '4.0.1'] },
      });
      // What the config loader produced parses again, unchanged, on the worker.
      expect(fhir.options.parse(parsed)).toEqual(parsed);
    });

    it('rejects claims the probe sets itself, bad ASIDs and literal keys', () => {
      const claims = fhir.options.safeParse({ jwt: { key: { env: 'K' }, claims: { exp: 1 } } });
      expect(claims.error?.issues[0]?.message).toBe('iat, exp, jti are set on each request and cannot be configured');
      expect(fhir.options.safeParse({ spine: { from: 'ASID-1', to: TO } }).success).toBe(false);
      expect(fhir.options.safeParse({ jwt: { key: '-----BEGIN PRIVATE KEY-----' } }).success).toBe(false);
      expect(fhir.options.safeParse({ expect: { fhirVersions: ['STU3'] } }).success).toBe(false);
    });
  });
});
