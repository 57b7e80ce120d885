// Backup mode over HTTP: switch one practice or every practice of an incident, follow each
// action, tick the checklist, keep readiness, the re-entry backlog and the ICB's cost log.
// The decisions are the backup service's; these routes check who may ask, shape the
// answers and say clearly what was wrong with a request. docs/backup.md is the reference.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../auth/middleware';
import { BackupRequestError, type SwitchResult } from '../backup/service';
import { REASON_CODES } from '../backup/types';
import { REASON_MAX_CHARS } from '../backup/machine';
import { errorBody, type ApiContext } from './context';
import { ErrorBody, OdsParam, errors, json } from './schemas';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const ModeEnum = z.enum(['normal', 'entering', 'backup', 'leaving']);

const SwitchBody = z
  .object({
    reasonCode: z.enum(REASON_CODES).openapi({ example: 'clinical-system-down' }),
    reason: z
      .string()
      .trim()
      .min(1, `give a reason (1–${REASON_MAX_CHARS} characters)`)
      .max(REASON_MAX_CHARS, `at most ${REASON_MAX_CHARS} characters`)
      .openapi({ example: 'EMIS Web down since 07:40; practice on paper' }),
    incidentId: z.number().int().positive().optional(),
  })
  .strict()
  .openapi('BackupSwitch');

const ActionView = z.object({
  key: z.string(),
  kind: z.string(),
  name: z.string(),
  direction: z.enum(['enter', 'leave']),
  state: z.enum(['pending', 'retrying', 'done', 'failed']),
  attempts: z.number(),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  updatedAt: z.string(),
});

const TransitionView = z.object({
  at: z.string(),
  from: ModeEnum,
  to: ModeEnum,
  by: z.string(),
  automatic: z.boolean(),
  reasonCode: z.string(),
  reason: z.string(),
  evidence: z.object({ status: z.string(), cause: z.string().nullable() }),
  runId: z.string(),
  bulkId: z.string().nullable(),
});

const BacklogView = z.object({
  urgentReferrals: z.number(),
  prescriptions: z.number(),
  consultations: z.number(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});

const BackupDetail = z
  .object({
    ods: z.string(),
    name: z.string(),
    mode: ModeEnum,
    since: z.string().nullable(),
    runId: z.string().nullable(),
    enteredBy: z.string().nullable(),
    reasonCode: z.string().nullable(),
    reason: z.string().nullable(),
    plan: z.string().nullable(),
    policy: z.object({ autoEnterAfterMs: z.number().nullable(), suggestLeaveAfterMs: z.number().nullable() }),
    suggestion: z.object({ suggestLeave: z.boolean(), healthyForMs: z.number() }),
    actions: z.array(ActionView),
    checklist: z.array(
      z.object({ id: z.string(), text: z.string(), direction: z.enum(['enter', 'leave']), done: z.boolean(), by: z.string().nullable(), at: z.string().nullable() }),
    ),
    readiness: z.array(
      z.object({ id: z.string(), text: z.string(), done: z.boolean(), checkedAt: z.string().nullable(), by: z.string().nullable(), overdue: z.boolean() }),
    ),
    backlog: BacklogView.nullable(),
    costs: z.array(
      z.object({ id: z.number(), at: z.string(), by: z.string(), description: z.string(), amountPence: z.number(), incidentId: z.number().nullable() }),
    ),
    transitions: z.array(TransitionView),
  })
  .openapi('BackupDetail');
type BackupDetail = z.infer<typeof BackupDetail>;

const BackupSummary = z.object({
  ods: z.string(),
  name: z.string(),
  mode: ModeEnum,
  since: z.string().nullable(),
  actions: z.object({ pending: z.number(), retrying: z.number(), done: z.number(), failed: z.number() }),
  checklist: z.object({ done: z.number(), total: z.number() }),
  suggestLeave: z.boolean(),
  backlog: z.number(),
});

const BulkQuery = z.object({
  action: z.enum(['enter', 'leave']),
  incidentId: z.coerce.number().int().positive(),
});

const BulkBody = SwitchBody.omit({ incidentId: true })
  .extend({
    action: z.enum(['enter', 'leave']),
    incidentId: z.number().int().positive(),
    expectedCount: z.number().int().min(0).openapi({ description: 'How many practices the person confirmed; refused with 409 COUNT_CHANGED if it is no longer so.' }),
  })
  .strict()
  .openapi('BackupBulk');

const BulkPreview = z.object({
  action: z.enum(['enter', 'leave']),
  incidentId: z.number(),
  count: z.number(),
  practices: z.array(z.string()),
  skipped: z.array(z.object({ ods: z.string(), reason: z.string() })),
});

const SwitchResultSchema = z.object({
  bulkId: z.string().nullable(),
  action: z.enum(['enter', 'leave']),
  switched: z.array(z.string()),
  skipped: z.array(z.object({ ods: z.string(), code: z.string(), message: z.string() })),
});

const ItemParam = OdsParam.extend({
  itemId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'expected a checklist or readiness item id, e.g. paper-templates'),
});

