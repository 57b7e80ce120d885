// The API's shapes, as zod schemas that validate requests at the edge and describe every
// route in the OpenAPI document (/api/openapi.json). Validation happens here, once.
import { z } from '@hono/zod-openapi';
import { MODES, STATUS_LEVELS } from '../status/types';

export const ErrorBody = z
  .object({ error: z.object({ code: z.string().openapi({ example: 'NOT_FOUND' }), message: z.string() }) })
  .openapi('Error');

export const Status = z.enum(STATUS_LEVELS).openapi('Status');

export const OdsParam = z.object({
  ods: z
    .string()
    .regex(/^[A-Z]\d{5}$/, 'expected an ODS practice code: one capital letter and five digits, e.g. A81001')
    .openapi({ param: { name: 'ods', in: 'path' }, example: 'A81001' }),
});

export const IdParam = z.object({
  id: z.string().min(1).max(200).openapi({ param: { name: 'id', in: 'path' }, example: 'emis-web' }),
});

/** A count per status level, in the engine's order (worst first). */
export const StatusCounts = z.object(
  Object.fromEntries(STATUS_LEVELS.map((s) => [s, z.number().int()])) as Record<(typeof STATUS_LEVELS)[number], z.ZodNumber>,
);

export const Counts = StatusCounts.extend({ backup: z.number().int(), total: z.number().int() }).openapi('Counts');

export const Practice = z
  .object({
    ods: z.string().openapi({ example: 'A81001' }),
    name: z.string().openapi({ example: 'Riverside Medical Practice' }),
    pcn: z.string(),
    icb: z.string().nullable(),
    system: z.string().openapi({ example: 'emis-web' }),
    status: Status,
    cause: z.string().nullable().openapi({ example: 'upstream: emis-web' }),
    mode: z.enum(MODES),
    since: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Practice');

export const Service = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(['clinical-system', 'national', 'network']),
    status: Status,
    cause: z.string().nullable(),
    since: z.string().openapi({ format: 'date-time' }),
    practicesAffected: z.number().int(),
  })
  .openapi('Service');

export const Dependency = z.object({ service: z.string(), impact: z.enum(['critical', 'degrading']) }).openapi('Dependency');

export const CheckView = z
  .object({
    id: z.string(),
    kind: z.string(),
    intervalMs: z.number().int(),
    status: Status,
    detail: z.string(),
    lastResultAt: z.string().nullable(),
    locations: z.array(z.object({ location: z.string(), status: Status, detail: z.string() })),
  })
  .openapi('Check');

export const Transition = z
  .object({ from: Status, to: Status, at: z.string(), cause: z.string().nullable() })
  .openapi('Transition');

export const Availability = z
  .object({
    window: z.enum(['24h', '7d', '30d']),
    availability: z
      .number()
      .nullable()
      .openapi({ description: 'Time up or degraded ÷ (window − maintenance − unknown); null when no time is known.' }),
    msByStatus: z.record(z.string(), z.number()),
  })
  .openapi('Availability');

export const MaintenanceWindow = z
  .object({
    id: z.string(),
    subject: z.string().openapi({ example: 'service:emis-web' }),
    start: z.string().openapi({ format: 'date-time' }),
    end: z.string().openapi({ format: 'date-time' }),
    author: z.string(),
    reason: z.string(),
    source: z.enum(['config', 'api']),
    active: z.boolean(),
  })
  .openapi('MaintenanceWindow');

export const Report = z
  .object({ state: z.enum(['down', 'degraded']), by: z.string(), note: z.string(), at: z.string() })
  .openapi('Report');

const person = z.string().trim().min(1, 'say who you are').max(200);

export const ReportBody = z
  .object({
    state: z.enum(['down', 'degraded', 'up']).openapi({ description: '`down` / `degraded`: "we\'re down"; `up`: "we\'re back" (clears the report).' }),
    by: person,
    note: z.string().trim().max(1_000).default(''),
  })
  .strict()
  .openapi('ReportRequest');

export const MaintenanceBody = z
  .object({
    subject: z.string().regex(/^(service|practice):[A-Za-z0-9-]+$/, 'expected service:<id> or practice:<ODS code>'),
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
    author: person,
    reason: z.string().trim().min(1).max(500),
  })
  .strict()
  .openapi('MaintenanceRequest');

export const CancelBody = z.object({ by: person }).strict().openapi('CancelRequest');

export const PracticeQuery = z.object({
  status: z
    .string()
    .optional()
    .openapi({ description: 'Comma-separated statuses, e.g. `down,unknown`.' }),
  system: z.string().optional().openapi({ example: 'emis-web' }),
  pcn: z.string().optional(),
  mode: z.enum(MODES).optional(),
  q: z.string().max(100).optional().openapi({ description: 'Search ODS code or name (case-insensitive).' }),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
  offset: z.coerce.number().int().min(0).default(0),
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const errors = {
  400: json(ErrorBody, 'The request is malformed; the message names the field.'),
  404: json(ErrorBody, 'No such resource.'),
} as const;
