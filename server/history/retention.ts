// How long history is kept, as configured in the estate file's top-level `retention`
// section, and one pass of deleting what is older. The section is validated here (zod)
// so the config loader only has to mount it; durations take d, h, m or s units.
import { z } from 'zod';
import type { HistoryStore } from './store';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(d|h|m|s)$/;

/** Milliseconds of a retention duration such as `90d`, `36h`, `90m` or `3600s`; null when it is not one. */
export function parseRetentionDuration(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return Number.isFinite(ms) && ms >= 60_000 ? Math.round(ms) : null;
}

const retentionDuration = z.string().refine((s) => parseRetentionDuration(s) !== null, {
  message: 'expected a duration of at least a minute, such as 90d, 36h, 90m or 3600s',
});

export const DEFAULT_RETENTION = { transitions: '90d', minutes: '30d' } as const;

/**
 * The estate file's `retention:` section. `transitions`: status transitions (availability
 * over a window needs at least that window). `minutes`: the per-minute check summaries.
 */
export const retentionSchema = z
  .object({
    transitions: retentionDuration.default(DEFAULT_RETENTION.transitions),
    minutes: retentionDuration.default(DEFAULT_RETENTION.minutes),
  })
  .strict()
  .default({ ...DEFAULT_RETENTION });

export type RetentionConfig = z.infer<typeof retentionSchema>;

export interface Retention {
  transitionsMs: number;
  minutesMs: number;
}

/** Resolves a validated section to milliseconds. */
export function resolveRetention(config: RetentionConfig): Retention {
  return { transitionsMs: parseRetentionDuration(config.transitions)!, minutesMs: parseRetentionDuration(config.minutes)! };
}

/**
 * What a transitions store offers for retention. It must keep each subject's newest
 * transition however old, or a subject steady for longer than the retention would lose its
 * known status. In SQLite (the (subject, at) index serves the subquery):
 *   DELETE FROM status_events WHERE at < ? AND at < (SELECT max(at) FROM status_events AS n
 *     WHERE n.subject = status_events.subject)
 */
export interface TransitionRetention {
  pruneTransitions(olderThan: number): Promise<number>;
}

export interface PruneResult {
  /** Check-hours of minute summaries deleted. */
  hours: number;
  /** Status transitions deleted (0 when no transitions store was given). */
  transitions: number;
}

/** One retention pass as of `now`. Run it hourly or daily; it is idempotent. */
export async function pruneOnce(
  stores: { history: HistoryStore; transitions?: TransitionRetention },
  retention: Retention,
  now: number,
): Promise<PruneResult> {
  const hours = await stores.history.prune(now - retention.minutesMs);
  const transitions = stores.transitions ? await stores.transitions.pruneTransitions(now - retention.transitionsMs) : 0;
  return { hours, transitions };
}
