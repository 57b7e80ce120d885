// Why Pulse's own view is impaired now, in plain words, or null: each impaired worker (its
// location and why) and the server itself (a stall, its event loop, heartbeat intake). One
// sentence for the live feed's banner, /readyz, the metrics and Pulse's self-incident.
// Pure: it is handed what the gateway and the observer say and must never look anything up
// itself, judge the estate, or decide whether to open an incident (the tracker does).
import type { Impairment } from '../workers/gateway';

/** The workers' reasons (each said once) then the server's, joined with `; `; null when nothing impairs Pulse. */
export function selfReason(workers: readonly Pick<Impairment, 'detail'>[], server: string | null | undefined): string | null {
  const reasons = new Set(workers.map((i) => i.detail));
  if (server) reasons.add(`Pulse's server: ${server}`);
  return reasons.size > 0 ? [...reasons].join('; ') : null;
}
