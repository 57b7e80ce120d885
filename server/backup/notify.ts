// Notification senders for backup mode's `notify` actions: an email or a text message to a named
// contact. Two kinds, one interface: `log` (the demo, and any estate without GOV.UK Notify) writes
// one structured entry per message; `govuk-notify` sends through GOV.UK Notify's REST API
// (https://docs.notifications.service.gov.uk/rest-api.html).
//
// GOV.UK Notify in brief:
//   - An API key is `{key_name}-{service_id}-{secret}`, the last two UUIDs. Every request carries
//     `Authorization: Bearer <JWT>`, a JWT signed HS256 with the secret, claims
//     `{ iss: <service_id>, iat: <unix seconds> }`; Notify refuses an `iat` more than 30 s from its
//     own clock, so a fresh token is made for every request, from the injected clock.
//   - `POST /v2/notifications/email` `{ email_address, template_id, personalisation, reference }`
//     `POST /v2/notifications/sms`   `{ phone_number,  template_id, personalisation, reference }`
//     answer 201 with the notification; errors are `{ status_code, errors: [{ error, message }] }`.
//
// Answers: 2xx → ok; 429 (rate or daily limit), 408, 5xx, network errors and timeouts →
// retryable; 400 (validation: bad number, missing personalisation, unknown template), 403 (bad
// key or clock) and any other status → not retryable, quoting Notify's messages.
//
// At-least-once, honestly: Notify does NOT dedupe on `reference` (it is only a label we can
// search by). The outbox marks an action done only after Notify's answer, so a crash between
// that answer and the mark sends the same message again after a restart: one contact may get
// one message twice. That is the documented window (docs/backup.md); the alternative, marking
// first, would lose messages during an outage, which is worse.
//
// Must never: throw from `send`; put the API key or its secret in an error or a log entry; log a
// full email address or phone number (the log sender masks them).
import { createHmac } from 'node:crypto';
import type { SendResult } from './webhook';
import { postJson, retryableStatus } from './post';

export type { SendResult } from './webhook';

export interface NotifyMessage {
  channel: 'email' | 'sms';
  /** Email address or UK mobile number. */
  to: string;
  /** The GOV.UK Notify template id (a UUID) configured for this action; the log sender ignores it. */
  templateId: string;
  /** Values for the template's ((placeholders)): practice name, ODS code, reason, status page URL... */
  personalisation: Record<string, string>;
  /** The action's idempotency key, sent as Notify's `reference`. */
  reference: string;
}

export interface NotifySender {
  readonly kind: 'log' | 'govuk-notify';
  send(message: NotifyMessage): Promise<SendResult>; // never throws
}

export const NOTIFY_BASE_URL = 'https://api.notifications.service.gov.uk';
export const DEFAULT_NOTIFY_TIMEOUT_MS = 10_000;
/** Longest stretch of Notify's error messages quoted in an error. */
const QUOTE_CHARS = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_CHARS = 36;

// ---- masking, for logs ----

/** `pat.smith@nhs.net` → `p***@nhs.net`; anything that is not an address → `***`. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1 || at === address.length - 1) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/** `07700 900123` → `07*** ***123`; `+447700900123` → `+44*** ***123`; too short to mask → `***`. */
export function maskPhone(number: string): string {
  const compact = number.replace(/[\s().-]/g, '');
  const digits = compact.replace(/\D/g, '');
  if (digits.length < 7) return '***';
  const prefix = compact.startsWith('+') ? compact.slice(0, 3) : compact.slice(0, 2);
  return `${prefix}*** ***${digits.slice(-3)}`;
}

export function maskRecipient(message: Pick<NotifyMessage, 'channel' | 'to'>): string {
  return message.channel === 'email' ? maskEmail(message.to) : maskPhone(message.to);
}

// ---- the log sender ----