const count = z.number().int('expected a whole number').min(0, 'cannot be negative').max(100_000);
const BacklogBody = z.object({ urgentReferrals: count, prescriptions: count, consultations: count }).strict().openapi('BackupBacklog');
const CostBody = z
  .object({
    description: z.string().trim().min(1, 'describe the cost').max(300),
    amountPence: z.number().int('expected whole pence').min(0).max(100_000_000),
    incidentId: z.number().int().positive().nullable().default(null),
  })
  .strict()
  .openapi('BackupCost');

const conflict = json(ErrorBody, 'Not allowed in the practice’s current backup state; the message says why.');
const forbidden = json(ErrorBody, 'Not in your scope.');
const unavailable = json(ErrorBody, 'Pulse is reloading its configuration (or shutting down); nothing was switched, try again.');

/** A switch, or the 503 answer when the service was closed by a reload in the meantime. */
async function switching(run: () => Promise<SwitchResult>): Promise<SwitchResult | BackupRequestError> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof BackupRequestError && err.code === 'UNAVAILABLE') return err;
    throw err;
  }
}

export function backupRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  const { backup } = ctx;
  const target = (c: Context<AppEnv>) => ({ ods: c.req.param('ods') });

  async function detail(ods: string): Promise<BackupDetail> {
    const practice = ctx.estate.practices.get(ods)!;
    const state = backup.get(ods);
    const plan = backup.planOf(ods);
    const [transitions, run, readiness, backlog, costs, actions] = await Promise.all([
      ctx.store.backup.transitionsOf(ods, 20),
      backup.currentRun(ods),
      ctx.store.backup.readinessOf(ods),
      ctx.store.backup.backlogOf(ods),
      ctx.store.backup.costsOf(ods),
      ctx.store.backup.outbox.actionsOf(ods),
    ]);
    const ticks = run ? await ctx.store.backup.checklistOf(run.runId) : [];
    // The latest enter run and anything after it (its leave run).
    const firstKept = run?.enterRunId ? actions.findIndex((a) => a.runId === run.enterRunId) : -1;
    const shown = firstKept >= 0 ? actions.slice(firstKept) : run ? actions.filter((a) => a.runId === run.runId) : [];
    const now = ctx.now();
    return {
      ods,
      name: practice.name,
      mode: state.state,
      since: state.since > 0 ? iso(state.since) : null,
      runId: state.runId,
      enteredBy: state.enteredBy,
      reasonCode: state.reasonCode,
      reason: state.reason,
      plan: plan?.id ?? null,
      policy: { autoEnterAfterMs: plan?.autoEnterAfterMs ?? null, suggestLeaveAfterMs: plan?.suggestLeaveAfterMs ?? null },
      suggestion: backup.suggestion(ods),
      actions: shown.map((a) => ({
        key: a.idempotencyKey,
        kind: a.kind,
        name: a.name,
        direction: ((a.payload as { direction?: string }).direction === 'leave' ? 'leave' : 'enter') as 'enter' | 'leave',
        state: a.state,
        attempts: a.attempts,
        lastError: a.lastError,
        nextAttemptAt: iso(a.nextAttemptAt),
        updatedAt: iso(a.updatedAt)!,
      })),
      checklist: run
        ? (plan?.checklist ?? [])
            .filter((item) => item.on.includes(run.direction))
            .map((item) => {
              const tick = ticks.find((t) => t.itemId === item.id);
              return { id: item.id, text: item.text, direction: run.direction, done: tick?.done ?? false, by: tick?.by ?? null, at: iso(tick?.at ?? null) };
            })
        : [],
      readiness: (plan?.readiness ?? []).map((item) => {
        const mark = readiness.find((r) => r.itemId === item.id);
        const done = mark?.done ?? false;
        return {
          id: item.id,
          text: item.text,
          done,
          checkedAt: iso(mark?.at ?? null),
          by: mark?.by ?? null,
          overdue: !done || now - (mark?.at ?? 0) > plan!.readinessMaxAgeMs,
        };
      }),
      backlog: backlog
        ? { urgentReferrals: backlog.urgentReferrals, prescriptions: backlog.prescriptions, consultations: backlog.consultations, updatedAt: iso(backlog.updatedAt)!, updatedBy: backlog.updatedBy }
        : null,
      costs: costs.map((e) => ({ id: e.id, at: iso(e.at)!, by: e.by, description: e.description, amountPence: e.amountPence, incidentId: e.incidentId })),
      transitions: transitions.map((t) => ({ ...t, at: iso(t.at)! })),
    };
  }

  const unknown = (ods: string) => errorBody('NOT_FOUND', `no practice with ODS code ${ods}`);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/backup',
      summary: 'Practices in backup mode (or entering, leaving, or with a re-entry backlog), in your scope',
      tags: ['backup'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ practices: z.array(BackupSummary) }), 'Practices not in normal working') },
    }),
    async (c) => {
      const sees = ctx.sees(c);
      const backlogs = new Map((await ctx.store.backup.backlogs()).map((b) => [b.ods, b]));
      const odsList = new Set([...backup.active().map((p) => p.ods), ...[...backlogs.values()].filter((b) => b.urgentReferrals + b.prescriptions + b.consultations > 0).map((b) => b.ods)]);
      // A few queries for the whole list, not a few per practice: after a mass outage this lists thousands.
      const shown = [...odsList].sort().filter((ods) => sees(ods) && ctx.estate.practices.has(ods));
      const runs = await backup.runsOf(shown);
      const runIds = [...runs.values()].flatMap((r) => (r ? [r.runId] : []));
      const [counts, ticks] = await Promise.all([ctx.store.backup.outbox.countsOfRuns(runIds), ctx.store.backup.checklistOfRuns(runIds)]);
      const doneItems = new Set(ticks.filter((t) => t.done).map((t) => `${t.runId}\n${t.itemId}`));
      const practices = shown.map((ods) => {
        const state = backup.get(ods);
        const run = runs.get(ods) ?? null;
        const items = run ? (backup.planOf(ods)?.checklist ?? []).filter((i) => i.on.includes(run.direction)) : [];
        const b = backlogs.get(ods);
        return {
          ods,
          name: ctx.estate.practices.get(ods)!.name,
          mode: state.state,
          since: state.since > 0 ? iso(state.since) : null,
          actions: (run ? counts.get(run.runId) : undefined) ?? { pending: 0, retrying: 0, done: 0, failed: 0 },
          checklist: { done: items.filter((i) => doneItems.has(`${run!.runId}\n${i.id}`)).length, total: items.length },
          suggestLeave: backup.suggestion(ods).suggestLeave,
          backlog: b ? b.urgentReferrals + b.prescriptions + b.consultations : 0,
        };
      });
      return c.json({ practices }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/practices/{ods}/backup',
      summary: 'One practice’s backup mode: state, actions, checklist, readiness, backlog, costs, history',
      tags: ['backup'],
      middleware: [ctx.guard('practice.read', target)] as const,
      request: { params: OdsParam },
      responses: { 200: json(BackupDetail, 'The practice’s backup mode'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { ods } = c.req.valid('param');
      if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
      return c.json(await detail(ods), 200);
    },
  );

  for (const direction of ['enter', 'leave'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/practices/{ods}/backup/${direction}`,
        summary: direction === 'enter' ? 'Switch a practice into backup mode' : 'Switch a practice back to normal working',
        description:
          'Recorded (who, when, why, the status at that moment) with its outbox actions and an audit entry in one transaction before any action runs. 409 when the practice’s state does not allow it.',
        tags: ['backup'],
        middleware: [ctx.guard('backup.switch', target)] as const,
        request: { params: OdsParam, body: { content: { 'application/json': { schema: SwitchBody } }, required: true } },
        responses: { 200: json(BackupDetail, 'The practice’s backup mode after the switch'), 400: errors[400], 404: errors[404], 409: conflict, 503: unavailable },
      }),
      async (c) => {
        const { ods } = c.req.valid('param');
        if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
        const body = c.req.valid('json');
        const request = { by: ctx.actor(c), reasonCode: body.reasonCode, reason: body.reason, incidentId: body.incidentId ?? null };
        const result = await switching(() => (direction === 'enter' ? backup.enter([ods], request) : backup.leave([ods], request)));
        if (result instanceof BackupRequestError) return c.json(errorBody(result.code, result.message), 503);
        const refused = result.skipped[0];
        if (refused) return c.json(errorBody(refused.code, refused.message), 409);
        return c.json(await detail(ods), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/practices/{ods}/backup/checklist/{itemId}',
      summary: 'Tick (or untick) a continuity checklist item; each tick is recorded',
      tags: ['backup'],
      middleware: [ctx.guard('backup.switch', target)] as const,
      request: { params: ItemParam, body: { content: { 'application/json': { schema: z.object({ done: z.boolean() }).strict() } }, required: true } },
      responses: { 200: json(BackupDetail, 'The practice’s backup mode after the tick'), 400: errors[400], 404: errors[404], 409: conflict },
    }),
    async (c) => {
      const { ods, itemId } = c.req.valid('param');
      if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
      try {
        await backup.tickChecklist(ods, itemId, c.req.valid('json').done, ctx.actor(c));
      } catch (err) {
        if (!(err instanceof BackupRequestError)) throw err;
        return c.json(errorBody(err.code, err.message), err.code === 'NOT_FOUND' ? 404 : 409);
      }
      return c.json(await detail(ods), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/practices/{ods}/backup/readiness/{itemId}',
      summary: 'Confirm (or withdraw) a readiness item, dated now',
      tags: ['backup'],
      middleware: [ctx.guard('backup.switch', target)] as const,
      request: { params: ItemParam, body: { content: { 'application/json': { schema: z.object({ done: z.boolean() }).strict() } }, required: true } },
      responses: { 200: json(BackupDetail, 'The practice’s backup mode after the change'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { ods, itemId } = c.req.valid('param');
      if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
      try {
        await backup.markReadiness(ods, itemId, c.req.valid('json').done, ctx.actor(c));
      } catch (err) {
        if (!(err instanceof BackupRequestError)) throw err;
        return c.json(errorBody(err.code, err.message), 404);
      }
      return c.json(await detail(ods), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/practices/{ods}/backup/backlog',
      summary: 'Set the re-entry backlog still to enter into the clinical system',
      tags: ['backup'],
      middleware: [ctx.guard('backup.switch', target)] as const,
      request: { params: OdsParam, body: { content: { 'application/json': { schema: BacklogBody } }, required: true } },
      responses: { 200: json(BackupDetail, 'The practice’s backup mode after the change'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { ods } = c.req.valid('param');
      if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
      await backup.setBacklog(ods, c.req.valid('json'), ctx.actor(c));
      return c.json(await detail(ods), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/practices/{ods}/backup/costs',
      summary: 'Add an entry to the ICB’s cost log for a practice’s outage',
      tags: ['backup'],
      middleware: [ctx.guard('backup.bulk')] as const,
      request: { params: OdsParam, body: { content: { 'application/json': { schema: CostBody } }, required: true } },
      responses: { 200: json(BackupDetail, 'The practice’s backup mode with the new entry'), 400: errors[400], 403: forbidden, 404: errors[404] },
    }),
    async (c) => {
      const { ods } = c.req.valid('param');
      if (!ctx.sees(c)(ods)) return c.json(errorBody('FORBIDDEN', 'that practice is not in your scope'), 403);
      if (!ctx.estate.practices.has(ods)) return c.json(unknown(ods), 404);
      await backup.addCost(ods, c.req.valid('json'), ctx.actor(c));
      return c.json(await detail(ods), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/backup/costs',
      summary: 'The ICB’s cost log of outages, for the practices in your scope (of one incident, if given)',
      tags: ['backup'],
      middleware: [ctx.guard('backup.bulk')] as const,
      request: { query: z.object({ incidentId: z.coerce.number().int().positive().optional() }) },
      responses: {
        200: json(
          z.object({
            costs: z.array(z.object({ id: z.number(), ods: z.string(), at: z.string(), by: z.string(), description: z.string(), amountPence: z.number(), incidentId: z.number().nullable() })),
            totalPence: z.number(),
          }),
          'Cost entries, oldest first, with their total',
        ),
        400: errors[400],
      },
    }),
    async (c) => {
      const sees = ctx.sees(c);
      const { incidentId } = c.req.valid('query');
      const costs = (await ctx.store.backup.costs(incidentId)).filter((e) => sees(e.ods));
      return c.json(
        { costs: costs.map((e) => ({ ...e, at: iso(e.at)! })), totalPence: costs.reduce((sum, e) => sum + e.amountPence, 0) },
        200,
      );
    },
  );

  /** The practices of an incident in the caller's scope, or null when there is no such incident. */
  function incidentPractices(c: Context<AppEnv>, id: number): string[] | null {
    const incident = ctx.incidents.get(id);
    if (!incident) return null;
    const sees = ctx.sees(c);
    return incident.affected.filter((ods) => sees(ods) && ctx.estate.practices.has(ods));
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/backup/bulk',
      summary: 'What switching every practice of an incident would do now (for the confirmation)',
      tags: ['backup'],
      middleware: [ctx.guard('backup.bulk')] as const,
      request: { query: BulkQuery },
      responses: { 200: json(BulkPreview, 'The practices that would switch, and those that would not'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { action, incidentId } = c.req.valid('query');
      const practices = incidentPractices(c, incidentId);
      if (!practices) return c.json(errorBody('NOT_FOUND', `no open incident ${incidentId}`), 404);
      const preview = backup.preview(action, practices);
      return c.json({ action, incidentId, count: preview.switch.length, practices: preview.switch, skipped: preview.skipped }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/backup/bulk',
      summary: 'Switch every practice of an incident into (or out of) backup mode in one recorded act',
      description: 'One audit entry names every practice. `expectedCount` is the number the person confirmed: if that is no longer what would switch, nothing is switched (409 COUNT_CHANGED).',
      tags: ['backup'],
      middleware: [ctx.guard('backup.bulk')] as const,
      request: { body: { content: { 'application/json': { schema: BulkBody } }, required: true } },
      responses: {
        200: json(SwitchResultSchema, 'The practices switched, and those skipped with the reason'),
        400: errors[400],
        404: errors[404],
        409: json(ErrorBody.extend({ count: z.number(), practices: z.array(z.string()) }), 'The count confirmed is no longer right'),
        503: unavailable,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const practices = incidentPractices(c, body.incidentId);
      if (!practices) return c.json(errorBody('NOT_FOUND', `no open incident ${body.incidentId}`), 404);
      const preview = backup.preview(body.action, practices);
      if (preview.switch.length !== body.expectedCount) {
        return c.json(
          {
            ...errorBody('COUNT_CHANGED', `you confirmed ${body.expectedCount} practices, but ${preview.switch.length} would switch now; confirm again`),
            count: preview.switch.length,
            practices: preview.switch,
          },
          409,
        );
      }
      const request = { by: ctx.actor(c), reasonCode: body.reasonCode, reason: body.reason, incidentId: body.incidentId };
      const result = await switching(() =>
        body.action === 'enter' ? backup.enter(preview.switch, request, { bulk: true }) : backup.leave(preview.switch, request, { bulk: true }),
      );
      if (result instanceof BackupRequestError) return c.json(errorBody(result.code, result.message), 503);
      if (result.switched.length > 0) {
        // The incident's timeline says what was done about it (the audit log has the detail).
        const n = result.switched.length;
        const text = `${n} practice${n === 1 ? '' : 's'} switched ${body.action === 'enter' ? 'into' : 'out of'} backup mode (${body.reasonCode}): ${body.reason}`;
        // Whose the note is (as for notes people add): an ICB's ops' note is shown to that ICB and nationally, a national one to all.
        const principal = c.get('principal');
        const icb = principal.kind === 'user' ? principal.user.icb : principal.kind === 'display' ? principal.token.icb : null;
        const noted = ctx.incidents.addNote(body.incidentId, { by: ctx.actor(c), text: text.slice(0, 2000) }, ctx.now(), icb);
        if (noted.ok) {
          await ctx.store.incidents.applyIncidentEvents(noted.events).catch((err: unknown) =>
            ctx.log('error', 'could not store the incident note of a bulk switch', { incidentId: body.incidentId, error: String(err) }),
          );
        }
      }
      return c.json(result, 200);
    },
  );

  return app;
}
