// Turns a practice's fleet status into the CheckResult the status engine ingests, so a
// fleet is one check like any other (`A81001-fleet`). Pure. Never invents a result from
// no data: an unknown fleet yields nothing and the engine's staleness makes it unknown.
import type { CheckResult } from '../../probes/types';
import type { FleetStatus } from './status';

export const FLEET_CHECK_KIND = 'heartbeat';
/** Fleet results are pushed by agents, not probed from a worker location. */
export const FLEET_LOCATION = 'push';

export function fleetCheckId(ods: string): string {
  return `${ods}-fleet`;
}

/** The engine's result for this evaluation at `at` (epoch ms), or null when the fleet is unknown. */
export function fleetResult(ods: string, fleet: FleetStatus, at: number): CheckResult | null {
  const base = { checkId: fleetCheckId(ods), at, location: FLEET_LOCATION, latencyMs: 0 };
  switch (fleet.status) {
    case 'up':
      return { ...base, ok: true, detail: fleet.detail };
    case 'degraded':
      return { ...base, ok: true, detail: fleet.detail, degraded: fleet.detail };
    case 'down':
      return { ...base, ok: false, error: 'assertion', detail: fleet.detail };
    case 'unknown':
      return null;
  }
}
