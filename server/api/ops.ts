// Running Pulse: liveness, readiness with its reasons, and configuration reload.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv } from '../auth/middleware';
import { errorBody, type ApiContext } from './context';
import { ErrorBody, json } from './schemas';
import { reasonText, type StoreUnavailableReason } from '../store/health';

export interface OpsDeps {
  readiness: () => Promise<{ ready: boolean; reasons: string[]; impaired: string | null }>;
  /** Why the store refuses writes now (disk full, read-only, …), or null: Pulse is then not ready. */
  storeProblem?: () => StoreUnavailableReason | null;
  /** Loads the estate file again and swaps it in; null when this Pulse cannot reload (tests). */
  reload: (() => Promise<{ ok: true; practices: number; checks: number } | { ok: false; error: string }>) | null;
}

export function opsRoutes(ctx: ApiContext, deps: OpsDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      summary: 'The process is alive',
      tags: ['operations'],
      middleware: [ctx.guard('public')] as const,
      responses: { 200: json(z.object({ status: z.literal('ok') }), 'Alive') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Ready to serve: store open, probe workers connected, data fresh (503 with the reasons otherwise)',
      tags: ['operations'],
      middleware: [ctx.guard('public')] as const,
      responses: {
        200: json(
          z.object({
            ready: z.literal(true),
            reasons: z.array(z.string()),
            impaired: z.string().nullable().openapi({ description: "Why Pulse's own view is impaired (its self-incident is open), or null" }),
          }),
          'Ready',
        ),
        503: json(z.object({ ready: z.literal(false), reasons: z.array(z.string()), impaired: z.string().nullable() }), 'Not ready, and why'),
      },
    }),
    async (c) => {
      const r = await deps.readiness();
      const problem = deps.storeProblem?.() ?? null;
      // A store that cannot take writes is not ready: history and sign-in would fail (503 STORE_UNAVAILABLE).
      if (problem !== null) r.reasons.unshift(`${reasonText(problem)}: the store cannot take writes (status is kept in memory)`);
      if (problem !== null) r.ready = false;
      return r.ready
        ? c.json({ ready: true as const, reasons: r.reasons, impaired: r.impaired }, 200)
        : c.json({ ready: false as const, reasons: r.reasons, impaired: r.impaired }, 503);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/admin/reload',
      summary: 'Load the estate file again without a restart; a bad file is refused and the running estate carries on',
      tags: ['operations'],
      middleware: [ctx.guard('config.reload')] as const,
      responses: {
        200: json(z.object({ reloaded: z.literal(true), practices: z.number().int(), checks: z.number().int() }), 'Reloaded'),
        409: json(ErrorBody, 'This Pulse cannot reload'),
        422: json(ErrorBody, 'The new file is invalid; nothing changed'),
      },
    }),
    async (c) => {
      if (!deps.reload) return c.json(errorBody('CANNOT_RELOAD', 'this Pulse was not started from an estate file it can reload'), 409);
      const result = await deps.reload();
      await ctx.accounts.appendAudit({
        at: ctx.now(),
        actor: ctx.actor(c),
        action: result.ok ? 'config.reload' : 'config.reload.refused',
        subject: null,
        detail: result.ok ? { practices: result.practices, checks: result.checks } : { error: result.error },
      });
      if (!result.ok) return c.json(errorBody('CONFIG_INVALID', result.error), 422);
      return c.json({ reloaded: true as const, practices: result.practices, checks: result.checks }, 200);
    },
  );
  return app;
}
