// Backup-mode notifications: the GOV.UK Notify sender against a loopback Notify that checks the
// JWT and the body as the real one does, and the log sender that writes masked entries.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { govukNotifySender, logSender, maskEmail, maskPhone, notifyJwt, parseNotifyApiKey, type NotifyMessage } from '../../../server/backup/notify';
import { startNotifyServer, type NotifyServer } from '../../helpers/notify-server';

const SERVICE_ID = '26785a09-ab16-4eb0-8407-a37497a57506';
const SECRET = '3d844edf-8d35-48ac-975b-e847b4f122b0';
const API_KEY = `pulse_live-key-${SERVICE_ID}-${SECRET}`;
const EMAIL_TEMPLATE = 'f33517ff-2a88-4f6e-b855-c550268ce08a';
const SMS_TEMPLATE = '8a3ce5a1-0f4f-4ea0-9d2b-54a0e6a7a1c1';
const NOW = 1_750_000_000_000;

const TEMPLATES = {
  [EMAIL_TEMPLATE]: { type: 'email' as const, body: '((practice)) (((ods))) is in backup mode: ((reason)). Status: ((statusUrl))' },
  [SMS_TEMPLATE]: { type: 'sms' as const, body: '((practice)) is in backup mode. ((statusUrl))' },
};

const personalisation = {
  practice: 'Riverside Medical Practice',
  ods: 'A81001',
  reason: 'EMIS Web down',
  statusUrl: 'https://pulse.example.nhs.uk/status/A81001',
};

const email = (over: Partial<NotifyMessage> = {}): NotifyMessage => ({
  channel: 'email',
  to: 'practice.manager@nhs.net',
  templateId: EMAIL_TEMPLATE,
  personalisation,
  reference: 'run-7:notify-pm',
  ...over,
});

const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function notify(now: () => number = () => NOW): Promise<NotifyServer> {
  const server = await startNotifyServer({ serviceId: SERVICE_ID, secret: SECRET, templates: TEMPLATES, now });
  servers.push(server);
  return server;
}

const sender = (server: { url: string }, over: { apiKey?: string; now?: () => number; timeoutMs?: number } = {}) =>
  govukNotifySender({ apiKey: over.apiKey ?? API_KEY, baseUrl: server.url, now: over.now ?? (() => NOW), timeoutMs: over.timeoutMs ?? 2_000 });

function expectNotOk(result: Awaited<ReturnType<ReturnType<typeof sender>['send']>>, retryable: boolean): string {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.retryable).toBe(retryable);
  expect(result.error).not.toContain(SECRET);
  expect(result.error).not.toContain(API_KEY);
  return result.error;
}

