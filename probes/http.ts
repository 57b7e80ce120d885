// The `http` check kind: one HTTP(S) request to a URL, judged on status, on the
// body (a string, a regular expression, values in a JSON document), on latency
// and, for https, on how soon the server's certificate expires.
// Also home of `httpExchange`, the one request routine the HTTP-based kinds
// (fhir, nhs-api) share: fresh connection, bounded body, abort-aware, classified errors.
// Each run opens a fresh connection (no keep-alive pool), so latency and
// failures reflect what a new visitor would see. Redirects are not followed:
// a 3xx is judged like any other status and its Location is shown in the detail.
// It must never read more than MAX_BODY_BYTES of a body, never outlive
// ctx.signal, and never know about practices, the scheduler or the server.
import type { IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { z } from 'zod';
import { durationOption, parseDuration } from './duration';
import { HttpResponseError, ResponseReader } from './http-response';
import { classifyNetworkError, elapsedSince } from './net-errors';
import { describeSecretRef, redact, resolveSecret, secretRef, type SecretRef } from './secrets';
import { certificateExpiry, describeExpiry, resolveTlsClient, tlsClientOptions, type TlsClientSettings } from './tls-client';
import type { CheckKind, ErrorClass, ProbeContext, ProbeOutcome } from './types';

export const MAX_BODY_BYTES = 1024 * 1024;
const USER_AGENT = 'Pulse-probe/1 (+health monitoring for NHS GP practices)';

// RFC 9110 token for header names; values may not carry CR, LF or NUL.
export const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name');
export const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'HTTP header values may not contain line breaks');
/** Extra request headers; a value that is a credential is a secret reference, resolved on the worker. */
export const headersOption = z
  .record(
    headerName,
    z.union([headerValue, secretRef], {
      error: 'expected a header value (text without line breaks) or a secret reference such as { env: PULSE_TOKEN }',
    }),
  )
  .default({});

/** Resolves the secret-valued headers; a failure names the header and the reference, never a value. */
export async function resolveHeaders(
  headers: Readonly<Record<string, string | SecretRef>>,
): Promise<{ ok: true; headers: Record<string, string>; secrets: string[] } | { ok: false; detail: string; secrets: string[] }> {
  const out: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') {
      out[name] = value;
      continue;
    }
    const resolved = await resolveSecret(value);
    if (!resolved.ok) return { ok: false, detail: `headers.${name}: ${resolved.detail}`, secrets };
    secrets.push(resolved.value);
    const text = resolved.value.trim();
    if (/[\r\n\0]/.test(text)) {
      return { ok: false, detail: `headers.${name}: the secret (${describeSecretRef(value)}) holds a line break or NUL and cannot be sent as a header`, secrets };
    }
    out[name] = text;
  }
  return { ok: true, headers: out, secrets };
}

