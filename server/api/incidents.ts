// Incidents by root cause: open and recent, one with its timeline, and what people add to
// them (notes, IT service desk and supplier references). Recorded before they are answered.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Incident } from '../incidents';
import { INCIDENT_KINDS, REFERENCE_SYSTEMS, TIMELINE_TYPES } from '../incidents';
import type { Context } from 'hono';
import type { AppEnv } from '../auth/middleware';
import { scopeOf } from '../auth/permissions';
import { errorBody, type ApiContext } from './context';
import { ErrorBody, errors, json } from './schemas';

const IncidentParam = z.object({
  id: z.coerce.number().int().min(1).openapi({ param: { name: 'id', in: 'path' }, example: 12 }),
});

const TimelineEntry = z
  .object({
    at: z.string(),
    type: z.enum(TIMELINE_TYPES).openapi({ description: "`finding`: what Pulse found changed (the text is the new finding)" }),
    text: z.string(),
    by: z.string().optional(),
  })
  .openapi('TimelineEntry');

const IncidentSummary = z
  .object({
    id: z.number().int(),
    key: z.string().openapi({ example: 'service:emis-web' }),
    kind: z.enum(INCIDENT_KINDS).openapi({
      description:
        'service: a shared service (root cause); practice: one failing on its own; pcn: a suspected common cause in one PCN; endpoints: practices failing on their own checks together across the estate; pulse: Pulse\'s own monitoring impaired (no practices)',
    }),
    title: z.string().openapi({ example: 'EMIS Web down — 42 practices' }),
    finding: z
      .string()
      .nullable()
      .openapi({
        description: "What Pulse found beyond the title, or null: for practices failing together the software over-represented among their silent workstations; for Pulse's own incident what impairs it",
        example: '94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)',
      }),
    status: z.enum(['open', 'resolved']),
    severity: z.enum(['down', 'degraded']),
    openedAt: z.string(),
    resolvedAt: z.string().nullable(),
    affected: z.array(z.string()).openapi({ description: 'ODS codes of the practices in it' }),
    peakAffected: z.number().int(),
  })
  .openapi('IncidentSummary');

const IncidentDetail = IncidentSummary.extend({
  subjects: z.array(z.string()),
  timeline: z.array(TimelineEntry),
  references: z.array(z.object({ system: z.enum(REFERENCE_SYSTEMS), reference: z.string(), by: z.string(), at: z.string() })),
}).openapi('Incident');

const iso = (ms: number) => new Date(ms).toISOString();
export function incidentSummary(i: Incident): z.infer<typeof IncidentSummary> {
  return {
    id: i.id,
    key: i.key,
    kind: i.kind,
    title: i.title,
    finding: i.finding,
    status: i.status,
    severity: i.severity,
    openedAt: iso(i.openedAt),
    resolvedAt: i.resolvedAt === null ? null : iso(i.resolvedAt),
    affected: i.affected,
    peakAffected: i.peakAffected,
  };
}
function detail(i: Incident): z.infer<typeof IncidentDetail> {
  return {
    ...incidentSummary(i),
    subjects: i.subjects,
    timeline: i.timeline.map((e) => ({ at: iso(e.at), type: e.type, text: e.text, ...(e.by ? { by: e.by } : {}) })),
    references: i.references.map((r) => ({ ...r, at: iso(r.at) })),
  };
}

const person = z.string().max(200);

/** Who is asking, for scoping: what they see, their ICBs (own and their practices'), and the ICBs they see whole. */
interface Caller {
  all: boolean;
  sees: (ods: string) => boolean;
  icbs: ReadonlySet<string>;
  wholeIcbs: ReadonlySet<string>;
}

function callerOf(ctx: ApiContext, c: Context<AppEnv>): Caller {
  const principal = c.get('principal') as AppEnv['Variables']['principal'] | undefined;
  const sees = ctx.sees(c);
  // No principal: a route test's bare context, which narrows by `sees` alone.
  if (!principal || scopeOf(principal, ctx.estate) === 'all') return { all: true, sees, icbs: new Set(), wholeIcbs: new Set() };
  const icbs = new Set<string>();
  const own = principal.kind === 'user' ? principal.user.icb : principal.kind === 'display' ? principal.token.icb : null;
  if (own !== null) icbs.add(own);
  const partly = new Set<string>();
  for (const p of ctx.estate.practices.values()) {
    if (p.icb === null) continue;
    if (sees(p.ods)) icbs.add(p.icb);
    else partly.add(p.icb);
  }
  const wholeIcbs = new Set([...icbs].filter((icb) => !partly.has(icb) && [...ctx.estate.practices.values()].some((p) => p.icb === icb)));
  return { all: false, sees, icbs, wholeIcbs };
}

/**
 * An incident as one caller may see it: its practices narrowed to theirs, its peak counted
 * over theirs, and only the notes and references written by their ICB's people or national
 * ones. An incident about practices they cannot see at all is not theirs to see; service
 * incidents and Pulse's own (it has no practices) are everyone's.
 */
