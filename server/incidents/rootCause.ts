// The root cause of a failing subject: the key one incident is opened for. Pure: it reads a
// status and its cause chain; it never looks anything up and never decides grouping.
import type { SubjectKey } from '../status/engine';
import { upstreamServices } from '../status/rollup';
import type { Cause, StatusLevel } from '../status/types';
import type { IncidentSeverity } from './types';

/**
 * Only confirmed failures open incidents. `suspected` is unconfirmed, `unknown` is missing
 * data, `recovering` is on the way back, `maintenance` is planned: none of them is an outage.
 */
export function isFailing(status: StatusLevel): status is IncidentSeverity {
  return status === 'down' || status === 'degraded';
}

/**
 * The root-cause key of a subject that is down or degraded, else null: the deepest service
 * along an upstream chain (a practice down because EMIS Web is down because HSCN is down →
 * `service:hscn`), or the subject itself when it fails on its own checks.
 */
export function rootCause(subject: SubjectKey, status: StatusLevel, cause: Cause | null): SubjectKey | null {
  if (!isFailing(status)) return null;
  const chain = upstreamServices(cause);
  const deepest = chain[chain.length - 1];
  return deepest === undefined ? subject : `service:${deepest}`;
}
