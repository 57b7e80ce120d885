// Maintenance windows: planned work on a service or practice, shown as `maintenance` and
// raising no incident; they start and end by themselves.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { MaintenanceWindow as Window } from '../config/estate';
import type { AppEnv } from '../auth/middleware';
import { errorBody, type ApiContext } from './context';
import { CancelBody, ErrorBody, IdParam, MaintenanceBody, MaintenanceWindow, errors, json } from './schemas';

const iso = (ms: number) => new Date(ms).toISOString();

export function maintenanceRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  const view = (w: Window & { source: 'config' | 'api'; active: boolean }) => ({ ...w, start: iso(w.start), end: iso(w.end) });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/maintenance',
      summary: 'Maintenance windows in force or planned',
      tags: ['maintenance'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ windows: z.array(MaintenanceWindow) }), 'Windows not yet over') },
    }),
    (c) => {
      const sees = ctx.sees(c);
      const mine = ctx.maintenance.list(ctx.now()).filter((w) => !w.subject.startsWith('practice:') || sees(w.subject.slice('practice:'.length)));
      return c.json({ windows: mine.map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/maintenance',
      summary: 'Plan a maintenance window',
      tags: ['maintenance'],
      middleware: [ctx.guard('maintenance.write')] as const,
      request: { body: { content: { 'application/json': { schema: MaintenanceBody } }, required: true } },
      responses: { 201: json(MaintenanceWindow, 'The window'), 400: errors[400] },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const now = ctx.now();
      if (body.subject.startsWith('practice:') && !ctx.sees(c)(body.subject.slice('practice:'.length))) {
        return c.json(errorBody('BAD_REQUEST', `subject: ${body.subject} is not one of your practices`), 400);
      }
      const added = await ctx.maintenance.add({ ...body, start: Date.parse(body.start), end: Date.parse(body.end) }, now);
      if ('error' in added) return c.json(errorBody('BAD_REQUEST', added.error), 400);
      ctx.log('info', 'maintenance window planned', { id: added.window.id, subject: added.window.subject, author: body.author });
      await ctx.accounts.appendAudit({
        at: now,
        actor: ctx.actor(c),
        action: 'maintenance.plan',
        subject: added.window.subject,
        detail: { id: added.window.id, start: body.start, end: body.end, author: body.author, reason: body.reason },
      });
      ctx.poke();
      const w = added.window;
      return c.json(view({ ...w, source: 'api', active: w.start <= now && now < w.end }), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/maintenance/{id}/cancel',
      summary: 'End a window now, or cancel it before it starts',
      tags: ['maintenance'],
      middleware: [ctx.guard('maintenance.write')] as const,
      request: { params: IdParam, body: { content: { 'application/json': { schema: CancelBody } }, required: true } },
      responses: {
        200: json(z.object({ cancelled: z.literal(true) }), 'Cancelled'),
        404: errors[404],
        403: json(ErrorBody, 'The window is on a practice outside the caller’s scope'),
        409: json(ErrorBody, 'The window comes from the estate file: change it there'),
        400: errors[400],
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { by } = c.req.valid('json');
      // Scoped exactly as planning is: a practice's window only by those who see the practice.
      const window = ctx.maintenance.list(ctx.now()).find((w) => w.id === id);
      if (window?.subject.startsWith('practice:') && !ctx.sees(c)(window.subject.slice('practice:'.length))) {
        return c.json(errorBody('FORBIDDEN', `window ${id} is on ${window.subject}, which is not one of your practices`), 403);
      }
      const result = await ctx.maintenance.cancel(id, by, ctx.now());
      if (result === 'not-found') return c.json(errorBody('NOT_FOUND', `no open maintenance window ${id}`), 404);
      if (result === 'from-config') {
        return c.json(errorBody('FROM_CONFIG', `window ${id} is planned in the estate file (${ctx.estate.source}); change it there`), 409);
      }
      ctx.log('info', 'maintenance window cancelled', { id, by });
      await ctx.accounts.appendAudit({
        at: ctx.now(),
        actor: ctx.actor(c),
        action: 'maintenance.cancel',
        subject: window?.subject ?? null,
        detail: { id, by },
      });
      ctx.poke();
      return c.json({ cancelled: true as const }, 200);
    },
  );
  return app;
}
