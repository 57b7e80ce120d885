// Shared services: clinical systems, national services and networks, with the practices
// each is taking down.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { causeChainText } from '../status/types';
import { checkView } from './checks';
import { availabilityOf } from './history';
import type { AppEnv } from '../auth/middleware';
import { errorBody, type ApiContext } from './context';
import { Availability, CheckView, Dependency, IdParam, Service, errors, json } from './schemas';

const ServiceWithAvailability = Service.extend({
  causeChain: z.string(),
  dependsOn: z.array(Dependency),
  checks: z.array(CheckView),
  availability: z.array(Availability),
}).openapi('ServiceWithAvailability');

const ServiceDetail = Service.extend({
  causeChain: z.string(),
  dependsOn: z.array(Dependency),
  checks: z.array(CheckView),
}).openapi('ServiceDetail');

export function serviceRoutes(ctx: ApiContext) {
  const app = new OpenAPIHono<AppEnv>();
  const detail = (id: string, now: number) => {
    const s = ctx.engine.status(`service:${id}`)!;
    const svc = ctx.estate.services.get(id)!;
    return {
      ...ctx.views.services.get(id)!,
      causeChain: causeChainText(s.status, s.cause),
      dependsOn: svc.dependsOn,
      checks: svc.checks.map((checkId) => checkView(ctx, checkId, now)),
    };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/services',
      summary: 'Every shared service with its status and the practices it is affecting',
      tags: ['services'],
      middleware: [ctx.guard('read')] as const,
      responses: { 200: json(z.object({ services: z.array(ServiceDetail) }), 'Every service') },
    }),
    (c) => {
      const now = ctx.now();
      return c.json({ services: [...ctx.estate.services.keys()].map((id) => detail(id, now)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/services/{id}',
      summary: 'One service',
      tags: ['services'],
      middleware: [ctx.guard('read')] as const,
      request: { params: IdParam },
      responses: { 200: json(ServiceWithAvailability, 'The service, with availability over 24 h, 7 d and 30 d'), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!ctx.estate.services.has(id)) return c.json(errorBody('NOT_FOUND', `no service "${id}"`), 404);
      return c.json({ ...detail(id, ctx.now()), availability: await availabilityOf(ctx, `service:${id}`) }, 200);
    },
  );
  return app;
}
