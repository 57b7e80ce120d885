// Incidents: status changes grouped by root cause, opened and closed automatically and
// annotated by people. The entry point for the rest of Pulse.
export { DEFAULT_INCIDENT_RULES, incidentsSchema, type EndpointRule, type IncidentRules } from './config';
export { isFailing, rootCause } from './rootCause';
export type { IncidentStore } from './store';
export { changedSubjects, estateNames, subjectState } from './subjects';
export { IncidentTracker, duration, type DescribeIncident, type IncidentDescription, type IncidentTrackerOptions } from './tracker';
export { SELF_TITLE, endpointsTitle } from './wording';
export * from './types';