const regexSource = z.string().min(1).superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}` });
  }
});

/** `status`, `checks.spine:status.0.outcome`: keys separated by dots; a number indexes an array. */
const jsonPath = z.string().regex(/^[^.]+(\.[^.]+)*$/, 'expected a dotted path such as status or checks.spine:status.0.status');

const jsonExpectation = z
  .object({
    path: jsonPath,
    equals: z.union([z.string(), z.number(), z.boolean()]),
  })
  .strict();

const httpOptions = z
  .object({
    method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
    headers: headersOption,
    expect: z
      .object({
        /** Acceptable statuses; absent means any 2xx. */
        status: z.array(z.number().int().min(100).max(599)).min(1).optional(),
        bodyContains: z.string().min(1).optional(),
        /** A JavaScript regular expression (no flags) the body must match. */
        bodyMatches: regexSource.optional(),
        /** Values the JSON body must hold; all must match. */
        json: z.array(jsonExpectation).min(1).optional(),
      })
      .strict()
      .default({}),
    /** Slower than this is degraded, not failed. */
    degradedAfter: durationOption.optional(),
    /** https only: degraded when the certificate expires within this many days; failed once expired. */
    certExpiryDays: z.number().int().min(1).max(3650).optional(),
    /** https only: private CA, client certificate (mutual TLS), server name. */
    tls: tlsClientOptions.optional(),
  })
  .strict();

export type HttpOptions = z.output<typeof httpOptions>;
export type HttpMethod = HttpOptions['method'];
export type ProbeFailure = Extract<ProbeOutcome, { ok: false }>;

type Phase = 'connecting' | 'in the TLS handshake' | 'waiting for the response' | 'reading the body';

export interface HttpExchangeRequest {
  url: URL;
  method: HttpMethod;
  headers: Record<string, string>;
  /** Required for https: URLs (resolveTlsClient builds it). */
  tls?: TlsClientSettings;
  /** Judges the status line before the body is read; a detail fails the run as `status` without reading on. */
  rejectStatus?: (status: number, headers: IncomingHttpHeaders) => string | null;
}

export interface HttpExchangeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Until the last byte of the body. */
  latencyMs: number;
  /** The server's leaf certificate, for https. */
  certificate: PeerCertificate | null;
}

export type HttpExchangeResult = { ok: true; response: HttpExchangeResponse } | { ok: false; failure: ProbeFailure };

/** URL host without IPv6 brackets, as TLS verification wants it. */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * The request's bytes: request line, Host, User-Agent (either may be replaced by a configured
 * header), the configured headers and `Connection: close`. Null, with why, when a header
 * value holds a character HTTP cannot carry.
 */
export function requestHead(spec: HttpExchangeRequest): { ok: true; head: string } | { ok: false; detail: string } {
  const { url } = spec;
  const given = new Map(Object.entries(spec.headers).map(([name, value]) => [name.toLowerCase(), { name, value }]));
  given.delete('connection');
  const lines = [`${spec.method} ${url.pathname || '/'}${url.search} HTTP/1.1`];
  if (!given.has('host')) lines.push(`Host: ${url.host}`);
  if (!given.has('user-agent')) lines.push(`User-Agent: ${USER_AGENT}`);
  if ((url.username || url.password) && !given.has('authorization')) {
    // As node:http did: credentials in the URL become Basic authentication.
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    lines.push(`Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
  }
  for (const { name, value } of given.values()) {
    if (!HEADER_VALUE.test(value)) return { ok: false, detail: `invalid character in the value of header ${JSON.stringify(name)}` };
    lines.push(`${name}: ${value}`);
  }
  if (spec.method === 'POST' && !given.has('content-length')) lines.push('Content-Length: 0');
  lines.push('Connection: close', '', '');
  return { ok: true, head: lines.join('\r\n') };
}
/** What a header value may hold on the wire (RFC 9110 field-value, as latin1). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * One request on a fresh connection; the body is read whole, up to MAX_BODY_BYTES. Never throws.
 * Over a socket of its own (net.connect, tls.connect) with a small response reader
 * (probes/http-response.ts) rather than node:http's client: a check is one request on one
 * connection, and the client's request and agent machinery was over half of a worker's CPU.
 */
