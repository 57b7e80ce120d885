// The `backup` section of the estate file: continuity plans (actions, checklist, readiness,
// policies) and the notification sender. Validates shape here; estate.ts checks references
// (a practice naming an unknown plan) with file:line:field errors. Never holds a secret:
// webhook secrets and the Notify API key are references to an environment variable or file.
import { z } from 'zod';
import { secretRef, type SecretRef } from '../../probes/secrets';
import { durationWithDays as duration, parseFleetDuration } from '../fleet/config';


const itemId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'expected lower-case letters, digits and dashes, e.g. paper-templates');

const direction = z.enum(['enter', 'leave', 'both']).default('enter');

const webhookAction = z
  .object({
    kind: z.literal('webhook'),
    name: z.string().min(1).max(120),
    on: direction,
    url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL, e.g. https://telephony.example.nhs.uk/hooks/pulse' }),
    secret: secretRef,
    // A drain round (and a reload, which waits for it) lasts as long as the slowest receiver;
    // and a Node timer beyond 2^31 ms fires at once, timing every attempt out.
    timeout: duration.default('10s').refine((s) => {
      const ms = parseFleetDuration(s);
      return ms === null || (ms >= 1_000 && ms <= 60_000);
    }, 'a webhook timeout must be between 1s and 60s'),
  })
  .strict();

/** UK mobile numbers or email addresses; one outbox action per recipient. */
const recipient = z
  .string()
  .regex(/^(\+?[0-9 ]{10,16}|[^@\s]+@[^@\s]+\.[^@\s]+)$/, 'expected an email address or a UK mobile number, e.g. 07700 900123');

const notifyAction = z
  .object({
    kind: z.literal('notify'),
    name: z.string().min(1).max(120),
    on: direction,
    channel: z.enum(['email', 'sms']),
    to: z.array(recipient).min(1, 'expected at least one recipient').max(50),
    /** The GOV.UK Notify template id; the log sender prints it. */
    template: z.uuid({ message: 'expected a GOV.UK Notify template id (a UUID)' }),
  })
  .strict();

const checklistItem = z
  .object({ id: itemId, text: z.string().min(1).max(300), on: direction })
  .strict();

const readinessItem = z.object({ id: itemId, text: z.string().min(1).max(300) }).strict();

export const backupPlanSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lower-case letters, digits and dashes, e.g. standard'),
    /** Used for every practice that names no plan and matches no other plan's `appliesTo`. */
    default: z.boolean().default(false),
    /** The practices of these PCNs, ICBs or clinical systems use this plan unless they name another. */
    appliesTo: z
      .object({
        pcns: z.array(z.string().min(1)).default([]),
        icbs: z.array(z.string().min(1)).default([]),
        systems: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .optional(),
    /** Enter automatically after this long `down`; absent: a person always decides. */
    autoEnterAfter: duration.optional(),
    /** Suggest leaving after this long `up`; absent: never suggested. */
    suggestLeaveAfter: duration.optional(),
    /** A readiness item older than this is shown as overdue. */
    readinessMaxAge: duration.default('365d'),
    actions: z.array(z.discriminatedUnion('kind', [webhookAction, notifyAction])).default([]),
    checklist: z.array(checklistItem).default([]),
    readiness: z.array(readinessItem).default([]),
  })
  .strict();

export const backupSchema = z
  .object({
    notify: z
      .discriminatedUnion('sender', [
        z.object({ sender: z.literal('log') }).strict(),
        z
          .object({
            sender: z.literal('govuk-notify'),
            apiKey: secretRef,
            baseUrl: z.url({ protocol: /^https?$/ }).default('https://api.notifications.service.gov.uk'),
          })
          .strict(),
      ])
      .default({ sender: 'log' }),
    /** Attempts (the first included) before an action is given up as failed. */
    maxAttempts: z.number().int().min(1).max(50).default(8),
    /** The public base URL of Pulse, so messages can link to the practice's status page. */
    publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    plans: z.array(backupPlanSchema).default([]),
  })
  .strict();

export type BackupSection = z.infer<typeof backupSchema>;

export type Direction = 'enter' | 'leave';

export type PlanAction =
  | { kind: 'webhook'; name: string; on: Direction[]; url: string; secret: SecretRef; timeoutMs: number }
  | { kind: 'notify'; name: string; on: Direction[]; channel: 'email' | 'sms'; to: string[]; template: string };

export interface BackupPlan {
  id: string;
  autoEnterAfterMs: number | null;
  suggestLeaveAfterMs: number | null;
  readinessMaxAgeMs: number;
  actions: PlanAction[];
  checklist: { id: string; text: string; on: Direction[] }[];
  readiness: { id: string; text: string }[];
}

export interface BackupConfig {
  notify: { sender: 'log' } | { sender: 'govuk-notify'; apiKey: SecretRef; baseUrl: string };
  maxAttempts: number;
  publicUrl: string | null;
  plans: Map<string, BackupPlan>;
}

function directions(on: 'enter' | 'leave' | 'both'): Direction[] {
  return on === 'both' ? ['enter', 'leave'] : [on];
}

export function resolvePlan(p: z.infer<typeof backupPlanSchema>): BackupPlan {
  return {
    id: p.id,
    autoEnterAfterMs: p.autoEnterAfter ? parseFleetDuration(p.autoEnterAfter)! : null,
    suggestLeaveAfterMs: p.suggestLeaveAfter ? parseFleetDuration(p.suggestLeaveAfter)! : null,
    readinessMaxAgeMs: parseFleetDuration(p.readinessMaxAge)!,
    actions: p.actions.map((a) =>
      a.kind === 'webhook'
        ? { kind: 'webhook', name: a.name, on: directions(a.on), url: a.url, secret: a.secret, timeoutMs: parseFleetDuration(a.timeout)! }
        : { kind: 'notify', name: a.name, on: directions(a.on), channel: a.channel, to: a.to, template: a.template },
    ),
    checklist: p.checklist.map((c) => ({ id: c.id, text: c.text, on: directions(c.on) })),
    readiness: p.readiness,
  };
}

/** Which plan a practice uses: the one it names, else the first whose appliesTo matches, else the default. */
export function planFor(
  practice: { backupPlan: string | null; pcn: string; icb: string | null; system: string },
  section: BackupSection,
): string | null {
  if (practice.backupPlan) return practice.backupPlan;
  const match = section.plans.find(
    (p) =>
      p.appliesTo &&
      (p.appliesTo.pcns.includes(practice.pcn) ||
        (practice.icb !== null && p.appliesTo.icbs.includes(practice.icb)) ||
        p.appliesTo.systems.includes(practice.system)),
  );
  return match?.id ?? section.plans.find((p) => p.default)?.id ?? null;
}
