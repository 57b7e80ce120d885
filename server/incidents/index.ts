// Incidents: status changes grouped by root cause, opened and closed automatically and
// annotated by people. The entry point for the rest of Pulse.
export { isFailing, rootCause } from './rootCause';
export type { IncidentStore } from './store';
export { changedSubjects, estateNames, subjectState } from './subjects';
export { IncidentTracker, duration, type IncidentTrackerOptions } from './tracker';
export * from './types';
