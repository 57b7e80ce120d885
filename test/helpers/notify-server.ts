// A stand-in GOV.UK Notify on loopback, for tests of server/backup/notify.ts. It is a real HTTP
// server that checks what the real one checks and answers the way the real one answers
// (https://docs.notifications.service.gov.uk/rest-api.html):
//   - `Authorization: Bearer <JWT>`: HS256 signed with the service's secret key, `iss` the service
//     id, `iat` within 30 s of its own clock (injected). Missing → 401; bad → 403, with Notify's
//     messages.
//   - `POST /v2/notifications/email|sms`: the body's fields, the template (known, of the right
//     type, every ((placeholder)) given), the address or UK mobile number. Bad → 400.
//   - 201 with the notification, like Notify.
// Errors are `{ status_code, errors: [{ error, message }] }`. Every request is recorded. Tests can
// queue answers (`answerNext`, e.g. a 500 or 429) or make it never answer (`hang`).
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface NotifyTemplate {
  type: 'email' | 'sms';
  /** Text with ((placeholders)). */
  body: string;
}

export interface ReceivedNotifyRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: unknown;
  /** The decoded JWT claims when its signature verified, else null. */
  claims: { iss?: unknown; iat?: unknown } | null;
  status: number;
}

export interface NotifyServer {
  url: string;
  requests: ReceivedNotifyRequest[];
  /** Notifications accepted (answered 201), in order. */
  sent: { id: string; type: 'email' | 'sms'; to: string; templateId: string; personalisation: Record<string, unknown>; reference: string | null; content: string }[];
  /** The next request (after its authentication) gets this answer instead. */
  answerNext(status: number, body: unknown): void;
  /** While true, requests are read and recorded but never answered. */
  hang: boolean;
  close(): Promise<void>;
}

/** A ((placeholder)): its name cannot hold brackets, so "(((ods)))" is "(" + ((ods)) + ")". */
const PLACEHOLDER = /\(\(([^()]+)\)\)/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const errorBody = (status: number, error: string, message: string) => ({ status_code: status, errors: [{ error, message }] });

