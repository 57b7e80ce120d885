// Workstation fleets: heartbeats from endpoint agents on each practice PC, and the share
// of silent agents as one check per practice (`A81001-fleet`). The entry point the server
// wires: the config block, the request body, the tracker and the engine result.
// Owns no route, timer or clock: the server calls beat() from POST /api/heartbeats/:ods
// and evaluateAll() on its own tick, and hands the tracker its own observer (`listening`)
// so silence counts only over time Pulse was listening.
export {
  MAX_AGENTS_PER_PRACTICE,
  fleetSchema,
  parseFleetDuration,
  type FleetConfig,
  type FleetEntry,
  type FleetRules,
  type SecretRef,
} from './config';
export {
  MAX_SOFTWARE_ENTRIES,
  MAX_SOFTWARE_KEY_LENGTH,
  MAX_SOFTWARE_VALUE_LENGTH,
  heartbeatSchema,
  parseHeartbeat,
  type Heartbeat,
  type HeartbeatParse,
} from './heartbeat';
export { agentState, fleetStatus, type AgentState, type FleetLevel, type FleetStatus, type Listening } from './status';
export {
  CORRELATION_DEFAULTS,
  correlateSoftware,
  type CorrelationOptions,
  type SoftwareCorrelation,
  type SoftwareMap,
} from './software';
export {
  FleetConfigError,
  FleetTracker,
  MIN_TOKEN_LENGTH,
  secretReader,
  type BeatResult,
  type FleetSummary,
  type FleetTrackerOptions,
  type ReadSecret,
} from './tracker';
export { FLEET_CHECK_KIND, FLEET_LOCATION, fleetCheckId, fleetResult } from './toResult';
