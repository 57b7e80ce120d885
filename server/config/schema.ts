// The estate file's schema: services, practices, their checks and dependencies.
// Validates shape and field values only; cross-references (unknown service, duplicate
// ids, dependency cycles) are checked in estate.ts, which also resolves defaults.
import { z } from 'zod';
import { checkKinds } from '../../probes/registry';
import { parseDuration } from './duration';
import { fleetSchema } from '../fleet/config';
import { retentionSchema } from '../history/retention';
import { oidcSchema } from '../auth/oidc-config';
import { patientTemplatesSchema } from '../patients/page';
import { backupSchema } from '../backup/config';
import { incidentsSchema } from '../incidents/config';

const duration = z.string().refine((s) => parseDuration(s) !== null, {
  message: 'expected a duration such as 500ms, 30s, 2m or 1h',
});

const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lower-case letters, digits and dashes, e.g. emis-web');

const checkId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, dots, dashes or underscores, e.g. A81001-gateway');

export const odsCode = z
  .string()
  .regex(/^[A-Z]\d{5}$/, 'expected an ODS practice code: one capital letter and five digits, e.g. A81001');

const checkBase = {
  id: checkId,
  target: z.string().min(1, 'expected a target'),
  interval: duration.optional(),
  timeout: duration.optional(),
};

/** A check as written in the estate file: the common fields plus its kind's own options. */
export interface CheckEntry {
  id: string;
  kind: string;
  target: string;
  interval?: string | undefined;
  timeout?: string | undefined;
  [option: string]: unknown;
}

/** One object schema per registered check kind, so each kind's own options are validated strictly. */
function checkSchema(): z.ZodType<CheckEntry> {
  const variants = Object.values(checkKinds).map((k) => {
    const options = k.options as unknown as z.ZodObject;
    return z
      .object({ ...checkBase, kind: z.literal(k.kind), ...options.shape })
      .strict();
  });
  return z.discriminatedUnion('kind', variants as unknown as [z.ZodObject, ...z.ZodObject[]]) as unknown as z.ZodType<CheckEntry>;
}

const instant = z.iso.datetime({ offset: true, message: 'expected a date and time such as 2026-11-28T13:00:00Z' });

/** A planned window on a service (`service:emis-web`) or a practice (`practice:A81001`). */
export const maintenanceSchema = z
  .object({
    subject: z.string().regex(/^(service|practice):[A-Za-z0-9-]+$/, 'expected service:<id> or practice:<ODS code>'),
    start: instant,
    end: instant,
    author: z.string().min(1).max(200),
    reason: z.string().min(1).max(500),
  })
  .strict();

export const dependencySchema = z
  .object({
    service: slug,
    impact: z.enum(['critical', 'degrading']).default('critical'),
  })
  .strict();

export const serviceSchema = z
  .object({
    id: slug,
    name: z.string().min(1),
    kind: z.enum(['clinical-system', 'national', 'network']),
    dependsOn: z.array(dependencySchema).default([]),
    checks: z.array(checkSchema()).default([]),
  })
  .strict();

export const practiceSchema = z
  .object({
    ods: odsCode,
    name: z.string().min(1),
    pcn: z.string().min(1),
    icb: z.string().min(1).optional(),
    /** The principal clinical system: an implied critical dependency. */
    system: slug,
    dependsOn: z.array(dependencySchema).default([]),
    checks: z.array(checkSchema()).default([]),
    /** Workstation heartbeats: the share of silent agents becomes the check `<ODS>-fleet`. */
    fleet: fleetSchema.optional(),
    /** The continuity plan (an id from backup.plans); absent: chosen by the plans' appliesTo or default. */
    backupPlan: slug.optional(),
  })
  .strict();

export const estateFileSchema = z
  .object({
    defaults: z
      .object({ interval: duration.default('30s'), timeout: duration.default('5s') })
      .strict()
      .default({ interval: '30s', timeout: '5s' }),
    status: z
      .object({
        failuresToDown: z.number().int().min(1).max(20).default(2),
        successesToUp: z.number().int().min(1).max(20).default(1),
        /** Probe locations that must see a check down before it is down (fewer: suspected). */
        quorum: z.number().int().min(1).max(20).default(1),
        /** Held at degraded when pass/fail flips this many times within the window; `false` turns it off. */
        flapping: z
          .union([
            z.literal(false),
            z.object({ window: duration.default('10m'), maxChanges: z.number().int().min(2).max(100).default(6) }).strict(),
          ])
          .default({ window: '10m', maxChanges: 6 }),
      })
      .strict()
      .default({ failuresToDown: 2, successesToUp: 1, quorum: 1, flapping: { window: '10m', maxChanges: 6 } }),
    maintenance: z.array(maintenanceSchema).default([]),
    /** How long status transitions and per-minute check summaries are kept. */
    retention: retentionSchema,
    /** What patients are told on each practice's public page (/status/<ods>). */
    patients: z
      .object({
        /** The service that is NHS 111: patients are sent there only while it is working. */
        nhs111Service: slug.default('nhs-111'),
        templates: patientTemplatesSchema,
      })
      .strict()
      .default({ nhs111Service: 'nhs-111', templates: patientTemplatesSchema.parse(undefined) }),
    /** Signing in: an OpenID Connect provider (NHS CIS2) besides local accounts, and session length. */
    auth: z
      .object({ oidc: oidcSchema.optional(), session: duration.default('12h') })
      .strict()
      .default({ session: '12h' }),
    /** Backup mode: continuity plans (actions, checklist, readiness, policies) and the notification sender. */
    backup: backupSchema.prefault({}),
    /** When practices failing on their own checks are one incident: per PCN, and across the estate. */
    incidents: incidentsSchema,
    services: z.array(serviceSchema).min(1, 'expected at least one service'),
    practices: z.array(practiceSchema).default([]),
  })
  .strict();

export type EstateFile = z.infer<typeof estateFileSchema>;
export type ServiceEntry = z.infer<typeof serviceSchema>;
export type PracticeEntry = z.infer<typeof practiceSchema>;
