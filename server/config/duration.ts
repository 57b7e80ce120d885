// Parses the estate file's durations: `500ms`, `30s`, `2m`, `1h`. The grammar is the probes'
// own (probes/duration.ts): one parser, so a check option and an interval read alike.
export { parseDuration } from '../../probes/duration';

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
