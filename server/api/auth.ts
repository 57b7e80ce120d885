// Sign-in and sign-out, who am I, display and worker tokens, and the audit log. Every
// sign-in, failed sign-in, token change and break-glass use is written to the audit log.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie } from 'hono/cookie';
import { AUDIT_EXPORT_FORMATS, auditExport, auditExportFilename, readWholeAuditLog } from '../auth/audit-export';
import { SESSION_COOKIE, setSessionCookie, type AppEnv } from '../auth/middleware';
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from '../auth/password';
import type { LoginThrottle } from '../auth/throttle';
import type { ApiToken, User } from '../auth/types';
import { errorBody, type ApiContext } from './context';
import { tokenSource } from '../status/engine';
import { ErrorBody, errors, json } from './schemas';

export interface AuthRouteOptions {
  throttle: LoginThrottle;
  sessionTtlMs: number;
  /** Set the Secure flag on cookies (Pulse is reached over HTTPS). */
  secureCookies: boolean;
  /** Called on every break-glass sign-in: an alert, not just a log line. */
  onBreakGlass: (user: User, address: string) => void;
}

const UserView = z
  .object({
    username: z.string(),
    displayName: z.string(),
    role: z.enum(['ops', 'manager', 'viewer']),
    icb: z.string().nullable(),
    practices: z.array(z.string()),
    breakGlass: z.boolean(),
  })
  .openapi('User');
