// Durations in check options (`degradedAfter: 2s`, `ttl: 5m`): `500ms`, `30s`, `2m`, `1h`.
// The same grammar as the estate file's interval/timeout: server/config/duration.ts
// re-exports this parser (probes/ never imports from server/, so it lives here). Pure.
import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;

/** Milliseconds, or null when the text is not a positive duration. */
export function parseDuration(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : null;
}

/**
 * A duration option. Kept as text (not turned into a number) so that an option set
 * parsed by the config loader parses again, unchanged, on the worker.
 */
export const durationOption = z.string().refine((s) => parseDuration(s) !== null, {
  message: 'expected a duration such as 800ms, 2s, 5m or 1h',
});