/** Writes one structured entry per message and answers ok: the demo's sender, and a dry run. */
export function logSender(write: (entry: Record<string, unknown>) => void): NotifySender {
  return {
    kind: 'log',
    async send(message) {
      try {
        write({
          msg: 'notification (log sender: not sent)',
          channel: message.channel,
          to: maskRecipient(message),
          templateId: message.templateId,
          reference: message.reference,
          personalisation: message.personalisation,
        });
        return { ok: true };
      } catch (err) {
        return { ok: false, retryable: true, error: `log sender: could not write: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
  };
}

// ---- GOV.UK Notify ----

/**
 * Splits a GOV.UK Notify API key into its service id (the JWT's `iss`) and secret (the signing
 * key). Throws an Error naming what is wrong; the key itself is never in the message.
 */
export function parseNotifyApiKey(key: string): { serviceId: string; secret: string } {
  const shape = 'expected {key_name}-{service id}-{secret key}, as GOV.UK Notify shows it when the key is created';
  if (typeof key !== 'string' || key.trim() === '') throw new Error(`GOV.UK Notify API key is empty (${shape})`);
  const k = key.trim();
  const minimum = UUID_CHARS * 2 + 1;
  if (k.length < minimum) throw new Error(`GOV.UK Notify API key is too short: ${k.length} characters, at least ${minimum} needed (${shape})`);
  const secret = k.slice(-UUID_CHARS);
  const serviceId = k.slice(-minimum, -UUID_CHARS - 1);
  if (!UUID.test(secret)) throw new Error(`GOV.UK Notify API key: its last 36 characters (the secret key) are not a UUID (${shape})`);
  if (k[k.length - UUID_CHARS - 1] !== '-') throw new Error(`GOV.UK Notify API key: no "-" before the secret key (${shape})`);
  if (!UUID.test(serviceId)) throw new Error(`GOV.UK Notify API key: the 36 characters before the secret key (the service id) are not a UUID (${shape})`);
  if (k.length > minimum && k[k.length - minimum - 1] !== '-') {
    throw new Error(`GOV.UK Notify API key: no "-" between the key name and the service id (${shape})`);
  }
  return { serviceId: serviceId.toLowerCase(), secret };
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** The bearer token for one request: HS256 over `{ iss: serviceId, iat }`, keyed with the secret. */
export function notifyJwt(serviceId: string, secret: string, nowMs: number): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
  const claims = base64url(JSON.stringify({ iss: serviceId, iat: Math.floor(nowMs / 1000) }));
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

interface NotifyErrorBody {
  errors?: { error?: unknown; message?: unknown }[];
}

/** Notify's `errors[].message`s, joined; else the raw body; at most QUOTE_CHARS. */
function quoteNotifyErrors(text: string): string {
  let quote = text.trim();
  try {
    const body = JSON.parse(text) as NotifyErrorBody;
    if (Array.isArray(body.errors)) {
      const messages = body.errors
        .map((e) => [typeof e?.error === 'string' ? e.error : null, typeof e?.message === 'string' ? e.message : null].filter(Boolean).join(': '))
        .filter((m) => m !== '');
      if (messages.length > 0) quote = messages.join('; ');
    }
  } catch {
    // Not JSON (a proxy's error page, say): quote the text as it came.
  }
  return quote.replace(/\s+/g, ' ').slice(0, QUOTE_CHARS);
}

/** Refuses, before any request, a message Notify would refuse anyway; null when it is fine. */
function invalidMessage(message: NotifyMessage): string | null {
  if (message.channel !== 'email' && message.channel !== 'sms') return `channel must be email or sms, not "${String(message.channel)}"`;
  if (typeof message.to !== 'string' || message.to.trim() === '') return 'no recipient (to is empty)';
  if (typeof message.templateId !== 'string' || !UUID.test(message.templateId)) return 'templateId is not a GOV.UK Notify template id (a UUID)';
  return null;
}

export function govukNotifySender(opts: {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  now?: () => number;
  timeoutMs?: number;
}): NotifySender {
  // Parsed once, up front: a malformed key is a configuration error at start, not at send time.
  const { serviceId, secret } = parseNotifyApiKey(opts.apiKey);
  const apiKey = opts.apiKey;
  const baseUrl = (opts.baseUrl ?? NOTIFY_BASE_URL).replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  const redact = (text: string) => text.split(apiKey).join('[redacted]').split(secret).join('[redacted]');

  return {
    kind: 'govuk-notify',
    async send(message) {
      const invalid = invalidMessage(message);
      if (invalid) return { ok: false, retryable: false, error: `not sent to GOV.UK Notify: ${invalid}` };
      const path = message.channel === 'email' ? '/v2/notifications/email' : '/v2/notifications/sms';
      const body = {
        ...(message.channel === 'email' ? { email_address: message.to.trim() } : { phone_number: message.to.trim() }),
        template_id: message.templateId,
        personalisation: message.personalisation,
        reference: message.reference,
      };
      const outcome = await postJson({
        url: `${baseUrl}${path}`,
        headers: { Authorization: `Bearer ${notifyJwt(serviceId, secret, now())}`, 'User-Agent': 'Pulse-Notify/1' },
        body: JSON.stringify(body),
        timeoutMs,
        fetch: doFetch,
      });
      if (outcome.kind === 'timeout') return { ok: false, retryable: true, error: `GOV.UK Notify: no answer within ${timeoutMs} ms` };
      if (outcome.kind === 'failed') return { ok: false, retryable: true, error: redact(`GOV.UK Notify: request failed: ${outcome.why}`) };
      if (outcome.status >= 200 && outcome.status < 300) return { ok: true };
      const quote = quoteNotifyErrors(outcome.text);
      const error = `GOV.UK Notify answered HTTP ${outcome.status}${quote ? `: ${quote}` : ''}`;
      return { ok: false, retryable: retryableStatus(outcome.status), error: redact(error) };
    },
  };
}
