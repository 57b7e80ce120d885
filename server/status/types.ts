// Status vocabulary shared by the engine, the API, the live feed and the dashboard.

/**
 * Worst first: the order used to roll statuses up and to sort.
 * - `suspected`: failing, but not yet confirmed (too few consecutive failures, or too few
 *   probe locations agree): visible, not an outage.
 * - `recovering`: was down, passing again, not yet confirmed up.
 * - `unknown`: no fresh data. Never shown as up.
 */
export const STATUS_LEVELS = ['down', 'unknown', 'suspected', 'degraded', 'recovering', 'maintenance', 'up'] as const;
export type StatusLevel = (typeof STATUS_LEVELS)[number];

/**
 * A practice's backup mode (see server/backup/types.ts): `entering` and `leaving` last while
 * the actions of one switch run. Patients are told "backup" from `entering` until `normal`.
 */
export type Mode = 'normal' | 'entering' | 'backup' | 'leaving';
export const MODES = ['normal', 'entering', 'backup', 'leaving'] as const satisfies readonly Mode[];

/**
 * Why a subject has the status it has. `checks`: its own checks (or a person's report) are
 * failing or silent; `upstream`: a service it depends on is not up (the service's own cause
 * is kept as `via`, so the chain reaches the root); `maintenance`: a planned window.
 */
export type Cause =
  | { kind: 'checks'; checks: { id: string; status: StatusLevel; detail: string }[] }
  | { kind: 'upstream'; service: string; impact: 'critical' | 'degrading'; status: StatusLevel; via: Cause | null }
  | { kind: 'maintenance'; reason: string; author: string; until: number };

/** The id of the pseudo-check that carries a person's "we're down" report. */
export const REPORT_CHECK_ID = 'reported-by-practice';

/** The one-line form operators read, e.g. `upstream: emis-web`. */
export function causeText(cause: Cause | null): string | null {
  if (!cause) return null;
  if (cause.kind === 'upstream') return `upstream: ${cause.service}`;
  if (cause.kind === 'maintenance') return `maintenance until ${new Date(cause.until).toISOString()}: ${cause.reason}`;
  return cause.checks.map((c) => (c.id === REPORT_CHECK_ID ? c.detail : `check ${c.id}: ${c.detail}`)).join('; ');
}

/**
 * The whole chain down to the root, e.g.
 * `down ← upstream: emis-web ← upstream: hscn ← check hscn-tcp: connection refused`.
 */
export function causeChainText(status: StatusLevel, cause: Cause | null): string {
  const parts: string[] = [status];
  for (let c = cause; c; c = c.kind === 'upstream' ? c.via : null) parts.push(causeText(c)!);
  return parts.join(' ← ');
}
