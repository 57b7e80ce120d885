// Turns a practice's fleet status into the CheckResult the status engine ingests, so a
// fleet is one check like any other (`A81001-fleet`). Pure. Never invents a result from
// no data: an unknown fleet yields nothing and the engine's staleness makes it unknown.
// A fleet unknown because Pulse was not listening yields an `impaired` failure instead, so
// the engine shows unknown with its reason at once and counts it towards nothing.
import type { CheckResult } from '../../probes/types';
import type { FleetStatus } from './status';

export const FLEET_CHECK_KIND = 'heartbeat';
/** Fleet results are pushed by agents, not probed from a worker location. */
export const FLEET_LOCATION = 'push';

export function fleetCheckId(ods: string): string {
  return `${ods}-fleet`;
}

/**
 * The engine's result for this evaluation at `at` (epoch ms), or null when the fleet is
 * unknown for want of data. Unknown because Pulse was not listening → a failed result
 * carrying `impaired` (no evidence about the workstations: the engine shows it as unknown
 * with that text and leaves failure counts alone).
 */
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
      return fleet.impaired ? { ...base, ok: false, error: 'assertion', detail: fleet.detail, impaired: fleet.impaired } : null;
  }
}
