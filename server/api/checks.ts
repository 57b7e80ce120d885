// Checks: every check with its merged status across probe locations, and each location's view.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv } from '../auth/middleware';
import type { ApiContext } from './context';
import { CheckView, json } from './schemas';

export function checkView(ctx: ApiContext, id: string, now: number): z.infer<typeof CheckView> {
  const check = ctx.estate.checks.get(id)!;
  const s = ctx.engine.checkStatus(id, now)!;
  return {
    id,
    kind: check.kind,
    intervalMs: check.intervalMs,
    status: s.status,
    detail: s.detail,
    lastResultAt: s.lastAt === null ? null : new Date(s.lastAt).toISOString(),
    locations: s.locations,
  };
}

const CheckWithSubject = CheckView.extend({
  subject: z.object({ type: z.enum(['service', 'practice']), id: z.string() }),
}).openapi('CheckWithSubject');

export function checkRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/checks',
      summary: 'Every check, with its status merged across probe locations',
      tags: ['checks'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ checks: z.array(CheckWithSubject) }), 'Every check the caller may see') },
    }),
    (c) => {
      const now = ctx.now();
      const sees = ctx.sees(c);
      const visible = [...ctx.estate.checks.values()].filter((check) => check.subject.type === 'service' || sees(check.subject.id));
      return c.json({ checks: visible.map((check) => ({ ...checkView(ctx, check.id, now), subject: check.subject })) }, 200);
    },
  );
  return app;
}
