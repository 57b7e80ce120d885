// Incidents by root cause: open and recent, one with its timeline, and what people add to
// them (notes, IT service desk and supplier references). Recorded before they are answered.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Incident } from '../incidents';
import { INCIDENT_KINDS, REFERENCE_SYSTEMS, TIMELINE_TYPES } from '../incidents';
import type { AppEnv } from '../auth/middleware';
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

/**
 * An incident as one caller may see it: its practices narrowed to theirs. An incident about
 * practices they cannot see at all is not theirs to see; service incidents and Pulse's own
 * (it has no practices) are everyone's.
 */
function scoped(incident: Incident, sees: (ods: string) => boolean): Incident[] {
  if (incident.affected.every(sees)) return [incident];
  const affected = incident.affected.filter(sees);
  if (incident.kind !== 'service' && affected.length === 0) return [];
  return [{ ...incident, affected, subjects: incident.subjects.filter((s) => !s.startsWith('practice:') || sees(s.slice(9))), title: incident.kind === 'service' ? incident.title : `${incident.title.split(' — ')[0]} — ${affected.length} of your practices` }];
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
      const sees = ctx.sees(c);
      return c.json({ incidents: list.flatMap((i) => scoped(i, sees)).map(incidentSummary) }, 200);
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
      const [incident] = found ? scoped(found, ctx.sees(c)) : [];
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
      const result = kind === 'notes' ? ctx.incidents.addNote(id, body, ctx.now()) : ctx.incidents.addReference(id, body, ctx.now());
      if (!result.ok) {
        const status = result.error.code === 'INCIDENT_NOT_FOUND' ? 404 : result.error.code === 'INCIDENT_RESOLVED' ? 409 : 400;
        const where = 'field' in result.error && result.error.field ? `${result.error.field}: ` : '';
        return c.json(errorBody(result.error.code, `${where}${result.error.message}`), status);
      }
      // Recorded before the answer: a note acknowledged is a note kept.
      await ctx.store.incidents.applyIncidentEvents(result.events);
      ctx.log('info', kind === 'notes' ? 'incident note added' : 'incident reference added', { id, by: body.by });
      return c.json(detail(result.incident), 200);
    });
  }
  return app;
}
