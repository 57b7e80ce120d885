// The wall's trend: reads GET /api/trend into the series the chart draws (practices down and
// degraded per bucket) and the incident marks. The one edge where that JSON becomes types;
// anything unexpected is an error with what was wrong, never a half-drawn chart.
import { shortTime } from '../lib/view';
export interface TrendSeries {
  /** Bucket starts, epoch ms. */
  times: number[];
  down: number[];
  /** Degraded, suspected and recovering: practices working, but not well. */
  degraded: number[];
  unknown: number[];
  practices: number;
  bucketMinutes: number;
  incidents: { id: number; title: string; severity: 'down' | 'degraded'; at: number }[];
}

export class TrendError extends Error {
  override name = 'TrendError';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const count = (counts: Record<string, unknown>, key: string): number => {
  const n = counts[key];
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
};

export function parseTrend(body: unknown): TrendSeries {
  if (!isObject(body) || !Array.isArray(body.buckets) || !Array.isArray(body.incidents)) {
    throw new TrendError('the trend answer has no buckets or incidents');
  }
  const series: TrendSeries = {
    times: [],
    down: [],
    degraded: [],
    unknown: [],
    practices: typeof body.practices === 'number' ? body.practices : 0,
    bucketMinutes: typeof body.bucketMinutes === 'number' ? body.bucketMinutes : 5,
    incidents: [],
  };
  body.buckets.forEach((bucket: unknown, i: number) => {
    const start = isObject(bucket) && typeof bucket.start === 'string' ? Date.parse(bucket.start) : NaN;
    if (!isObject(bucket) || !isObject(bucket.counts) || Number.isNaN(start)) {
      throw new TrendError(`trend bucket ${i} has no start time or counts`);
    }
    series.times.push(start);
    series.down.push(count(bucket.counts, 'down'));
    series.degraded.push(count(bucket.counts, 'degraded') + count(bucket.counts, 'suspected') + count(bucket.counts, 'recovering'));
    series.unknown.push(count(bucket.counts, 'unknown'));
  });
  for (const incident of body.incidents) {
    if (!isObject(incident) || typeof incident.id !== 'number' || typeof incident.openedAt !== 'string') continue;
    const at = Date.parse(incident.openedAt);
    if (Number.isNaN(at)) continue;
    series.incidents.push({
      id: incident.id,
      title: typeof incident.title === 'string' ? incident.title : `Incident #${incident.id}`,
      severity: incident.severity === 'degraded' ? 'degraded' : 'down',
      at,
    });
  }
  return series;
}

/** One sentence for screen readers and the caption: the peak and where things are now. */
export function describeTrend(series: TrendSeries): string {
  if (series.times.length === 0) return 'No trend data yet.';
  let peak = 0;
  let peakAt = series.times[0]!;
  series.down.forEach((n, i) => {
    if (n > peak) {
      peak = n;
      peakAt = series.times[i]!;
    }
  });
  const now = series.down.at(-1) ?? 0;
  const hours = Math.round((series.times.length * series.bucketMinutes) / 60);
  const incidents = series.incidents.length;
  const at = shortTime(peakAt);
  return (
    `Practices down over the last ${hours} hours: ${peak === 0 ? 'none' : `peak ${peak} at ${at}`}, ${now} now; ` +
    `${series.degraded.at(-1) ?? 0} degraded now; ${incidents} ${incidents === 1 ? 'incident' : 'incidents'} opened.`
  );
}
