// The estate's trend for the wall display's chart: counts of practices by status in fixed
// buckets over the last hours (from stored transitions), and the incidents opened in that
// window, both scoped to the practices the caller may see. Reads only; the folding is the
// pure `trendBuckets` (history/trend.ts).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { trendBuckets, type PracticeChange } from '../history/trend';
import { INCIDENT_KINDS, type Incident } from '../incidents/types';
import type { StatusLevel } from '../status/types';
import type { AppEnv } from '../auth/middleware';
import type { ApiContext } from './context';
import { StatusCounts, errors, json } from './schemas';

const MIN = 60_000;
/** Each window with its bucket size: about 300 buckets at most, so the answer stays small. */
export const TREND_WINDOWS = {
  '1h': { ms: 60 * MIN, bucketMs: MIN },
  '6h': { ms: 6 * 60 * MIN, bucketMs: 2 * MIN },
  '24h': { ms: 24 * 60 * MIN, bucketMs: 5 * MIN },
} as const;
export type TrendWindow = keyof typeof TREND_WINDOWS;

/** Most incidents one answer lists (newest kept): the chart marks them, it is not a report. */
const MAX_INCIDENTS = 500;

const BucketCounts = StatusCounts.openapi('TrendCounts');

const TrendIncident = z
  .object({
    id: z.number().int(),
    kind: z.enum(INCIDENT_KINDS),
    title: z.string(),
    severity: z.enum(['down', 'degraded']),
    status: z.enum(['open', 'resolved']),
    openedAt: z.string().openapi({ format: 'date-time' }),
    resolvedAt: z.string().nullable().openapi({ format: 'date-time' }),
    affected: z.number().int().openapi({ description: 'Practices in it that the caller may see' }),
  })
  .openapi('TrendIncident');

const Trend = z
  .object({
    window: z.enum(Object.keys(TREND_WINDOWS) as [TrendWindow, ...TrendWindow[]]),
    from: z.string().openapi({ format: 'date-time' }),
    to: z.string().openapi({ format: 'date-time' }),
    bucketMinutes: z.number().int(),
    practices: z.number().int().openapi({ description: 'Practices counted in every bucket' }),
    buckets: z.array(z.object({ start: z.string().openapi({ format: 'date-time' }), counts: BucketCounts })),
    incidents: z.array(TrendIncident).openapi({ description: 'Incidents opened in the window, oldest first' }),
  })
  .openapi('Trend');

export function trendRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/trend',
      summary: 'Practices by status over the last hours, in buckets, with the incidents opened meanwhile',
      description:
        'Each practice is counted once per bucket, at the worst status it held during that bucket, so a short outage still shows. Built from stored transitions; scoped to the practices the caller may see.',
      tags: ['history'],
      middleware: [ctx.guard('read')] as const,
      request: {
        query: z.object({
          window: z
            .enum(Object.keys(TREND_WINDOWS) as [TrendWindow, ...TrendWindow[]])
            .default('24h')
            .openapi({ description: 'How far back: 1h (1-minute buckets), 6h (2-minute) or 24h (5-minute, the default).' }),
        }),
      },
      responses: { 200: json(Trend, 'The trend'), 400: errors[400] },
    }),
    async (c) => {
      const { window } = c.req.valid('query');
      const { ms, bucketMs } = TREND_WINDOWS[window];
      const to = ctx.now();
      // Aligned to the bucket so a refetch every few minutes gives the same boundaries.
      const from = Math.floor((to - ms) / bucketMs) * bucketMs + bucketMs;
      const sees = ctx.sees(c);

      const current = new Map<string, StatusLevel>();
      for (const p of ctx.views.practices.values()) if (sees(p.ods)) current.set(p.ods, p.status);
      const changes: PracticeChange[] = [];
      for (const t of await ctx.store.transitionsSince('practice', from)) {
        const ods = t.subject.slice('practice:'.length);
        if (current.has(ods)) changes.push({ ods, from: t.from, to: t.to, at: t.at });
      }
      // `to + 1`: the bucket in progress (holding `now`) is the last one, always.
      const buckets = trendBuckets({ from, to: to + 1, bucketMs, current, changes });

      return c.json(
        {
          window,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          bucketMinutes: bucketMs / MIN,
          practices: current.size,
          buckets: buckets.map((b) => ({ start: new Date(b.start).toISOString(), counts: b.counts })),
          incidents: (await incidentsSince(ctx, from)).flatMap((i) => scoped(i, sees)),
        },
        200,
      );
    },
  );
  return app;
}

/** Incidents opened at or after `from`, oldest first: the tracker's open ones and the store's. */
async function incidentsSince(ctx: ApiContext, from: number): Promise<Incident[]> {
  const byId = new Map<number, Incident>();
  const PAGE = 200;
  for (let offset = 0; byId.size < MAX_INCIDENTS; offset += PAGE) {
    const page = await ctx.store.incidents.recentIncidents(PAGE, offset);
    for (const i of page) if (i.openedAt >= from) byId.set(i.id, i);
    // Newest first: once a page reaches back before the window, the rest is older still.
    if (page.length < PAGE || page.at(-1)!.openedAt < from) break;
  }
  // Open ones from memory: current even if the store write of this tick is still on its way.
  for (const i of ctx.incidents.open()) if (i.openedAt >= from) byId.set(i.id, i);
  return [...byId.values()].sort((a, b) => a.openedAt - b.openedAt || a.id - b.id).slice(-MAX_INCIDENTS);
}

/**
 * An incident as this caller may see it: a service incident always (the service is shared),
 * a practice or PCN incident only when it touches one of their practices; `affected` counts
 * only theirs.
 */
function scoped(incident: Incident, sees: (ods: string) => boolean): z.infer<typeof TrendIncident>[] {
  const affected = incident.affected.filter(sees).length;
  // A service's outage and Pulse's own trouble concern everyone; the rest, their practices.
  const everyone = incident.kind === 'service' || incident.kind === 'pulse';
  if (!everyone && affected === 0) return [];
  const partial = affected < incident.affected.length;
  return [
    {
      id: incident.id,
      kind: incident.kind,
      // A title like "PCN X down — 12 practices" would disclose the count beyond their scope.
      title: partial && !everyone ? `${incident.title.split(' — ')[0]} — ${affected} of your practices` : incident.title,
      severity: incident.severity,
      status: incident.status,
      openedAt: new Date(incident.openedAt).toISOString(),
      resolvedAt: incident.resolvedAt === null ? null : new Date(incident.resolvedAt).toISOString(),
      affected,
    },
  ];
}
