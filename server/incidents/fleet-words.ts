// Words for incidents of practices failing on their own, from what their workstations say:
// how many agents are silent, and the software over-represented among the silent ones
// against every healthy workstation Pulse hears. The tracker asks (its describe callback);
// this reads the fleet's view and never decides grouping.
import { correlateSoftware, type FleetTracker } from '../fleet';
import type { DescribeIncident, IncidentDescription } from './describe';
import { ENDPOINTS_KEY, type IncidentKey } from './types';

/** What the words need from the fleet tracker. */
export type FleetView = Pick<FleetTracker, 'fleetSummary' | 'softwareOf' | 'practices'>;

export function fleetDescriber(opts: { fleet: FleetView; pcnOf: (ods: string) => string | undefined; now: () => number }): DescribeIncident {
  // The estate's healthy workstations are the same for every incident described in one tick
  // (the tracker describes each open incident every 10 s): gathered once per second at most.
  let pool: { at: number; healthy: ReturnType<FleetView['softwareOf']>['healthy'] } | null = null;
  const healthyPool = (now: number) => {
    if (!pool || Math.abs(now - pool.at) >= 1_000) pool = { at: now, healthy: opts.fleet.softwareOf(opts.fleet.practices(), now).healthy };
    return pool.healthy;
  };
  return (key: IncidentKey, ods: string[]): IncidentDescription => {
    const now = opts.now();
    const summary = opts.fleet.fleetSummary(ods, now);
    // No workstation reports in these practices: the tracker's own words (gateways) stand.
    if (summary.agents === 0) return {};
    const { silent } = opts.fleet.softwareOf(ods, now);
    const healthy = healthyPool(now);
    const finding = correlateSoftware(silent, healthy)?.text ?? null;
    if (key !== ENDPOINTS_KEY) return { finding };
    const pcns = new Set(ods.map((o) => opts.pcnOf(o) ?? o)).size;
    const share = Math.round(summary.share * 100);
    return {
      finding,
      title:
        summary.silent > 0
          ? `Workstations failing across ${ods.length} practice${ods.length === 1 ? '' : 's'} in ${pcns} PCN${pcns === 1 ? '' : 's'} — ${share}% of agents silent`
          : '',
    };
  };
}
