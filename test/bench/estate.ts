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

/**
 * `fail`: the hosts (by index; each target process acts on those it serves) stop answering:
 * `refuse` closes their listeners (connection refused, for http and tcp checks alike), `503`
 * answers every HTTP request with 503. `recover`: they answer 200 again. Both are acknowledged
 * with `failed` / `recovered` once in force.
 */
export type FailMode = 'refuse' | '503';
export type TargetRequest =
  | { type: 'counters' }
  | { type: 'fail'; hosts: number[]; mode: FailMode }
  | { type: 'recover'; hosts: number[] };

export type TargetMessage =
  | { type: 'ready'; port: number; hosts: number }
  /** `reusedRequests`: requests that arrived on a connection which had already carried one (keep-alive at work). */
  | { type: 'counters'; connections: number; requests: number; keepAliveRequests: number; reusedRequests: number }
  | { type: 'failed'; hosts: number }
  | { type: 'recovered'; hosts: number }
  | { type: 'error'; message: string };
