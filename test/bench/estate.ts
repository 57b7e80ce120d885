// What the bench and its target server agree on: where simulated host N lives,
// and the messages they exchange over IPC. Not a test file; imports nothing.

/**
 * The loopback address of simulated host `index` (0-based): 127.0.0.2 upwards,
 * never 127.0.0.1 (left for the exporter) and never a .0 or .255 octet. The whole of
 * 127.0.0.0/8 is local on Linux, so no interface set-up is needed.
 */
export function hostAddress(index: number): string {
  const n = index + 1;
  return `127.0.${Math.floor(n / 254)}.${(n % 254) + 1}`;
}

export type TargetRequest = { type: 'counters' };

export type TargetMessage =
  | { type: 'ready'; port: number; hosts: number }
  /** `reusedRequests`: requests that arrived on a connection which had already carried one (keep-alive at work). */
  | { type: 'counters'; connections: number; requests: number; keepAliveRequests: number; reusedRequests: number }
  | { type: 'error'; message: string };
