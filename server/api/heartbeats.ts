// Workstation heartbeats: endpoint agents on practice PCs POST here with their practice's
// token. Only the tracker's view changes; the fleet check is evaluated on the server's tick.
// Each request is timed by the server's own observer (intake backlog), whatever its answer.
// The hot path of the server (5,000 a second at national scale): the ODS code is checked by a
// plain pattern, the body read straight from the socket with its own 4 KiB cap (no web stream,
// no Request object), the usual body validated without zod (parseHeartbeat), and the answer is
// written at once; the fleet's status is worked out on the tick, not per beat. So app.ts keeps
// its 64 KiB body limit and its session/bearer lookup off this path: the practice token is
// checked here, before the body is read.
import type { IncomingMessage } from 'node:http';
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { MAX_SOFTWARE_ENTRIES, MAX_SOFTWARE_KEY_LENGTH, MAX_SOFTWARE_VALUE_LENGTH, parseHeartbeat } from '../fleet';
import type { AppEnv } from '../auth/middleware';
import { RateLimiter } from '../http/rate-limit';
import { errorBody, type ApiContext } from './context';
import { ErrorBody, OdsParam, errors, json } from './schemas';

const MAX_BODY_BYTES = 4 * 1024;
/** The path app.ts keeps its body limit and session lookup off (this route does both itself). */
export const HEARTBEAT_PATH_PREFIX = '/api/heartbeats/';
const ODS = /^[A-Z]\d{5}$/;
const ACCEPTED = { accepted: true as const };
const TOO_LARGE = Symbol('too large');

/** Heartbeats a practice token may send, as a multiple of its agents' expected rate (and burst). */
export const DEFAULT_HEARTBEAT_RATE_MULTIPLE = 10;

/** Why a heartbeat was refused, for pulse_heartbeats_rejected_total. */
export const HEARTBEAT_REJECT_REASONS = ['rate_limited', 'too_many_agents'] as const;
export type HeartbeatRejectReason = (typeof HEARTBEAT_REJECT_REASONS)[number];

export interface HeartbeatRouteOptions {
  /** Called when a request starts; the function it returns when it is answered (ServerObserver.intakeStart). */
  intake?: () => () => void;
  /**
   * Each practice token may send `rateMultiple` × (agents ÷ interval) heartbeats, with a
   * burst of `rateMultiple` × agents (default 10): one broken agent script cannot starve the rest.
   */
  rateMultiple?: number;
  /** A heartbeat refused (429), by reason: counted in the metrics. */
  onRejected?: (reason: HeartbeatRejectReason) => void;
}

