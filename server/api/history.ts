// History reads for the API: availability over 24 h / 7 d / 30 d from stored transitions,
// and a check's per-minute summaries with its most recent raw results.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { AVAILABILITY_WINDOWS, availabilityWindows, type AvailabilityWindow } from '../history/availability';
import type { SubjectKey } from '../status/engine';
import type { AppEnv } from '../auth/middleware';
import { errorBody, type ApiContext } from './context';
import { Availability, IdParam, errors, json } from './schemas';

const DAY = 86_400_000;

export async function availabilityOf(ctx: ApiContext, key: SubjectKey): Promise<z.infer<typeof Availability>[]> {
  const now = ctx.now();
  const timeline = await ctx.store.history.statusTimeline(key, now - 30 * DAY, now);
  const windows = availabilityWindows(timeline, now);
  return (Object.keys(AVAILABILITY_WINDOWS) as AvailabilityWindow[]).map((window) => ({
    window,
    availability: windows[window].availability,
    msByStatus: windows[window].time,
  }));
}

const Minute = z
  .object({
    minute: z.string(),
    count: z.number().int(),
    failures: z.number().int(),
    latencyMeanMs: z.number().nullable(),
    latencyMaxMs: z.number().nullable(),
  })
  .openapi('MinuteSummary');

const RecentResult = z
  .object({ at: z.string(), location: z.string(), ok: z.boolean(), latencyMs: z.number(), error: z.string().optional(), detail: z.string().optional() })
  .openapi('RecentResult');

export function historyRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/checks/{id}/history',
      summary: 'A check’s per-minute summaries (count, failures, latency) and its latest raw results',
      tags: ['checks'],
      middleware: [
        ctx.guard('practice.read', (c) => {
          const subject = ctx.estate.checks.get(c.req.param('id') ?? '')?.subject;
          return subject?.type === 'practice' ? { ods: subject.id } : {};
        }),
      ] as const,
      request: {
        params: IdParam,
        query: z.object({
          hours: z.coerce.number().int().min(1).max(24 * 30).default(24).openapi({ description: 'How far back, in hours (default 24).' }),
        }),
      },
      responses: {
        200: json(z.object({ id: z.string(), minutes: z.array(Minute), recent: z.array(RecentResult) }), 'History'),
        400: errors[400],
        404: errors[404],
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const check = ctx.estate.checks.get(id);
      if (!check || (check.subject.type === 'practice' && !ctx.sees(c)(check.subject.id))) {
        return c.json(errorBody('NOT_FOUND', `no check "${id}"`), 404);
      }
      const { hours } = c.req.valid('query');
      const now = ctx.now();
      const rows = await ctx.store.history.minutes(id, now - hours * 3_600_000, now);
      return c.json(
        {
          id,
          minutes: rows.map((r) => ({
            minute: new Date(r.minute).toISOString(),
            count: r.count,
            failures: r.failures,
            latencyMeanMs: r.latency?.meanMs ?? null,
            latencyMaxMs: r.latency?.maxMs ?? null,
          })),
          recent: ctx.history.recent.recent(id).map((r) => ({
            at: new Date(r.at).toISOString(),
            location: r.location,
            ok: r.ok,
            latencyMs: r.latencyMs,
            ...(r.ok ? {} : { error: r.error }),
            ...(r.detail !== undefined ? { detail: r.detail } : {}),
          })),
        },
        200,
      );
    },
  );
  return app;
}
