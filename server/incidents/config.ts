// The `incidents:` section of the estate file: when practices failing on their own checks
// are one incident rather than one each, and how long one waits for its group before it
// opens its own (`groupWait`). Validates and resolves (durations to milliseconds)
// in one schema, like the fleet's, so what comes out is ready for the tracker. Optional:
// every field has a default, and a file without the section gets exactly these rules.
import { z } from 'zod';
import { parseDuration } from '../config/duration';

/** Practices starting to fail locally across the estate at once (the July 2024 kind of day). */
export interface EndpointRule {
  /** At least this many practices… */
  practices: number;
  /** …in at least this many PCNs… */
  pcns: number;
  /** …all starting to fail within this long. */
  windowMs: number;
}

/** The grouping thresholds the tracker takes (`new IncidentTracker({ ...estate.incidents, … })`). */
export interface IncidentRules {
  /** Practices of one PCN failing locally that make a suspected common cause. */
  pcnThreshold: number;
  /** …if they all started failing within this long. */
  pcnWindowMs: number;
  endpoints: EndpointRule;
  /**
   * How long a practice that starts failing on its own checks waits before it opens its own
   * or a PCN incident (Alertmanager's `group_wait`): if the estate or its PCN group forms
   * within it, it joins that directly, so the July 2024 day is one incident, not one alarm
   * per practice first. 0 opens at once. Its status is never delayed, only the incident.
   */
  groupWaitMs: number;
}

export const DEFAULT_INCIDENT_RULES: IncidentRules = {
  pcnThreshold: 3,
  pcnWindowMs: 10 * 60_000,
  endpoints: { practices: 8, pcns: 3, windowMs: 10 * 60_000 },
  groupWaitMs: 30_000,
};

/** A duration from 0 (`0s`) to 10 minutes. */
const wait = (fallback: string) =>
  z
    .string({ message: 'expected a duration such as 0s, 30s or 2m' })
    .refine((s) => /^0+(\.0+)?\s*(ms|s|m|h)$/.test(s.trim()) || parseDuration(s) !== null, { message: 'expected a duration such as 0s, 30s or 2m' })
    .default(fallback)
    .transform((s) => parseDuration(s) ?? 0)
    .refine((ms) => ms <= 10 * 60_000, { message: 'expected a wait from 0s to 10m' });

const window = (fallback: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== null, { message: 'expected a duration such as 30s, 10m or 1h' })
    .default(fallback)
    .transform((s) => parseDuration(s)!)
    .refine((ms) => ms >= 60_000 && ms <= 24 * 3_600_000, { message: 'expected a window from 1m to 24h' });

const count = (what: string, min: number, fallback: number) =>
  z
    .number({ message: `expected a whole number of ${what}` })
    .int(`expected a whole number of ${what}`)
    .min(min, `expected at least ${min} ${what}`)
    .max(100_000, `expected at most 100000 ${what}`)
    .default(fallback);

export const incidentsSchema = z
  .object({
    /** A suspected common cause in one PCN: `practices` of it starting to fail locally within `window`. */
    pcn: z
      .object({ practices: count('practices', 2, 3), window: window('10m') })
      .strict()
      .prefault({}),
    /** Practices failing locally across the estate: `practices` in `pcns` PCNs, starting within `window`. */
    endpoints: z
      .object({ practices: count('practices', 2, 8), pcns: count('PCNs', 2, 3), window: window('10m') })
      .strict()
      .superRefine((e, ctx) => {
        if (e.pcns > e.practices) {
          ctx.addIssue({ code: 'custom', path: ['pcns'], message: `${e.pcns} PCNs cannot be met by ${e.practices} practices (pcns must be at most practices)` });
        }
      })
      .prefault({}),
    /** How long a practice failing on its own waits for its group before opening its own incident (0s–10m). */
    groupWait: wait('30s'),
  })
  .strict()
  .prefault({})
  .transform(
    (v): IncidentRules => ({
      pcnThreshold: v.pcn.practices,
      pcnWindowMs: v.pcn.window,
      endpoints: { practices: v.endpoints.practices, pcns: v.endpoints.pcns, windowMs: v.endpoints.window },
      groupWaitMs: v.groupWait,
    }),
  );