function scoped(incident: Incident, caller: Caller, estate: ApiContext['estate']): Incident[] {
  const { sees } = caller;
  if (incident.affected.every(sees) && caller.all) return [incident];
  const affected = incident.affected.filter(sees);
  if (incident.kind !== 'service' && incident.affected.length > 0 && affected.length === 0) return [];
  const narrowed = affected.length < incident.affected.length;
  const title = incident.kind === 'service' || !narrowed ? incident.title : `${incident.title.split(' — ')[0]} — ${affected.length} of your practices`;
  const subjects = incident.subjects.filter((s) => !s.startsWith('practice:') || sees(s.slice(9)));
  if (caller.all) return [{ ...incident, affected, subjects, title }];
  // Each ICB the caller sees whole counts its own peak; elsewhere only what is affected now is theirs to count.
  let peak = 0;
  const counted = new Set<string>();
  for (const icb of caller.wholeIcbs) {
    const stored = incident.peakByIcb?.[icb];
    if (stored !== undefined) {
      peak += stored;
      counted.add(icb);
    }
  }
  peak += affected.filter((ods) => !counted.has(estate.practices.get(ods)?.icb ?? '')).length;
  const peakAffected = Math.min(incident.peakAffected, Math.max(peak, affected.length));
  const theirs = (e: { icb?: string | null }) => e.icb === null || (e.icb !== undefined && caller.icbs.has(e.icb));
  return [
    {
      ...incident,
      affected,
      peakAffected,
      subjects,
      title,
      timeline: incident.timeline.filter((e) => (e.type !== 'note' && e.type !== 'reference') || theirs(e)),
      references: incident.references.filter(theirs),
    },
  ];
}

export function incidentRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/incidents',
      summary: 'Open incidents, or recent ones (open and resolved, newest first)',
      tags: ['incidents'],
      middleware: [ctx.guard('read')] as const,
      request: {
        query: z.object({
          status: z.enum(['open', 'recent']).default('open'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: { 200: json(z.object({ incidents: z.array(IncidentSummary) }), 'Incidents'), 400: errors[400] },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const list =
        q.status === 'open'
          ? ctx.incidents.open().sort((a, b) => b.openedAt - a.openedAt).slice(q.offset, q.offset + q.limit)
          : await ctx.store.incidents.recentIncidents(q.limit, q.offset);
      const caller = callerOf(ctx, c);
      return c.json({ incidents: list.flatMap((i) => scoped(i, caller, ctx.estate)).map(incidentSummary) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/incidents/{id}',
      summary: 'One incident with its timeline, affected practices and references',
      tags: ['incidents'],
      middleware: [ctx.guard('read')] as const,
      request: { params: IncidentParam },
      responses: { 200: json(IncidentDetail, 'The incident'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const found = ctx.incidents.get(id) ?? (await ctx.store.incidents.incident(id));
      const [incident] = found ? scoped(found, callerOf(ctx, c), ctx.estate) : [];
      if (!incident) return c.json(errorBody('NOT_FOUND', `no incident #${id}`), 404);
      return c.json(detail(incident), 200);
    },
  );

  const annotate = (kind: 'notes' | 'references') =>
    createRoute({
      method: 'post',
      path: `/api/incidents/{id}/${kind}`,
      summary: kind === 'notes' ? 'Add a note (also after the incident is resolved)' : 'Record an IT service desk or supplier incident number',
      tags: ['incidents'],
      middleware: [
        ctx.guard('incident.annotate', async (c) => {
          const id = Number(c.req.param('id'));
          const incident = ctx.incidents.get(id) ?? (Number.isInteger(id) ? await ctx.store.incidents.incident(id) : null);
          return { practices: incident?.affected ?? [] };
        }),
      ] as const,
      request: {
        params: IncidentParam,
        body: {
          content: {
            'application/json': {
              schema:
                kind === 'notes'
                  ? z.object({ by: person, text: z.string().max(2_000) }).strict()
                  : z.object({ system: z.enum(REFERENCE_SYSTEMS), reference: z.string().max(100), by: person }).strict(),
            },
          },
          required: true,
        },
      },
      responses: {
        200: json(IncidentDetail, 'The incident, with the addition'),
        400: errors[400],
        404: errors[404],
        409: json(ErrorBody, 'The incident is resolved (references go on open incidents only)'),
      },
    });

  for (const kind of ['notes', 'references'] as const) {
    app.openapi(annotate(kind), async (c) => {
      const { id } = c.req.valid('param');
      const given = c.req.valid('json') as { by: string; text: string } & { system: (typeof REFERENCE_SYSTEMS)[number]; reference: string };
      const body = { ...given, by: `${given.by} (${ctx.actor(c)})` };
      // Whose it is: an ICB's people's notes are shown to that ICB (and nationally), not to other ICBs.
      const principal = c.get('principal');
      const icb = principal.kind === 'user' ? principal.user.icb : principal.kind === 'display' ? principal.token.icb : null;
      const result = kind === 'notes' ? ctx.incidents.addNote(id, body, ctx.now(), icb) : ctx.incidents.addReference(id, body, ctx.now(), icb);
      if (!result.ok) {
        const status = result.error.code === 'INCIDENT_NOT_FOUND' ? 404 : result.error.code === 'INCIDENT_RESOLVED' ? 409 : 400;
        const where = 'field' in result.error && result.error.field ? `${result.error.field}: ` : '';
        return c.json(errorBody(result.error.code, `${where}${result.error.message}`), status);
      }
      // Recorded before the answer: a note acknowledged is a note kept.
      await ctx.store.incidents.applyIncidentEvents(result.events);
      ctx.log('info', kind === 'notes' ? 'incident note added' : 'incident reference added', { id, by: body.by });
      const [shown] = scoped(result.incident, callerOf(ctx, c), ctx.estate);
      return c.json(detail(shown ?? result.incident), 200);
    });
  }
  return app;
}
