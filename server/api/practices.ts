// Practices: the list (filtered, paginated), one practice in full, and people's reports.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { causeChainText } from '../status/types';
import { checkView } from './checks';
import { availabilityOf } from './history';
import type { AppEnv } from '../auth/middleware';
import { practiceCounts } from '../views';
import { errorBody, type ApiContext } from './context';
import {
  CheckView,
  Availability,
  Counts,
  Dependency,
  MaintenanceWindow,
  OdsParam,
  Practice,
  PracticeQuery,
  Report,
  ReportBody,
  Transition,
  errors,
  json,
} from './schemas';

const PracticeDetail = Practice.extend({
  causeChain: z.string().openapi({ example: 'down ← upstream: emis-web ← check emis-web-api: status 503, expected 200' }),
  dependsOn: z.array(Dependency),
  checks: z.array(CheckView),
  report: Report.nullable(),
  maintenance: MaintenanceWindow.nullable(),
  history: z.array(Transition),
  availability: z.array(Availability),
  /** Its workstations now, when it has a fleet: counted by the same rule as its fleet check. */
  fleet: z
    .object({
      status: z.enum(['up', 'degraded', 'down', 'unknown']),
      agents: z.number(),
      silent: z.number(),
      expected: z.number().nullable(),
      detail: z.string(),
    })
    .nullable(),
}).openapi('PracticeDetail');

export function practiceRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/practices',
      summary: 'Practices, worst first is the client’s choice; filtered and paginated',
      tags: ['practices'],
      middleware: [ctx.guard('read')] as const,
      request: { query: PracticeQuery },
      responses: {
        200: json(
          z.object({ practices: z.array(Practice), total: z.number().int(), limit: z.number().int(), offset: z.number().int(), counts: Counts }),
          'The matching practices (`total` before pagination) and the estate-wide counts',
        ),
        400: errors[400],
      },
    }),
    (c) => {
      const q = c.req.valid('query');
      const statuses = q.status ? new Set(q.status.split(',').map((s) => s.trim())) : null;
      const needle = q.q?.toLowerCase();
      const sees = ctx.sees(c);
      const visible = [...ctx.views.practices.values()].filter((p) => sees(p.ods));
      const matching = visible.filter(
        (p) =>
          (!statuses || statuses.has(p.status)) &&
          (!q.system || p.system === q.system) &&
          (!q.pcn || p.pcn === q.pcn) &&
          (!q.mode || p.mode === q.mode) &&
          (!needle || p.ods.toLowerCase().includes(needle) || p.name.toLowerCase().includes(needle)),
      );
      return c.json(
        {
          practices: matching.slice(q.offset, q.offset + q.limit),
          total: matching.length,
          limit: q.limit,
          offset: q.offset,
          counts: practiceCounts(visible),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/practices/{ods}',
      summary: 'One practice: status, cause chain, checks, dependencies, report, maintenance, history',
      tags: ['practices'],
      middleware: [ctx.guard('practice.read', (c) => ({ ods: c.req.param('ods') }))] as const,
      request: { params: OdsParam },
      responses: { 200: json(PracticeDetail, 'The practice'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { ods } = c.req.valid('param');
      const practice = ctx.estate.practices.get(ods);
      if (!practice) return c.json(errorBody('NOT_FOUND', `no practice with ODS code ${ods}`), 404);
      const now = ctx.now();
      const status = ctx.engine.status(`practice:${ods}`)!;
      const report = ctx.engine.report(ods);
      const window = ctx.engine.maintenanceOf(`practice:${ods}`);
      const history = await ctx.store.transitionsOf(`practice:${ods}`, 50);
      return c.json(
        {
          ...ctx.views.practices.get(ods)!,
          causeChain: causeChainText(status.status, status.cause),
          dependsOn: practice.dependsOn,
          checks: practice.checks.map((id) => checkView(ctx, id, now)),
          report: report ? { ...report, at: new Date(report.at).toISOString() } : null,
          maintenance: window
            ? {
                ...window,
                start: new Date(window.start).toISOString(),
                end: new Date(window.end).toISOString(),
                source: ctx.estate.maintenance.includes(window) ? ('config' as const) : ('api' as const),
                active: true,
              }
            : null,
          history: history.map((t) => ({ from: t.from, to: t.to, at: new Date(t.at).toISOString(), cause: t.cause })),
          availability: await availabilityOf(ctx, `practice:${ods}`),
          fleet: ctx.fleet?.has(ods)
            ? (({ status: s, agents, silent, expected, detail }) => ({ status: s, agents, silent, expected, detail }))(ctx.fleet.evaluate(ods, now))
            : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/practices/{ods}/reports',
      summary: '“We’re down” / “we’re back”: a person’s report, rolled up like a check',
      description:
        'A practice can be down before any probe sees it. `down` or `degraded` records the report (who, when, note) and the practice takes that status at the next tick; `up` clears it and the probes decide again.',
      tags: ['practices'],
      middleware: [ctx.guard('practice.report', (c) => ({ ods: c.req.param('ods') }))] as const,
      request: { params: OdsParam, body: { content: { 'application/json': { schema: ReportBody } }, required: true } },
      responses: { 200: json(z.object({ report: Report.nullable() }), 'The report now in force (null after “we’re back”)'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { ods } = c.req.valid('param');
      if (!ctx.estate.practices.has(ods)) return c.json(errorBody('NOT_FOUND', `no practice with ODS code ${ods}`), 404);
      const body = c.req.valid('json');
      // Who reported is the signed-in person; `by` is kept as the name they gave (e.g. on behalf of).
      const by = `${body.by} (${ctx.actor(c)})`;
      const report = body.state === 'up' ? null : { state: body.state, by, note: body.note, at: ctx.now() };
      // Recorded before it takes effect: a restart never loses a person's word.
      await ctx.store.signals.saveReport(ods, report);
      ctx.engine.setReport(ods, report);
      ctx.log('info', body.state === 'up' ? 'practice reported back' : 'practice reported down', { ods, by, state: body.state });
      await ctx.accounts.appendAudit({
        at: ctx.now(),
        actor: ctx.actor(c),
        action: body.state === 'up' ? 'practice.report.back' : 'practice.report.down',
        subject: `practice:${ods}`,
        detail: { state: body.state, by: body.by, note: body.note },
      });
      ctx.poke();
      return c.json({ report: report ? { ...report, at: new Date(report.at).toISOString() } : null }, 200);
    },
  );

  return app;
}
