// The `fhir` check kind: GET [base]/metadata and judge the CapabilityStatement
// (resourceType, status active, fhirVersion in the expected set). For GP Connect
// through the Spine proxy it adds the Ssp-* headers (a fresh Ssp-TraceID per
// request), a JWT bearer minted per request, and a client certificate.
// The request itself is http.ts's httpExchange: one request routine for all HTTP kinds.
// It must never put a key, a token or a certificate in a detail, never outlive
// ctx.signal, and never know about practices, the scheduler or the server.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from './duration';
import { headersOption, http, httpExchange, parseJsonBody, quote, resolveHeaders, urlHost, type HttpExchangeResponse } from './http';
import { jwtOptions, mintJwt } from './jwt';
import { describeSecretRef, redact, resolveSecret } from './secrets';
import { resolveTlsClient, tlsClientOptions, type TlsClientSettings } from './tls-client';
import type { CheckKind, ProbeContext, ProbeOutcome } from './types';

export const GP_CONNECT_METADATA_INTERACTION = 'urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1';
export const DEFAULT_FHIR_VERSIONS = ['3.0.1', '4.0.1'];

/** An Accredited System ID: digits. YAML reads an unquoted one as a number, so both are taken. */
const asid = z
  .union([z.string().regex(/^\d{1,20}$/, 'expected an ASID: digits only, e.g. 200000000359'), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)])
  .transform(String);

const fhirOptions = z
  .object({
    headers: headersOption,
    /** Spine Secure Proxy routing headers. */
    spine: z
      .object({
        from: asid,
        to: asid,
        interactionId: z.string().regex(/^urn:[^\s]+$/, 'expected an interaction URN').default(GP_CONNECT_METADATA_INTERACTION),
      })
      .strict()
      .optional(),
    /** A JWT sent as `Authorization: Bearer`, minted for each request. */
    jwt: jwtOptions.optional(),
    /** Private CA, client certificate (mutual TLS), server name. */
    tls: tlsClientOptions.optional(),
    expect: z
      .object({
        fhirVersions: z.array(z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a FHIR version such as 3.0.1')).min(1).default(DEFAULT_FHIR_VERSIONS),
      })
      .strict()
      .default({ fhirVersions: DEFAULT_FHIR_VERSIONS }),
  })
  .strict();

export type FhirOptions = z.output<typeof fhirOptions>;

function validateTarget(target: string): string | null {
  const error = http.validateTarget(target);
  if (error) return error;
  const url = new URL(target);
  if (url.search || url.hash) return `"${target}" must be the FHIR base URL, without ?query or #fragment`;
  return null;
}

export function metadataUrl(base: string): URL {
  return new URL(`${base.replace(/\/+$/, '')}/metadata`);
}

/** The first issue of an OperationOutcome, e.g. `error processing INVALID_REQUEST "missing Ssp-From"`. */
function operationOutcome(document: unknown): string | null {
  if (!document || typeof document !== 'object') return null;
  const resource = document as { resourceType?: unknown; issue?: unknown };
  if (resource.resourceType !== 'OperationOutcome' || !Array.isArray(resource.issue)) return null;
  const issue = resource.issue[0] as
    | { severity?: unknown; code?: unknown; diagnostics?: unknown; details?: { coding?: { code?: unknown }[] } }
    | undefined;
  if (!issue) return 'OperationOutcome';
  const parts = [issue.severity, issue.code, issue.details?.coding?.[0]?.code].filter((p): p is string => typeof p === 'string');
  const diagnostics = typeof issue.diagnostics === 'string' ? ` ${quote(issue.diagnostics, 120)}` : '';
  return `OperationOutcome ${parts.join(' ')}${diagnostics}`.trim();
}

function judge(response: HttpExchangeResponse, expected: readonly string[]): ProbeOutcome {
  const { status, latencyMs } = response;
  const fail = (error: 'status' | 'assertion', detail: string): ProbeOutcome => ({ ok: false, latencyMs, error, detail });
  const parsed = parseJsonBody(response);
  if (status < 200 || status > 299) {
    const outcome = parsed.ok ? operationOutcome(parsed.value) : null;
    return fail('status', `status ${status}, expected 2xx${outcome ? ` (${outcome})` : ''}`);
  }
  if (!parsed.ok) return fail('assertion', parsed.detail);
  const doc = parsed.value as { resourceType?: unknown; status?: unknown; fhirVersion?: unknown; software?: { name?: unknown; version?: unknown } } | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return fail('assertion', 'body is JSON but not a FHIR resource');
  if (doc.resourceType !== 'CapabilityStatement') {
    return fail('assertion', `resourceType ${JSON.stringify(doc.resourceType ?? null)}, expected CapabilityStatement`);
  }
  if (doc.status !== 'active') return fail('assertion', `CapabilityStatement status ${JSON.stringify(doc.status ?? null)}, expected active`);
  if (typeof doc.fhirVersion !== 'string' || !expected.includes(doc.fhirVersion)) {
    const found = typeof doc.fhirVersion === 'string' ? doc.fhirVersion : JSON.stringify(doc.fhirVersion ?? null);
    return fail('assertion', `fhirVersion ${found}, expected one of ${expected.join(', ')}`);
  }
  const software = doc.software && typeof doc.software.name === 'string'
    ? ` (${[doc.software.name, doc.software.version].filter((s) => typeof s === 'string').join(' ')})`
    : '';
  return { ok: true, latencyMs, detail: `CapabilityStatement active, fhirVersion ${doc.fhirVersion}${software}` };
}

async function run(target: string, options: FhirOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const url = metadataUrl(target);
  const secrets: string[] = [];
  const setupFailure = (detail: string): ProbeOutcome => redact({ ok: false, latencyMs: 0, error: 'error', detail }, secrets);

  let tls: TlsClientSettings | undefined;
  if (url.protocol === 'https:') {
    const resolved = await resolveTlsClient(options.tls, urlHost(url));
    if (!resolved.ok) return setupFailure(resolved.detail);
    tls = resolved.settings;
    secrets.push(...tls.secrets);
  } else if (options.tls) {
    return setupFailure(`tls applies to https:// targets only, and ${url.origin} is http://`);
  }

  const extra = await resolveHeaders(options.headers);
  secrets.push(...extra.secrets);
  if (!extra.ok) return setupFailure(extra.detail);
  const headers: Record<string, string> = { ...extra.headers, accept: 'application/fhir+json' };
  if (options.spine) {
    headers['ssp-traceid'] = randomUUID();
    headers['ssp-from'] = options.spine.from;
    headers['ssp-to'] = options.spine.to;
    headers['ssp-interactionid'] = options.spine.interactionId;
  }
  if (options.jwt) {
    const { key, alg, claims, ttl } = options.jwt;
    const keyName = `jwt.key (${describeSecretRef(key)})`;
    const pem = await resolveSecret(key);
    if (!pem.ok) return setupFailure(`jwt.key: ${pem.detail}`);
    secrets.push(pem.value);
    const minted = mintJwt(pem.value, keyName, alg, claims, parseDuration(ttl)!);
    if (!minted.ok) return setupFailure(minted.detail);
    secrets.push(minted.token);
    headers.authorization = `Bearer ${minted.token}`;
  }

  const result = await httpExchange({ url, method: 'GET', headers, tls }, ctx);
  return redact(result.ok ? judge(result.response, options.expect.fhirVersions) : result.failure, secrets);
}

export const fhir: CheckKind<FhirOptions> = {
  kind: 'fhir',
  options: fhirOptions,
  validateTarget,
  run,
};
