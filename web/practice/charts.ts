// A check's per-minute history (GET /api/checks/{id}/history) shaped for its two charts:
// latency and availability in fixed buckets over 24 hours or 7 days. Pure: the clock comes in.
// Buckets with no results stay empty (null), so a gap shows as a gap, never as "fine".
import { UK_TIME_ZONE } from '../lib/view';

export interface MinuteSummary {
  minute: string;
  count: number;
  failures: number;
  latencyMeanMs: number | null;
  latencyMaxMs: number | null;
}

/** One raw result from the history's `recent` ring (not yet rolled up into a minute). */
export interface RecentResult {
  at: string;
  ok: boolean;
  latencyMs: number;
}

/**
 * The stored minutes plus the minutes only the recent raw results know about yet (the
 * current minute is rolled up only once it ends), so a fresh outage shows at once.
 */
export function withRecent(minutes: readonly MinuteSummary[], recent: readonly RecentResult[]): MinuteSummary[] {
  const stored = new Set(minutes.map((m) => Math.floor(Date.parse(m.minute) / 60_000)));
  const extra = new Map<number, { count: number; failures: number; total: number; max: number }>();
  for (const r of recent) {
    const at = Date.parse(r.at);
    if (Number.isNaN(at)) continue;
    const minute = Math.floor(at / 60_000);
    if (stored.has(minute)) continue;
    const m = extra.get(minute) ?? { count: 0, failures: 0, total: 0, max: 0 };
    m.count += 1;
    if (!r.ok) m.failures += 1;
    m.total += r.latencyMs;
    m.max = Math.max(m.max, Math.round(r.latencyMs));
    extra.set(minute, m);
  }
  const added = [...extra].map(([minute, m]) => ({
    minute: new Date(minute * 60_000).toISOString(),
    count: m.count,
    failures: m.failures,
    latencyMeanMs: Math.round(m.total / m.count),
    latencyMaxMs: m.max,
  }));
  return [...minutes, ...added].sort((a, b) => Date.parse(a.minute) - Date.parse(b.minute));
}

export type Period = '24h' | '7d';

export const PERIODS: Record<Period, { label: string; hours: number; bucketMinutes: number }> = {
  '24h': { label: 'Last 24 hours', hours: 24, bucketMinutes: 15 },
  '7d': { label: 'Last 7 days', hours: 24 * 7, bucketMinutes: 120 },
};

export interface Bucket {
  /** Epoch ms the bucket starts. */
  start: number;
  count: number;
  failures: number;
  /** Mean over every result in the bucket (weighted by each minute's count). */
  latencyMeanMs: number | null;
  latencyMaxMs: number | null;
  /** Share of results that passed, 0–1; null when there were none. */
  availability: number | null;
}

/**
 * Every bucket of the period ending at `now`, oldest first. Bucket edges are aligned to the
 * bucket size (so the same minute always lands in the same bucket as time moves on).
 */
export function bucketise(minutes: readonly MinuteSummary[], period: Period, now: number): Bucket[] {
  const size = PERIODS[period].bucketMinutes * 60_000;
  const end = Math.floor(now / size) * size + size;
  const first = end - Math.ceil((PERIODS[period].hours * 3_600_000) / size) * size;
  const count = Math.round((end - first) / size);
  const sums = Array.from({ length: count }, () => ({ count: 0, failures: 0, latencyTotal: 0, latencyCount: 0, latencyMax: null as number | null }));
  for (const m of minutes) {
    const at = Date.parse(m.minute);
    if (Number.isNaN(at) || at < first || at >= end) continue;
    const s = sums[Math.floor((at - first) / size)]!;
    s.count += m.count;
    s.failures += m.failures;
    if (m.latencyMeanMs !== null && m.count > 0) {
      s.latencyTotal += m.latencyMeanMs * m.count;
      s.latencyCount += m.count;
    }
    if (m.latencyMaxMs !== null) s.latencyMax = Math.max(s.latencyMax ?? 0, Math.round(m.latencyMaxMs));
  }
  return sums.map((s, i) => ({
    start: first + i * size,
    count: s.count,
    failures: s.failures,
    latencyMeanMs: s.latencyCount > 0 ? Math.round(s.latencyTotal / s.latencyCount) : null,
    latencyMaxMs: s.latencyMax,
    availability: s.count > 0 ? (s.count - s.failures) / s.count : null,
  }));
}

export interface ChartSummary {
  results: number;
  availability: number | null;
  latencyMeanMs: number | null;
  latencyMaxMs: number | null;
}

/** The whole period in four figures: what the chart's text alternative says. */
export function summarise(buckets: readonly Bucket[]): ChartSummary {
  let results = 0;
  let failures = 0;
  let latencyTotal = 0;
  let latencyCount = 0;
  let latencyMax: number | null = null;
  for (const b of buckets) {
    results += b.count;
    failures += b.failures;
    if (b.latencyMeanMs !== null) {
      latencyTotal += b.latencyMeanMs * b.count;
      latencyCount += b.count;
    }
    if (b.latencyMaxMs !== null) latencyMax = Math.max(latencyMax ?? 0, b.latencyMaxMs);
  }
  return {
    results,
    availability: results > 0 ? (results - failures) / results : null,
    latencyMeanMs: latencyCount > 0 ? Math.round(latencyTotal / latencyCount) : null,
    latencyMaxMs: latencyMax,
  };
}

const hhmm = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });
const dayHour = new Intl.DateTimeFormat('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });

/** An x-axis label: "14:15" over 24 hours, "Tue 14:00" over 7 days (UK time). */
export function bucketLabel(start: number, period: Period): string {
  return (period === '24h' ? hhmm : dayHour).format(new Date(start));
}