export function httpExchange(spec: HttpExchangeRequest, ctx: ProbeContext): Promise<HttpExchangeResult> {
  const start = performance.now();
  const { url } = spec;
  const where = url.origin;
  const isHttps = url.protocol === 'https:';

  return new Promise<HttpExchangeResult>((resolve) => {
    let phase: Phase = 'connecting';
    let settled = false;
    let socket: Socket | undefined;
    let certificate: PeerCertificate | null = null;

    const settle = (result: HttpExchangeResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve(result);
    };
    const fail = (error: ErrorClass, detail: string): void => {
      settle({ ok: false, failure: { ok: false, latencyMs: elapsedSince(start), error, detail } });
    };
    function onAbort(): void {
      fail('timeout', `no answer from ${where} within ${ctx.timeoutMs} ms (${phase})`);
    }

    if (ctx.signal.aborted) {
      onAbort();
      return;
    }
    const head = requestHead(spec);
    if (!head.ok) {
      fail('error', `could not build the request to ${where}: ${head.detail}`);
      return;
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    const host = urlHost(url);
    const port = Number(url.port) || (isHttps ? 443 : 80);
    try {
      socket = isHttps
        ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...spec.tls?.connect })
        : netConnect({ host, port });
    } catch (err) {
      fail('error', `could not connect to ${where}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const reader = new ResponseReader(spec.method === 'HEAD');
    const chunks: Buffer[] = [];
    let size = 0;

    socket.once('connect', () => {
      if (phase === 'connecting') phase = isHttps ? 'in the TLS handshake' : 'waiting for the response';
    });
    if (isHttps) {
      socket.once('secureConnect', () => {
        phase = 'waiting for the response';
        const cert = (socket as TLSSocket).getPeerCertificate();
        certificate = cert && Object.keys(cert).length > 0 ? cert : null;
      });
    }
    socket.on('error', (err) => {
      const classified = classifyNetworkError(err, where);
      fail(classified.error, classified.detail);
    });
    socket.on('data', (data: Buffer) => {
      if (settled) return;
      let body: Buffer[];
      const hadHead = reader.head !== null;
      try {
        body = reader.feed(data);
      } catch (err) {
        fail('error', `${where}: not a valid HTTP/1.1 response (${err instanceof HttpResponseError ? err.message : String(err)})`);
        return;
      }
      if (!hadHead && reader.head) {
        phase = 'reading the body';
        const rejected = spec.rejectStatus?.(reader.head.status, reader.head.headers);
        if (rejected) {
          fail('status', rejected);
          return;
        }
      }
      for (const chunk of body) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          fail('too_large', `body of ${where} is larger than ${MAX_BODY_BYTES} bytes; stopped reading at ${size} bytes`);
          return;
        }
        chunks.push(chunk);
      }
      if (reader.done) complete();
    });
    const complete = (): void => {
      const { status, headers } = reader.head!;
      settle({ ok: true, response: { status, headers, body: Buffer.concat(chunks, size), latencyMs: elapsedSince(start), certificate } });
    };
    const ended = (): void => {
      if (settled) return;
      if (reader.end()) complete();
      else if (reader.head) fail('reset', `connection to ${where} closed after ${size} bytes of the body`);
      else fail('reset', `connection to ${where} reset before a complete response (socket hang up)`);
    };
    socket.once('end', ended);
    socket.once('close', ended);
    socket.write(head.head, 'latin1');
  });
}

function validateTarget(target: string): string | null {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return `"${target}" is not a valid URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `"${target}" must start with http:// or https://, not ${url.protocol}//`;
  }
  if (url.hostname === '') return `"${target}" has no host`;
  return null;
}

function describeExpectedStatus(expected: readonly number[] | undefined): string {
  return expected ? expected.join(' or ') : '2xx';
}

export function statusAccepted(status: number, expected: readonly number[] | undefined): boolean {
  return expected ? expected.includes(status) : status >= 200 && status <= 299;
}

export function quote(text: string, max = 100): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** A JSON value for a detail: strings quoted, long values cut. */
export function showJson(value: unknown, max = 100): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const MISSING = Symbol('missing');

/** Follows a dotted path through objects (by key) and arrays (by index). */
export function jsonAt(document: unknown, path: string): unknown {
  let here: unknown = document;
  for (const key of path.split('.')) {
    if (Array.isArray(here) && /^\d+$/.test(key)) here = here[Number(key)];
    else if (here !== null && typeof here === 'object' && !Array.isArray(here) && Object.hasOwn(here, key)) here = (here as Record<string, unknown>)[key];
    else return MISSING;
    if (here === undefined) return MISSING;
  }
  return here;
}

/** Parses a body as JSON, or says in a detail why it is not. */
export function parseJsonBody(response: HttpExchangeResponse): { ok: true; value: unknown } | { ok: false; detail: string } {
  const text = response.body.toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    const type = response.headers['content-type'];
    return {
      ok: false,
      detail: `body is not JSON (status ${response.status}${type ? `, content-type ${type}` : ''}, ${response.body.length} bytes: ${quote(text, 60)})`,
    };
  }
}

/** Which `expect.json` entries the document does not satisfy, in words; empty when all hold. */
export function jsonMismatches(document: unknown, expectations: readonly z.output<typeof jsonExpectation>[]): string[] {
  const misses: string[] = [];
  for (const { path, equals } of expectations) {
    const actual = jsonAt(document, path);
    if (actual === MISSING) misses.push(`json ${path} missing, expected ${showJson(equals)}`);
    else if (actual !== equals) misses.push(`json ${path} = ${showJson(actual)}, expected ${showJson(equals)}`);
  }
  return misses;
}

function judge(options: HttpOptions, response: HttpExchangeResponse): ProbeOutcome {
  const { status, body, latencyMs } = response;
  const { bodyContains, bodyMatches, json } = options.expect;
  const failed = (error: ErrorClass, detail: string): ProbeOutcome => ({ ok: false, latencyMs, error, detail });
  const read = `status ${status}, ${body.length} bytes read`;

  const text = body.toString('utf8');
  if (bodyContains !== undefined && !text.includes(bodyContains)) {
    return failed('assertion', `body does not contain ${quote(bodyContains)} (${read})`);
  }
  if (bodyMatches !== undefined && !new RegExp(bodyMatches).test(text)) {
    return failed('assertion', `body does not match /${bodyMatches}/ (${read})`);
  }
  if (json) {
    const parsed = parseJsonBody(response);
    if (!parsed.ok) return failed('assertion', parsed.detail);
    const misses = jsonMismatches(parsed.value, json);
    if (misses.length > 0) return failed('assertion', misses.join('; '));
  }

  const notes = [`status ${status}`];
  const degraded: string[] = [];
  if (options.certExpiryDays !== undefined) {
    const expiry = response.certificate ? certificateExpiry(response.certificate, Date.now()) : null;
    if (!expiry) return failed('tls', 'the server sent no certificate whose expiry could be read');
    if (expiry.expired) return failed('tls', describeExpiry(expiry));
    if (expiry.daysLeft < options.certExpiryDays) degraded.push(`${describeExpiry(expiry)}, within certExpiryDays ${options.certExpiryDays}`);
    else notes.push(describeExpiry(expiry));
  }
  if (options.degradedAfter !== undefined) {
    const limit = parseDuration(options.degradedAfter)!;
    if (latencyMs > limit) degraded.push(`slow: ${Math.round(latencyMs)} ms, above degradedAfter ${options.degradedAfter}`);
  }
  const detail = notes.join('; ');
  return degraded.length > 0 ? { ok: true, latencyMs, detail, degraded: degraded.join('; ') } : { ok: true, latencyMs, detail };
}

async function run(target: string, options: HttpOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const url = new URL(target);
  const isHttps = url.protocol === 'https:';
  if (!isHttps && (options.tls !== undefined || options.certExpiryDays !== undefined)) {
    return { ok: false, latencyMs: 0, error: 'error', detail: `tls and certExpiryDays apply to https:// targets only, and ${url.origin} is http://` };
  }
  const headers = await resolveHeaders(options.headers);
  if (!headers.ok) return redact({ ok: false, latencyMs: 0, error: 'error', detail: headers.detail }, headers.secrets);
  const secrets = headers.secrets;
  let tls: TlsClientSettings | undefined;
  if (isHttps) {
    const resolved = await resolveTlsClient(options.tls, urlHost(url));
    if (!resolved.ok) return redact({ ok: false, latencyMs: 0, error: 'error', detail: resolved.detail }, secrets);
    tls = resolved.settings;
    secrets.push(...tls.secrets);
  }
  const expectedStatus = options.expect.status;
  const result = await httpExchange(
    {
      url,
      method: options.method,
      headers: headers.headers,
      tls,
      rejectStatus: (status, headers) => {
        if (statusAccepted(status, expectedStatus)) return null;
        const location = headers.location;
        const redirect = status >= 300 && status <= 399 && location ? ` (Location: ${quote(location, 200)})` : '';
        return `status ${status}, expected ${describeExpectedStatus(expectedStatus)}${redirect}`;
      },
    },
    ctx,
  );
  const outcome = result.ok ? withCertExpiry(judge(options, result.response), result.response) : result.failure;
  return redact(outcome, secrets);
}

/** Carries the certificate's notAfter (https) on the outcome, for the metrics, whatever the verdict. */
function withCertExpiry(outcome: ProbeOutcome, response: HttpExchangeResponse): ProbeOutcome {
  const notAfter = response.certificate ? Date.parse(response.certificate.valid_to) : Number.NaN;
  return Number.isFinite(notAfter) ? { ...outcome, certExpiresAt: notAfter } : outcome;
}

export const http: CheckKind<HttpOptions> = {
  kind: 'http',
  options: httpOptions,
  validateTarget,
  run,
};
