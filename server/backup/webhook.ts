// Sends one backup-mode webhook: an HTTP POST of a JSON body, signed, with an idempotency key.
//
// Headers on every request:
//   Content-Type:     application/json
//   User-Agent:       Pulse-Webhook/1
//   Idempotency-Key:  <key>   — the same for every attempt of one action run, including a resend
//                               after a server restart; receivers MUST dedupe on it.
//   Pulse-Signature:  t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// Verifying (Stripe-style): split the header on `,` into `t` and one or more `v1`; compute
// HMAC-SHA256 with the shared secret over the ASCII timestamp, a `.`, and the raw request body
// bytes exactly as received (not re-serialised JSON); compare in constant time with any `v1`;
// reject when |now - t| exceeds a tolerance (300 s by default) to blunt replays. `verifySignature`
// below does exactly this and is what receivers written in Node can use.
//
// Never throws: the result says whether it worked and, if not, whether trying again may help
// (2xx ok; 408, 429, 5xx, network errors and timeouts are retryable; any other status is not).
// The secret's value never appears in an error.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { postJson, retryableStatus } from './post';

export const SIGNATURE_HEADER = 'Pulse-Signature';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const USER_AGENT = 'Pulse-Webhook/1';
/** Longest stretch of a receiver's response body quoted in an error. */
const QUOTE_CHARS = 200;

export type SendResult = { ok: true } | { ok: false; retryable: boolean; error: string };

export interface WebhookRequest {
  url: string;
  /** The resolved shared secret (see probes/secrets.ts for how a SecretRef becomes one). */
  secret: string;
  /** A JSON-serialisable value, or an already serialised string sent as-is. */
  body: unknown;
  idempotencyKey: string;
  /** Milliseconds since the epoch; the signature's timestamp. */
  now: () => number;
  fetch?: typeof fetch;
  timeoutMs: number;
}

export function sign(secret: string, timestampS: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestampS}.${rawBody}`).digest('hex');
}

export function signatureHeader(secret: string, timestampS: number, rawBody: string): string {
  return `t=${timestampS},v1=${sign(secret, timestampS, rawBody)}`;
}

/** True when `header` is a valid Pulse-Signature for `rawBody` within `toleranceS` of `now` (ms). */
export function verifySignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string,
  now: number,
  toleranceS = 300,
): boolean {
  if (!header) return false;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^\d+$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) v1.push(v.toLowerCase());
  }
  if (t === undefined || v1.length === 0) return false;
  if (Math.abs(Math.floor(now / 1000) - t) > toleranceS) return false;
  const expected = Buffer.from(sign(secret, t, rawBody), 'hex');
  return v1.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
}

export async function sendWebhook(req: WebhookRequest): Promise<SendResult> {
  const raw = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  const t = Math.floor(req.now() / 1000);
  const outcome = await postJson({
    url: req.url,
    headers: {
      'User-Agent': USER_AGENT,
      [IDEMPOTENCY_HEADER]: req.idempotencyKey,
      [SIGNATURE_HEADER]: signatureHeader(req.secret, t, raw),
    },
    body: raw,
    timeoutMs: req.timeoutMs,
    ...(req.fetch ? { fetch: req.fetch } : {}),
  });
  if (outcome.kind === 'timeout') return { ok: false, retryable: true, error: `no answer within ${req.timeoutMs} ms` };
  if (outcome.kind === 'failed') return { ok: false, retryable: true, error: `request failed: ${outcome.why}` };
  const { status, statusText, text } = outcome;
  if (status >= 200 && status < 300) return { ok: true };
  const quote = text.trim().slice(0, QUOTE_CHARS);
  const error = `HTTP ${status}${statusText ? ` ${statusText}` : ''}${quote ? `: ${quote}` : ''}`;
  return { ok: false, retryable: retryableStatus(status), error: req.secret ? error.split(req.secret).join('[redacted]') : error };
}
