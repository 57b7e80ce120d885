// Adapters from the estate and the status engine to what the tracker is told: a subject's
// state with its PCN and display name, and display names for incident titles.
import type { Estate } from '../config/estate';
import { splitKey, type StatusChange, type SubjectKey, type SubjectStatus } from '../status/engine';
import { isFailing } from './rootCause';
import type { IncidentKey, SubjectState } from './types';

/**
 * The tracker's view of one subject, from the engine's status of it. With the engine's
 * `since` (as `restore` is given it), a practice down or degraded says since when: about
 * when its failure began, so a group wait carries on over a restart. (A held status's
 * `since` is when it became held, not when the failure began: left out, its wait restarts.)
 */
export function subjectState(estate: Estate, key: SubjectKey, status: Pick<SubjectStatus, 'status' | 'cause'> & { since?: number }): SubjectState {
  const [type, id] = splitKey(key);
  const practice = type === 'practice' ? estate.practices.get(id) : undefined;
  const name = practice?.name ?? estate.services.get(id)?.name ?? id;
  const state: SubjectState = { key, status: status.status, cause: status.cause, pcn: practice?.pcn ?? null, name };
  if (practice && status.since !== undefined && isFailing(status.status)) state.since = status.since;
  return state;
}

/** What to tell the tracker after a recompute: the state each change left its subject in. */
export function changedSubjects(estate: Estate, changes: StatusChange[]): SubjectState[] {
  return changes.map((c) => subjectState(estate, c.subject, { status: c.to, cause: c.cause }));
}

/** Display names for incident titles: services and practices by their configured name, PCNs as configured. */
export function estateNames(estate: Estate): (key: IncidentKey) => string | undefined {
  return (key) => {
    const at = key.indexOf(':');
    const type = key.slice(0, at);
    const id = key.slice(at + 1);
    if (type === 'service') return estate.services.get(id)?.name;
    if (type === 'practice') return estate.practices.get(id)?.name;
    return id;
  };
}