const Me = z.object({ user: UserView, csrf: z.string().openapi({ description: 'Send as X-CSRF-Token on every state-changing request.' }) }).openapi('Me');
const TokenView = z
  .object({
    id: z.number().int(),
    kind: z.enum(['display', 'worker']),
    name: z.string(),
    icb: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('Token');

const userView = (u: User) => ({
  username: u.username,
  displayName: u.displayName,
  role: u.role,
  icb: u.icb,
  practices: u.practices,
  breakGlass: u.breakGlass,
});
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const tokenView = (t: ApiToken) => ({ ...t, createdAt: iso(t.createdAt)!, lastUsedAt: iso(t.lastUsedAt), revokedAt: iso(t.revokedAt) });

export function authRoutes(ctx: ApiContext, opts: AuthRouteOptions) {
  const app = new OpenAPIHono<AppEnv>();
  const audit = (c: Context<AppEnv>, action: string, subject: string | null, detail: Record<string, unknown>, actor = ctx.actor(c)) =>
    ctx.accounts.appendAudit({ at: ctx.now(), actor, action, subject, detail });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/login',
      summary: 'Sign in with a local account (or the sealed break-glass account)',
      tags: ['auth'],
      middleware: [ctx.guard('public')] as const,
      request: {
        body: {
          content: { 'application/json': { schema: z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(256) }).strict() } },
          required: true,
        },
      },
      responses: {
        200: json(Me, 'Signed in; the session cookie is set'),
        400: errors[400],
        401: json(ErrorBody, 'Wrong username or password'),
        429: json(ErrorBody, 'Too many failed attempts; try again later'),
      },
    }),
    async (c) => {
      const { username, password } = c.req.valid('json');
      // The peer's address, or what a configured proxy (PULSE_TRUSTED_PROXIES) saw: a header from anyone else is ignored.
      const address = ctx.clientAddress(c);
      const now = ctx.now();
      const gate = opts.throttle.check(username, address, now);
      const found = await ctx.accounts.userForSignIn(username);
      // A break-glass account is never locked by failures against its name (anyone could
      // lock it out during an incident); its sign-ins are still limited per address.
      const lockedOnlyByName = !gate.allowed && gate.reason === 'account' && found?.user.breakGlass === true;
      if (!gate.allowed && !lockedOnlyByName) {
        c.header('Retry-After', String(Math.ceil(gate.retryAfterMs / 1000)));
        // Not audited per attempt (the failures that caused the lock-out are): hammering must not grow the log.
        ctx.log('warn', 'sign-in throttled', { address, reason: gate.reason });
        return c.json(errorBody('THROTTLED', `too many failed sign-ins; try again in ${Math.ceil(gate.retryAfterMs / 60_000)} min`), 429);
      }
      const ok = found?.passwordHash ? await verifyPassword(password, found.passwordHash) : await dummyVerify(password);
      if (!found || !ok || found.user.disabled) {
        opts.throttle.recordFailure(username, address, now);
        await audit(c, 'auth.signin.failed', `user:${username.toLowerCase()}`, { address, reason: found?.user.disabled ? 'disabled' : 'credentials' }, `anonymous@${address}`);
        return c.json(errorBody('BAD_CREDENTIALS', 'wrong username or password'), 401);
      }
      opts.throttle.recordSuccess(username, address);
      if (needsRehash(found.passwordHash!)) await ctx.accounts.updateUser(found.user.id, { passwordHash: await hashPassword(password) });
      // A fresh session on every sign-in: a session id planted before sign-in is worthless.
      const { secret, session } = await ctx.accounts.createSession(found.user.id, now, opts.sessionTtlMs);
      setSessionCookie(c, secret, { ttlMs: opts.sessionTtlMs, secure: opts.secureCookies });
      await audit(c, found.user.breakGlass ? 'auth.breakglass.used' : 'auth.signin', `user:${found.user.username}`, { address }, found.user.username);
      if (found.user.breakGlass) opts.onBreakGlass(found.user, address);
      return c.json({ user: userView(found.user), csrf: session.csrf }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/auth/me',
      summary: 'The signed-in person and their CSRF token',
      tags: ['auth'],
      middleware: [ctx.guard('self')] as const,
      responses: { 200: json(Me, 'Signed in'), 401: json(ErrorBody, 'Not signed in') },
    }),
    (c) => {
      const principal = c.get('principal');
      if (principal.kind !== 'user') return c.json(errorBody('UNAUTHENTICATED', 'sign in'), 401);
      return c.json({ user: userView(principal.user), csrf: principal.session.csrf }, 200);
    },
  );

  for (const everywhere of [false, true]) {
    app.openapi(
      createRoute({
        method: 'post',
        path: everywhere ? '/api/auth/logout-everywhere' : '/api/auth/logout',
        summary: everywhere ? 'Sign out of every session of this account' : 'Sign out',
        tags: ['auth'],
        middleware: [ctx.guard('self')] as const,
        responses: { 200: json(z.object({ signedOut: z.number().int() }), 'Signed out'), 401: json(ErrorBody, 'Not signed in') },
      }),
      async (c) => {
        const principal = c.get('principal');
        if (principal.kind !== 'user') return c.json(errorBody('UNAUTHENTICATED', 'sign in'), 401);
        const now = ctx.now();
        let ended = 1;
        if (everywhere) ended = await ctx.accounts.revokeSessions(principal.user.id, now);
        else await ctx.accounts.revokeSession(c.get('sessionSecret') ?? '', now);
        deleteCookie(c, SESSION_COOKIE, { path: '/' });
        await audit(c, everywhere ? 'auth.signout.everywhere' : 'auth.signout', `user:${principal.user.username}`, { sessions: ended });
        return c.json({ signedOut: ended }, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/tokens',
      summary: 'Display links and probe-worker tokens (never their secrets)',
      tags: ['tokens'],
      middleware: [ctx.guard('tokens.manage')] as const,
      responses: { 200: json(z.object({ tokens: z.array(TokenView) }), 'Tokens'), 401: errors[400], 403: errors[400] },
    }),
    async (c) => c.json({ tokens: (await ctx.accounts.listTokens()).map(tokenView) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/tokens',
      summary: 'Create a read-only wall-display link or a probe-worker token; the secret is shown once',
      tags: ['tokens'],
      middleware: [ctx.guard('tokens.manage')] as const,
      request: {
        body: {
          content: {
            'application/json': {
              schema: z
                .object({ kind: z.enum(['display', 'worker']), name: z.string().trim().min(1).max(100), icb: z.string().max(10).nullable().default(null) })
                .strict(),
            },
          },
          required: true,
        },
      },
      responses: {
        201: json(z.object({ token: TokenView, secret: z.string() }), 'Created'),
        400: errors[400],
        403: json(ErrorBody, 'A worker token asked for by the operations staff of one ICB'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const principal = c.get('principal');
      // A worker may report results for every check in the estate: one ICB's staff must not
      // be able to mint a credential that decides the status of other ICBs' practices.
      if (body.kind === 'worker' && principal.kind === 'user' && principal.user.icb !== null) {
        return c.json(errorBody('FORBIDDEN', 'worker tokens reach every practice; only national operations may create them'), 403);
      }
      // An ICB's ops may only make display links for their own ICB.
      const icb = principal.kind === 'user' && principal.user.icb !== null ? principal.user.icb : body.icb;
      const { secret, token } = await ctx.accounts.createToken({ kind: body.kind, name: body.name, icb, createdBy: ctx.actor(c), now: ctx.now() });
      await audit(c, 'token.create', `token:${token.id}`, { kind: token.kind, name: token.name, icb });
      return c.json({ token: tokenView(token), secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/tokens/{id}/revoke',
      summary: 'Revoke a token at once',
      tags: ['tokens'],
      middleware: [ctx.guard('tokens.manage')] as const,
      request: { params: z.object({ id: z.coerce.number().int().min(1).openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: {
        200: json(z.object({ revoked: z.literal(true) }), 'Revoked'),
        400: errors[400],
        403: json(ErrorBody, "Another ICB's display link, or a worker token, asked for by one ICB's operations staff"),
        404: errors[404],
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const principal = c.get('principal');
      // One ICB's staff may end their own ICB's display links: not another ICB's, nor the workers every ICB relies on.
      if (principal.kind === 'user' && principal.user.icb !== null) {
        const token = (await ctx.accounts.listTokens()).find((t) => t.id === id);
        if (token && (token.kind !== 'display' || token.icb !== principal.user.icb)) {
          return c.json(errorBody('FORBIDDEN', `token ${id} is not one of your ICB's display links`), 403);
        }
      }
      if (!(await ctx.accounts.revokeToken(id, ctx.now()))) return c.json(errorBody('NOT_FOUND', `no live token ${id}`), 404);
      // A worker token's results go with it: what it contributed turns unknown now, not when stale.
      if (ctx.engine.forgetSource(tokenSource(id)) > 0) ctx.poke();
      await audit(c, 'token.revoke', `token:${id}`, {});
      return c.json({ revoked: true as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/audit',
      summary: 'The audit log, newest first, and whether its hash chain is intact; or, with format, the whole log as a download',
      description:
        'Without `format`: one page, newest first. With `format=csv` or `format=json`: the whole log, oldest first, as an attachment ' +
        '(`pulse-audit-<date>.<format>`), for incident review; the `Pulse-Audit-Intact` header says whether the chain verified, and ' +
        'the export itself is recorded in the log (`audit.export`). CSV cells a spreadsheet would run as a formula start with `\'`.',
      tags: ['audit'],
      middleware: [ctx.guard('audit.read')] as const,
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(1).max(1_000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
          format: z
            .enum(AUDIT_EXPORT_FORMATS, { error: `expected one of ${AUDIT_EXPORT_FORMATS.join(', ')} (or no format for one page as JSON)` })
            .optional()
            .openapi({ description: 'Download the whole log as csv or json' }),
        }),
      },
      responses: {
        200: {
          description: 'Entries; or, with format, the whole log as a file',
          content: {
            'application/json': {
              schema: z.object({
                intact: z.boolean(),
                entries: z.array(
                  z.object({ seq: z.number().int(), at: z.string(), actor: z.string(), action: z.string(), subject: z.string().nullable(), detail: z.record(z.string(), z.unknown()), hash: z.string() }),
                ),
              }),
            },
            'text/csv': { schema: z.string() },
          },
        },
        400: errors[400],
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      if (q.format !== undefined) {
        for (const name of ['limit', 'offset'] as const) {
          if (c.req.query(name) !== undefined) {
            return c.json(errorBody('BAD_REQUEST', `${name}: an export (format=${q.format}) is the whole log; leave out limit and offset`), 400);
          }
        }
        const now = ctx.now();
        // Recorded first, so the file carries the record of its own making.
        await audit(c, 'audit.export', null, { format: q.format });
        const entries = await readWholeAuditLog((limit, offset) => ctx.accounts.auditEntries(limit, offset));
        const verified = await ctx.accounts.verifyAudit();
        const file = auditExport(q.format, entries);
        return c.body(file.body, 200, {
          'Content-Type': file.contentType,
          'Content-Disposition': `attachment; filename="${auditExportFilename(q.format, now)}"`,
          'Cache-Control': 'no-store',
          'Pulse-Audit-Intact': String(verified.ok),
        });
      }
      const entries = await ctx.accounts.auditEntries(q.limit, q.offset);
      const verified = await ctx.accounts.verifyAudit();
      return c.json(
        {
          intact: verified.ok,
          entries: entries.map((e) => ({ seq: e.seq, at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, subject: e.subject, detail: e.detail, hash: e.hash })),
        },
        200,
      );
    },
  );

  return app;
}
