// The estate's machinery as the dashboard sees it: the probe workers connected now, each probe
// location's view of its checks, and the sign-in providers offered. Reads only; never changes
// anything, and a location's counts never reach past the caller's scope.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { AppEnv } from '../auth/middleware';
import type { WorkerInfo } from '../workers/gateway';
import type { ApiContext } from './context';
import { json } from './schemas';

export interface EstateOpsDeps {
  workers: () => WorkerInfo[];
  /** Whether sign-in through the NHS identity provider (OIDC) is configured. */
  oidc: () => boolean;
}

const WorkerSelf = z
  .object({
    lagMs: z.number(),
    eventLoopDelayMs: z.number(),
    stalledMs: z.number(),
    canary: z.object({ ok: z.boolean(), latencyMs: z.number(), detail: z.string() }).nullable(),
    timeoutShare: z.number(),
    impaired: z.string().nullable(),
  })
  .openapi('WorkerSelf');

const Worker = z
  .object({
    id: z.number().int(),
    location: z.string(),
    pid: z.number().int(),
    source: z.string().openapi({ description: "The credential it connected with: 'shared', or 'token:<id>'" }),
    checks: z.number().int(),
    lagMs: z.number(),
    self: WorkerSelf.nullable().openapi({ description: "The worker's own view of its health, from its latest stats" }),
    impaired: z.string().nullable().openapi({ description: "Why the server takes its failures as no evidence now; null when it can judge" }),
  })
  .openapi('Worker');

const LocationHealth = z
  .object({
    location: z.string(),
    checks: z.number().int(),
    failing: z.number().int(),
    failingAlone: z.number().int().openapi({ description: 'Failing here while another location sees them up' }),
    isolated: z.boolean().openapi({ description: 'This location alone sees most of its checks failing: its own network is the problem' }),
  })
  .openapi('LocationHealth');

const Providers = z
  .object({ oidc: z.object({ start: z.string() }).nullable().openapi({ description: 'Where to start an OIDC sign-in; null when not configured' }) })
  .openapi('SignInProviders');

export function estateOpsRoutes(ctx: ApiContext, deps: EstateOpsDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/workers',
      summary: 'The probe workers connected now, with their own view of their health',
      tags: ['operations'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ workers: z.array(Worker) }), 'Connected workers') },
    }),
    (c) => c.json({ workers: deps.workers() }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/locations',
      summary: "Each probe location's view of the checks the caller may see: how many, how many failing, whether it is isolated",
      tags: ['operations'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ locations: z.array(LocationHealth) }), 'Probe locations, counted over the caller’s scope') },
    }),
    (c) => {
      // As /api/checks: shared services' checks, and the practices' checks the caller sees.
      const sees = ctx.sees(c);
      return c.json({ locations: ctx.engine.locations(ctx.now(), (check) => check.subject.type === 'service' || sees(check.subject.id)) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/auth/providers',
      summary: 'The sign-in methods offered besides a password',
      tags: ['auth'],
      middleware: [ctx.guard('public')] as const,
      responses: { 200: json(Providers, 'Sign-in providers') },
    }),
    (c) => c.json({ oidc: deps.oidc() ? { start: '/auth/oidc/start' } : null }, 200),
  );
  return app;
}
