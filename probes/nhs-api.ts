// The `nhs-api` check kind: an NHS API platform proxy's own health endpoints.
// `_ping` (no auth) says the proxy is up and which version; `_status` (an
// `apikey` header) reports `pass | warn | fail` with a `checks` block such as
// `spine:status` for the services behind it. `fail` is a failure naming the inner
// checks that failed; `warn` is degraded.
// The request is http.ts's httpExchange. Must never put the API key in a detail,
// never outlive ctx.signal, and never know about practices, the scheduler or the server.
import { z } from 'zod';
import { http, httpExchange, parseJsonBody, showJson, urlHost, type HttpExchangeResponse } from './http';
import { redact, resolveSecret, secretRef } from './secrets';
import { resolveTlsClient, tlsClientOptions, type TlsClientSettings } from './tls-client';
import type { CheckKind, ProbeContext, ProbeOutcome } from './types';

const nhsApiOptions = z
  .object({
    endpoint: z.enum(['_ping', '_status']).default('_status'),
    /** Sent as the `apikey` header; required for `_status`. */
    apiKey: secretRef.optional(),
    /** Inner checks of `_status` that must be present and passing. */
    requireChecks: z.array(z.string().min(1)).min(1).optional(),
    /** Private CA, client certificate, server name (for https targets). */
    tls: tlsClientOptions.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.endpoint === '_status' && o.apiKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'required for endpoint _status (sent as the apikey header), e.g. apiKey: { env: PULSE_NHS_API_KEY }' });
    }
    if (o.endpoint === '_ping' && o.requireChecks !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['requireChecks'], message: 'applies to endpoint _status only; _ping reports no checks' });
    }
  });

export type NhsApiOptions = z.output<typeof nhsApiOptions>;

function validateTarget(target: string): string | null {
  const error = http.validateTarget(target);
  if (error) return error;
  const url = new URL(target);
  if (url.search || url.hash) return `"${target}" must be the API's base URL, without ?query or #fragment`;
  if (/\/_(ping|status)\/?$/.test(url.pathname)) return `"${target}" must be the API's base URL; the endpoint is chosen by the endpoint option`;
  return null;
}

const STATUSES = ['pass', 'warn', 'fail'] as const;
type HealthStatus = (typeof STATUSES)[number];

interface InnerCheck {
  name: string;
  status: unknown;
  responseCode: unknown;
  timeout: unknown;
}

/** `checks` as the platform sends it: each value an array of results, or a single one. */
function innerChecks(checks: unknown): InnerCheck[] {
  if (!checks || typeof checks !== 'object' || Array.isArray(checks)) return [];
  return Object.entries(checks as Record<string, unknown>).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((entry): InnerCheck => {
      const e = entry && typeof entry === 'object' ? (entry as Record<string, unknown>) : {};
      return { name, status: e.status, responseCode: e.responseCode, timeout: e.timeout };
    }),
  );
}