function verifyJwt(token: string, secret: string): { iss?: unknown; iat?: unknown } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [header, claims, signature] = parts as [string, string, string];
  try {
    const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    if (h.alg !== 'HS256') return null;
    const expected = createHmac('sha256', secret).update(`${header}.${claims}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { iss?: unknown; iat?: unknown };
  } catch {
    return null;
  }
}

/** Notify's rule, roughly: a UK mobile is 07xxx xxxxxx, optionally as +44 / 0044. */
function ukMobileProblem(number: string): string | null {
  let digits = number.replace(/[\s().-]/g, '');
  if (digits.startsWith('+')) digits = digits.slice(1);
  if (!/^\d+$/.test(digits)) return 'Mobile numbers can only include: 0 1 2 3 4 5 6 7 8 9 ( ) + -';
  if (digits.startsWith('0044')) digits = digits.slice(4);
  else if (digits.startsWith('44')) digits = digits.slice(2);
  else if (digits.startsWith('0')) digits = digits.slice(1);
  if (!digits.startsWith('7')) return 'This number is not a UK mobile number';
  if (digits.length > 10) return 'Mobile number is too long';
  if (digits.length < 10) return 'Mobile number is too short';
  return null;
}

export async function startNotifyServer(opts: {
  serviceId: string;
  secret: string;
  templates: Record<string, NotifyTemplate>;
  /** Milliseconds since the epoch; the clock `iat` is checked against. */
  now?: () => number;
}): Promise<NotifyServer> {
  const now = opts.now ?? Date.now;
  const requests: ReceivedNotifyRequest[] = [];
  const sent: NotifyServer['sent'] = [];
  const queued: { status: number; body: unknown }[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const record: ReceivedNotifyRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body: null, claims: null, status: 0 };
    requests.push(record);
    if (state.hang) return;
    const answer = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    // Authentication first, as Notify does.
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || auth.length <= 7) {
      return answer(401, errorBody(401, 'AuthError', 'Unauthorized: authentication token must be provided'));
    }
    const claims = verifyJwt(auth.slice(7), opts.secret);
    if (!claims) return answer(403, errorBody(403, 'AuthError', 'Invalid token: API key not found'));
    record.claims = claims;
    if (typeof claims.iss !== 'string' || claims.iss === '') return answer(403, errorBody(403, 'AuthError', 'Invalid token: iss field not provided'));
    if (claims.iss !== opts.serviceId) return answer(403, errorBody(403, 'AuthError', 'Invalid token: service not found'));
    if (typeof claims.iat !== 'number' || Math.abs(Math.floor(now() / 1000) - claims.iat) > 30) {
      return answer(403, errorBody(403, 'AuthError', 'Error: Your system clock must be accurate to within 30 seconds'));
    }

    const forced = queued.shift();
    if (forced) return answer(forced.status, forced.body);

    const type = req.url === '/v2/notifications/email' ? 'email' : req.url === '/v2/notifications/sms' ? 'sms' : null;
    if (req.method !== 'POST' || type === null) return answer(404, errorBody(404, 'NotFound', 'The requested URL was not found on the server.'));
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return answer(400, errorBody(400, 'BadRequestError', 'Content-Type must be application/json'));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return answer(400, errorBody(400, 'BadRequestError', 'Invalid JSON supplied in POST data'));
    }
    record.body = body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return answer(400, errorBody(400, 'ValidationError', 'body must be an object'));

    const problems: string[] = [];
    const field = type === 'email' ? 'email_address' : 'phone_number';
    const allowed = new Set([field, 'template_id', 'personalisation', 'reference', ...(type === 'email' ? ['email_reply_to_id'] : ['sms_sender_id'])]);
    for (const key of Object.keys(body)) if (!allowed.has(key)) problems.push(`Additional properties are not allowed (${key} was unexpected)`);
    const to = body[field];
    if (typeof to !== 'string') problems.push(`${field} is a required property`);
    else if (type === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(to)) problems.push('email_address Not a valid email address');
    else if (type === 'sms') {
      const p = ukMobileProblem(to);
      if (p) problems.push(`phone_number ${p}`);
    }
    const templateId = body.template_id;
    if (typeof templateId !== 'string') problems.push('template_id is a required property');
    else if (!UUID.test(templateId)) problems.push('template_id is not a valid UUID');
    const personalisation = body.personalisation ?? {};
    if (personalisation === null || typeof personalisation !== 'object' || Array.isArray(personalisation)) problems.push('personalisation is not of type object');
    if (body.reference !== undefined && typeof body.reference !== 'string') problems.push('reference is not of type string');
    if (problems.length) return answer(400, { status_code: 400, errors: problems.map((message) => ({ error: 'ValidationError', message })) });

    const template = opts.templates[(templateId as string).toLowerCase()];
    if (!template) return answer(400, errorBody(400, 'BadRequestError', 'Template not found'));
    if (template.type !== type) return answer(400, errorBody(400, 'BadRequestError', `${template.type} template is not suitable for ${type} notification`));
    const values = personalisation as Record<string, unknown>;
    const missing = [...template.body.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !(name in values));
    if (missing.length) return answer(400, errorBody(400, 'BadRequestError', `Missing personalisation: ${[...new Set(missing)].join(', ')}`));

    const content = template.body.replace(PLACEHOLDER, (_, name: string) => String(values[name]));
    const id = randomUUID();
    sent.push({ id, type, to: to as string, templateId: templateId as string, personalisation: values, reference: (body.reference as string | undefined) ?? null, content });
    return answer(201, {
      id,
      reference: body.reference ?? null,
      content: type === 'email' ? { body: content, subject: 'Pulse', from_email: 'pulse@notifications.service.gov.uk' } : { body: content, from_number: 'GOVUK' },
      uri: `${state.url}/v2/notifications/${id}`,
      template: { id: templateId, version: 1, uri: `${state.url}/services/${opts.serviceId}/templates/${templateId}` },
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state: NotifyServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    sent,
    hang: false,
    answerNext: (status, body) => void queued.push({ status, body }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}
