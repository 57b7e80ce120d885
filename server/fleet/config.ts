// The `fleet` block of a practice in the estate file: where the practice's agent token
// lives and the thresholds that turn silent workstations into a status. Validates and
// resolves (durations to milliseconds) in one schema, so what comes out is ready to use.
// Never holds a token: only a reference to the environment variable or file holding it.
import { z } from 'zod';
import { parseDuration } from '../config/duration';
import type { SecretRef } from '../../probes/secrets';

/** More agents than this in one practice are refused: memory stays bounded whatever agents send. */
export const MAX_AGENTS_PER_PRACTICE = 500;

const DAY_MS = 86_400_000;

/**
 * Milliseconds, or null when the text is not a duration. The estate's own units
 * (`500ms`, `30s`, `2m`, `1h`) plus days (`7d`), which only the fleet's `forgetAfter` needs.
 */
export function parseFleetDuration(text: string): number | null {
  const days = /^(\d+(?:\.\d+)?)\s*d$/.exec(text.trim());
  if (!days) return parseDuration(text);
  const ms = Math.round(Number(days[1]) * DAY_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** A duration in the estate's units or days; shared with the backup plans' durations. */
export const durationWithDays = z.string().refine((s) => parseFleetDuration(s) !== null, {
  message: 'expected a duration such as 500ms, 30s, 2m, 1h or 7d',
});

/** Where a secret lives. The value itself is never written in the estate file. */
export type { SecretRef };

const LITERAL_TOKEN =
  'expected { env: VARIABLE } or { file: /path/to/file }: the practice token must not be written in the estate file';

const tokenRef = z
  .object(
    {
      env: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name, e.g. PULSE_FLEET_TOKEN_A81001')
        .optional(),
      file: z.string().startsWith('/', 'expected an absolute file path, e.g. /run/secrets/fleet-A81001').optional(),
    },
    // A string here is almost certainly the token itself: say so, without echoing it.
    { error: (issue) => (issue.input === undefined ? undefined : LITERAL_TOKEN) },
  )
  .strict()
  .superRefine(({ env, file }, ctx) => {
    if ((env === undefined) === (file === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of env or file' });
    }
  })
  .transform((v): SecretRef => (v.env !== undefined ? { env: v.env } : { file: v.file! }));

const share = z.number().gt(0, 'expected a share above 0, e.g. 0.2 for 20%').max(1, 'expected a share of at most 1 (100%)');

/** The fleet thresholds, resolved: everything the status decision needs. */
export interface FleetRules {
  /** How often agents beat. */
  intervalMs: number;
  /** Intervals without a beat before an agent counts as silent. */
  silentAfter: number;
  /** Share silent at or above which the fleet is degraded (0 < degradedAt < downAt). */
  degradedAt: number;
  /** Share silent at or above which the fleet is down. */
  downAt: number;
  /** When set, agents never seen count as silent. */
  expectedAgents: number | null;
  /** Agents silent this long are dropped from the fleet (a decommissioned PC). */
  forgetAfterMs: number;
}

export interface FleetConfig extends FleetRules {
  token: SecretRef;
}

export const fleetSchema = z
  .object({
    token: tokenRef,
    interval: durationWithDays.default('60s'),
    silentAfter: z.number().int('expected a whole number of intervals').min(1).max(100).default(3),
    degradedAt: share.default(0.2),
    downAt: share.default(0.5),
    expectedAgents: z
      .number()
      .int('expected a whole number of workstations')
      .min(1)
      .max(MAX_AGENTS_PER_PRACTICE, `expected at most ${MAX_AGENTS_PER_PRACTICE} workstations per practice`)
      .optional(),
    forgetAfter: durationWithDays.default('7d'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.downAt <= v.degradedAt) {
      ctx.addIssue({
        code: 'custom',
        path: ['downAt'],
        message: `downAt (${v.downAt}) must be greater than degradedAt (${v.degradedAt})`,
      });
    }
    const silentMs = v.silentAfter * (parseFleetDuration(v.interval) ?? 0);
    if ((parseFleetDuration(v.forgetAfter) ?? Infinity) <= silentMs) {
      // Otherwise a silent agent is forgotten before it counts as silent, and a bad
      // update would leave the practice looking healthy.
      ctx.addIssue({
        code: 'custom',
        path: ['forgetAfter'],
        message: `forgetAfter ${v.forgetAfter} must be longer than silentAfter × interval (${v.silentAfter} × ${v.interval})`,
      });
    }
  })
  .transform(
    (v): FleetConfig => ({
      token: v.token,
      intervalMs: parseFleetDuration(v.interval)!,
      silentAfter: v.silentAfter,
      degradedAt: v.degradedAt,
      downAt: v.downAt,
      expectedAgents: v.expectedAgents ?? null,
      forgetAfterMs: parseFleetDuration(v.forgetAfter)!,
    }),
  );

/** The block as written in the estate file. */
export type FleetEntry = z.input<typeof fleetSchema>;