describe('govukNotifySender', () => {
  it('sends an email with a JWT Notify accepts (HS256, iss = service id, iat now) and the documented body', async () => {
    const server = await notify();
    const result = await sender(server).send(email());
    expect(result).toEqual({ ok: true });
    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    expect(req.path).toBe('/v2/notifications/email');
    expect(req.status).toBe(201);
    expect(req.claims).toEqual({ iss: SERVICE_ID, iat: NOW / 1000 });
    expect(req.body).toEqual({
      email_address: 'practice.manager@nhs.net',
      template_id: EMAIL_TEMPLATE,
      personalisation,
      reference: 'run-7:notify-pm',
    });
    expect(server.sent[0]!.content).toBe(
      'Riverside Medical Practice (A81001) is in backup mode: EMIS Web down. Status: https://pulse.example.nhs.uk/status/A81001',
    );
    // The key never travels: only the signed token does.
    expect(req.raw).not.toContain(SECRET);
    expect(String(req.headers.authorization)).not.toContain(SECRET);
  });

  it('sends a text message to a UK mobile with phone_number', async () => {
    const server = await notify();
    const result = await sender(server).send(email({ channel: 'sms', to: '07700 900123', templateId: SMS_TEMPLATE, reference: 'run-7:notify-sms' }));
    expect(result).toEqual({ ok: true });
    const req = server.requests[0]!;
    expect(req.path).toBe('/v2/notifications/sms');
    expect(req.body).toEqual({ phone_number: '07700 900123', template_id: SMS_TEMPLATE, personalisation, reference: 'run-7:notify-sms' });
    expect(server.sent.map((s) => [s.type, s.to, s.reference])).toEqual([['sms', '07700 900123', 'run-7:notify-sms']]);
  });

  it('makes a fresh token per request from the injected clock', async () => {
    let now = NOW;
    const server = await notify(() => now);
    const s = sender(server, { now: () => now });
    await s.send(email());
    now += 3_600_000;
    await s.send(email());
    expect(server.requests.map((r) => [r.status, r.claims?.iat])).toEqual([
      [201, NOW / 1000],
      [201, NOW / 1000 + 3600],
    ]);
  });

  it('a token signed with the wrong secret is refused with 403, not retryable', async () => {
    const server = await notify();
    const wrong = `pulse-${SERVICE_ID}-00000000-0000-4000-8000-000000000000`;
    const error = expectNotOk(await sender(server, { apiKey: wrong }).send(email()), false);
    expect(error).toBe('GOV.UK Notify answered HTTP 403: AuthError: Invalid token: API key not found');
    expect(error).not.toContain('00000000-0000-4000-8000-000000000000');
    expect(server.sent).toHaveLength(0);
  });

  it('a clock more than 30 s out is refused with 403, as Notify does', async () => {
    const server = await notify();
    const error = expectNotOk(await sender(server, { now: () => NOW - 31_000 }).send(email()), false);
    expect(error).toContain('HTTP 403');
    expect(error).toContain('Your system clock must be accurate to within 30 seconds');
    expect(await sender(server, { now: () => NOW - 29_000 }).send(email())).toEqual({ ok: true });
  });

  it('400 with Notify error JSON is not retryable and quotes the messages', async () => {
    const server = await notify();
    const s = sender(server);
    const missing = expectNotOk(await s.send(email({ personalisation: { practice: 'Riverside' } })), false);
    expect(missing).toBe('GOV.UK Notify answered HTTP 400: BadRequestError: Missing personalisation: ods, reason, statusUrl');
    const badNumber = expectNotOk(await s.send(email({ channel: 'sms', to: '020 7946 0000', templateId: SMS_TEMPLATE })), false);
    expect(badNumber).toContain('HTTP 400: ValidationError: phone_number This number is not a UK mobile number');
    const wrongTemplate = expectNotOk(await s.send(email({ templateId: SMS_TEMPLATE })), false);
    expect(wrongTemplate).toContain('sms template is not suitable for email notification');
    expect(server.sent).toHaveLength(0);
  });

  it('quotes at most 200 characters of what Notify said', async () => {
    const server = await notify();
    server.answerNext(400, { status_code: 400, errors: [{ error: 'BadRequestError', message: 'x'.repeat(1_000) }] });
    const error = expectNotOk(await sender(server).send(email()), false);
    const quoted = error.slice(error.indexOf(': ') + 2);
    expect(quoted.length).toBe(200);
  });

  it('500 and 429 are retryable', async () => {
    const server = await notify();
    server.answerNext(500, { status_code: 500, errors: [{ error: 'Exception', message: 'Internal server error' }] });
    server.answerNext(429, { status_code: 429, errors: [{ error: 'RateLimitError', message: 'Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds' }] });
    const s = sender(server);
    expect(expectNotOk(await s.send(email()), true)).toBe('GOV.UK Notify answered HTTP 500: Exception: Internal server error');
    expect(expectNotOk(await s.send(email()), true)).toContain('HTTP 429: RateLimitError: Exceeded rate limit');
    expect(await s.send(email())).toEqual({ ok: true });
    // Each attempt is its own request with the same reference: Notify does not dedupe on it.
    expect(server.requests.map((r) => (r.body as { reference: string } | null)?.reference ?? null)).toEqual([null, null, 'run-7:notify-pm']);
    expect(server.requests.map((r) => r.status)).toEqual([500, 429, 201]);
  });

  it('a refused connection is retryable', async () => {
    const server = await notify();
    const url = server.url;
    await servers.pop()!.close();
    const error = expectNotOk(await sender({ url }).send(email()), true);
    expect(error).toMatch(/request failed: ECONNREFUSED/);
  });

  it('no answer within timeoutMs is retryable', async () => {
    const server = await notify();
    server.hang = true;
    const error = expectNotOk(await sender(server, { timeoutMs: 150 }).send(email()), true);
    expect(error).toBe('GOV.UK Notify: no answer within 150 ms');
    expect(server.requests).toHaveLength(1);
  });

  it('a non-JSON error page is quoted as text', async () => {
    const proxy = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad   gateway</body></html>');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise<void>((r) => proxy.close(() => r())) });
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    expect(expectNotOk(await sender({ url }).send(email()), true)).toBe('GOV.UK Notify answered HTTP 502: <html><body>Bad gateway</body></html>');
  });

  it('refuses, without a request, a message Notify would refuse: no recipient, a template id that is not a UUID', async () => {
    const server = await notify();
    const s = sender(server);
    expect(expectNotOk(await s.send(email({ to: ' ' })), false)).toMatch(/no recipient/);
    expect(expectNotOk(await s.send(email({ templateId: 'backup-entered' })), false)).toMatch(/templateId is not a GOV\.UK Notify template id/);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a malformed API key when built, not at send time', () => {
    expect(() => govukNotifySender({ apiKey: 'nope' })).toThrow(/too short/);
  });
});