export function heartbeatRoutes(ctx: ApiContext, opts: HeartbeatRouteOptions = {}) {
  const app = new OpenAPIHono<AppEnv>();
  const multiple = opts.rateMultiple ?? DEFAULT_HEARTBEAT_RATE_MULTIPLE;
  // Keyed by practice, after its token is verified: one bucket per configured fleet at most.
  const limiter = new RateLimiter({ now: () => ctx.now(), maxKeys: 10_000 });
  const route = createRoute({
      method: 'post',
      path: '/api/heartbeats/{ods}',
      summary: 'A workstation agent’s heartbeat (bearer: the practice’s agent token)',
      tags: ['fleet'],
      description:
        'Body (JSON, at most 4 KiB): `{ "agent": "RECEPTION-02", "hostname"?, "version"?, "bootedAt"?, "sentAt"?, "software"? }`. ' +
        `\`software\` is what the workstation runs, e.g. \`{ "falcon-sensor": "7.16.18605", "os": "10.0.19045.4651" }\`: ` +
        `at most ${MAX_SOFTWARE_ENTRIES} entries, names of letters, digits and \`. _ - :\` (at most ${MAX_SOFTWARE_KEY_LENGTH} characters), ` +
        `versions of printable text (at most ${MAX_SOFTWARE_VALUE_LENGTH} characters). ` +
        'The token is checked before the body is read; the server stamps the beat with its own clock.',
      request: { params: OdsParam },
      // Agents carry their practice's own token, checked below before the body is read.
      middleware: [ctx.guard('public')] as const,
      responses: {
        202: json(z.object({ accepted: z.literal(true) }), 'Recorded'),
        400: errors[400], 404: errors[404],
        401: json(ErrorBody, 'Missing or wrong practice token'),
        413: json(ErrorBody, 'Body over 4 KiB'),
        429: json(ErrorBody, 'The practice already has the maximum number of agents, or sent more heartbeats than 10 × its agents’ expected rate (`RATE_LIMITED`, with `Retry-After` in seconds)'),
      },
    });
  // Documented as the route above; served without its zod request validator (the same check by hand).
  const { middleware, ...documented } = route;
  app.openAPIRegistry.registerPath(documented);
  app.post(
    '/api/heartbeats/:ods',
    ...middleware,
    async (c) => {
      const done = opts.intake?.();
      try {
        const ods = c.req.param('ods');
        if (!ODS.test(ods)) return c.json(errorBody('BAD_REQUEST', `ods: expected an ODS practice code: one capital letter and five digits, e.g. A81001`), 400);
        if (!ctx.fleet?.has(ods)) return c.json(errorBody('NOT_FOUND', `practice ${ods} has no workstation fleet configured`), 404);
        const auth = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '');
        if (!ctx.fleet.verifyToken(ods, auth?.[1])) return c.json(errorBody('UNAUTHORIZED', 'missing or wrong practice agent token'), 401);
        const expected = ctx.fleet.expectedBeats(ods)!;
        const take = limiter.take(ods, {
          perSecond: (multiple * expected.agents * 1000) / expected.intervalMs,
          burst: multiple * expected.agents,
        });
        if (!take.ok) {
          opts.onRejected?.('rate_limited');
          c.header('Retry-After', String(take.retryAfterSeconds));
          return c.json(
            errorBody(
              'RATE_LIMITED',
              `practice ${ods} sent more heartbeats than ${multiple} × its agents' rate (${expected.agents} agent(s), one beat each every ${expected.intervalMs / 1000} s); retry after ${take.retryAfterSeconds} s`,
            ),
            429,
          );
        }
        const text = await readBody(c);
        if (text === TOO_LARGE) return c.json(errorBody('TOO_LARGE', 'a heartbeat is at most 4 KiB'), 413);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return c.json(errorBody('BAD_REQUEST', 'body: not valid JSON'), 400);
        }
        const parsed = parseHeartbeat(json);
        if (!parsed.ok) return c.json(errorBody('BAD_REQUEST', `${parsed.error.field}: ${parsed.error.message}`), 400);
        // Stamped with the server's receive time: agents' clocks are not trusted.
        const beat = ctx.fleet.beat(ods, parsed.value.agent, ctx.now(), parsed.value.software);
        if (!beat.ok) {
          if (beat.code === 'TOO_MANY_AGENTS') opts.onRejected?.('too_many_agents');
          return beat.code === 'TOO_MANY_AGENTS'
            ? c.json(errorBody(beat.code, beat.message), 429)
            : c.json(errorBody('NOT_FOUND', beat.message), 404);
        }
        return c.json(ACCEPTED, 202);
      } finally {
        done?.();
      }
    },
  );
  return app;
}

/**
 * The body as text, or TOO_LARGE past 4 KiB (a declared length over it is refused unread).
 * Over Node, read from the socket's request directly; otherwise (app.request in tests) through Hono.
 */
async function readBody(c: Context): Promise<string | typeof TOO_LARGE> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) {
    c.header('Connection', 'close');
    return TOO_LARGE;
  }
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || typeof incoming.on !== 'function') {
    const text = await c.req.text();
    return Buffer.byteLength(text) > MAX_BODY_BYTES ? TOO_LARGE : text;
  }
  if (incoming.readableEnded) return '';
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (value: string | typeof TOO_LARGE) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // The rest is not read: the connection closes after the answer.
        c.header('Connection', 'close');
        incoming.pause();
        finish(TOO_LARGE);
      } else chunks.push(chunk);
    };
    const onEnd = () => finish(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    const onError = () => finish('');
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}