/** `spine:status fail (responseCode 503)`. */
function describeInner(check: InnerCheck): string {
  const facts = [
    typeof check.responseCode === 'number' || typeof check.responseCode === 'string' ? `responseCode ${check.responseCode}` : null,
    check.timeout === true || check.timeout === 'true' ? 'timed out' : null,
  ].filter((f): f is string => f !== null);
  const status = typeof check.status === 'string' ? check.status : showJson(check.status ?? null);
  return `${check.name} ${status}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

function version(doc: Record<string, unknown>): string {
  return typeof doc.version === 'string' || typeof doc.version === 'number' ? ` (version ${doc.version})` : '';
}

function judgePing(response: HttpExchangeResponse): ProbeOutcome {
  const { status, latencyMs } = response;
  if (status !== 200) return { ok: false, latencyMs, error: 'status', detail: `_ping status ${status}, expected 200` };
  const parsed = parseJsonBody(response);
  if (!parsed.ok) return { ok: false, latencyMs, error: 'assertion', detail: `_ping ${parsed.detail}` };
  const doc = parsed.value && typeof parsed.value === 'object' ? (parsed.value as Record<string, unknown>) : {};
  return { ok: true, latencyMs, detail: `_ping ok${version(doc)}` };
}

function judgeStatus(response: HttpExchangeResponse, requireChecks: readonly string[]): ProbeOutcome {
  const { status: httpStatus, latencyMs } = response;
  const fail = (error: 'status' | 'assertion', detail: string): ProbeOutcome => ({ ok: false, latencyMs, error, detail });
  const parsed = parseJsonBody(response);
  // The platform answers a failing _status with 503 and the JSON that says why: read it first.
  if (!parsed.ok || !parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    if (httpStatus !== 200) return fail('status', `_status status ${httpStatus}, expected 200`);
    return fail('assertion', parsed.ok ? '_status body is JSON but not an object' : `_status ${parsed.detail}`);
  }
  const doc = parsed.value as Record<string, unknown>;
  const overall = doc.status;
  if (typeof overall !== 'string' || !STATUSES.includes(overall as HealthStatus)) {
    // Not a health document at all (a gateway's 401 fault, a 502 page): the HTTP status says it.
    if (overall === undefined && httpStatus !== 200) return fail('status', `_status status ${httpStatus}, expected 200`);
    return fail('assertion', `_status status ${showJson(overall ?? null)}, expected pass, warn or fail (HTTP ${httpStatus})`);
  }
  const checks = innerChecks(doc.checks);
  const notPassing = checks.filter((c) => c.status !== 'pass');
  const named = (list: InnerCheck[]): string => (list.length > 0 ? `: ${list.map(describeInner).join('; ')}` : '');

  if (overall === 'fail') return fail('assertion', `_status fail${named(notPassing)}`);

  const missing = requireChecks.filter((name) => !checks.some((c) => c.name === name));
  if (missing.length > 0) {
    const found = [...new Set(checks.map((c) => c.name))];
    return fail('assertion', `_status has no ${missing.join(', ')} check (found: ${found.length > 0 ? found.join(', ') : 'none'})`);
  }
  const requiredFailing = notPassing.filter((c) => requireChecks.includes(c.name) && c.status !== 'warn');
  if (requiredFailing.length > 0) return fail('assertion', `_status ${overall} but required${named(requiredFailing)}`);
  if (httpStatus !== 200) return fail('status', `_status status ${httpStatus}, expected 200 (body says ${overall})`);

  const summary = `${checks.length} inner check${checks.length === 1 ? '' : 's'}${version(doc)}`;
  // The platform's own verdict first; a warning on a required check is ours to raise.
  const requiredWarning = notPassing.some((c) => requireChecks.includes(c.name));
  if (overall === 'warn' || requiredWarning) {
    return { ok: true, latencyMs, detail: `_status ${overall}, ${summary}`, degraded: `_status ${overall}${named(notPassing)}` };
  }
  return { ok: true, latencyMs, detail: `_status pass, ${summary}` };
}

async function run(target: string, options: NhsApiOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const url = new URL(`${target.replace(/\/+$/, '')}/${options.endpoint}`);
  const secrets: string[] = [];
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.apiKey) {
    const key = await resolveSecret(options.apiKey);
    if (!key.ok) return { ok: false, latencyMs: 0, error: 'error', detail: `apiKey: ${key.detail}` };
    const value = key.value.trim();
    secrets.push(key.value);
    if (/[\r\n\0]/.test(value)) return redact({ ok: false, latencyMs: 0, error: 'error', detail: 'apiKey: the secret holds a line break or NUL and cannot be sent as a header' }, secrets);
    headers.apikey = value;
  } else if (options.endpoint === '_status') {
    // The estate loader composes this kind's fields without the schema's cross-field
    // refinement, so a _status check without a key can get this far.
    return { ok: false, latencyMs: 0, error: 'error', detail: 'apiKey is required for endpoint _status' };
  }
  let tls: TlsClientSettings | undefined;
  if (url.protocol === 'https:') {
    const resolved = await resolveTlsClient(options.tls, urlHost(url));
    if (!resolved.ok) return redact({ ok: false, latencyMs: 0, error: 'error', detail: resolved.detail }, secrets);
    tls = resolved.settings;
    secrets.push(...tls.secrets);
  } else if (options.tls) {
    return { ok: false, latencyMs: 0, error: 'error', detail: `tls applies to https:// targets only, and ${url.origin} is http://` };
  }
  const result = await httpExchange({ url, method: 'GET', headers, tls }, ctx);
  if (!result.ok) return redact(result.failure, secrets);
  const outcome = options.endpoint === '_ping' ? judgePing(result.response) : judgeStatus(result.response, options.requireChecks ?? []);
  return redact(outcome, secrets);
}

export const nhsApi: CheckKind<NhsApiOptions> = {
  kind: 'nhs-api',
  options: nhsApiOptions,
  validateTarget,
  run,
};