describe('parseNotifyApiKey', () => {
  it('takes the service id and secret from the end; the key name may contain dashes', () => {
    expect(parseNotifyApiKey(API_KEY)).toEqual({ serviceId: SERVICE_ID, secret: SECRET });
    expect(parseNotifyApiKey(`  ${SERVICE_ID}-${SECRET}\n`)).toEqual({ serviceId: SERVICE_ID, secret: SECRET });
  });

  it('rejects malformed keys, saying what is wrong and never echoing the key', () => {
    const cases: [string, RegExp][] = [
      ['', /is empty/],
      ['pulse-abc-def', /too short: 13 characters, at least 73 needed/],
      [`pulse-${SERVICE_ID}-not-a-uuid-at-all-but-thirty-six-chars`, /last 36 characters \(the secret key\) are not a UUID/],
      [`pulse-${SERVICE_ID}_${SECRET}`, /no "-" before the secret key/],
      [`pulse-zzzzzzzz-ab16-4eb0-8407-a37497a57506-${SECRET}`, /\(the service id\) are not a UUID/],
      [`pulse_${SERVICE_ID}-${SECRET}`.replace(`_${SERVICE_ID}`, `x${SERVICE_ID}`), /no "-" between the key name and the service id/],
    ];
    for (const [key, pattern] of cases) {
      let message = '';
      try {
        parseNotifyApiKey(key);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, `key ${JSON.stringify(key)}`).toMatch(pattern);
      expect(message).toMatch(/^GOV\.UK Notify API key/);
      if (key.length > 3) expect(message).not.toContain(key);
      expect(message).not.toContain(SECRET);
    }
  });
});

describe('notifyJwt', () => {
  it('is a compact HS256 JWT with only iss and iat', () => {
    const [header, claims, signature] = notifyJwt(SERVICE_ID, SECRET, NOW + 999).split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ typ: 'JWT', alg: 'HS256' });
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toEqual({ iss: SERVICE_ID, iat: NOW / 1000 });
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('logSender', () => {
  it('writes one structured entry per message with the recipient masked, and answers ok', async () => {
    const entries: Record<string, unknown>[] = [];
    const s = logSender((e) => entries.push(e));
    expect(s.kind).toBe('log');
    expect(await s.send(email({ to: 'practice.manager@nhs.net' }))).toEqual({ ok: true });
    expect(await s.send(email({ channel: 'sms', to: '07700 900123', templateId: SMS_TEMPLATE, reference: 'run-7:sms' }))).toEqual({ ok: true });
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ channel: 'email', to: 'p***@nhs.net', templateId: EMAIL_TEMPLATE, reference: 'run-7:notify-pm', personalisation });
    expect(entries[1]).toMatchObject({ channel: 'sms', to: '07*** ***123', templateId: SMS_TEMPLATE, reference: 'run-7:sms' });
    expect(JSON.stringify(entries)).not.toContain('practice.manager');
    expect(JSON.stringify(entries)).not.toContain('900123');
  });

  it('never throws: a failing writer is a retryable failure', async () => {
    const s = logSender(() => {
      throw new Error('disk full');
    });
    expect(await s.send(email())).toEqual({ ok: false, retryable: true, error: 'log sender: could not write: disk full' });
  });

  it('masks addresses and numbers in every shape', () => {
    expect(maskEmail('p@nhs.net')).toBe('p***@nhs.net');
    expect(maskEmail('not-an-address')).toBe('***');
    expect(maskEmail('@nhs.net')).toBe('***');
    expect(maskPhone('+44 7700 900123')).toBe('+44*** ***123');
    expect(maskPhone('07700900123')).toBe('07*** ***123');
    expect(maskPhone('123')).toBe('***');
  });
});
