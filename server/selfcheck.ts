// Pulse watching itself: whether its own probes are still reporting, and whether it is
// ready to serve. Pure decisions over facts passed in; the server gathers the facts.

export interface SelfFacts {
  now: number;
  /** Newest probe result received (epoch ms), or null before the first. */
  lastResultAt: number | null;
  startedAt: number;
  /** Checks run by probe workers (pushed fleet checks excluded). */
  probedChecks: number;
  /** Shortest interval and its timeout among probed checks. */
  shortestIntervalMs: number;
  shortestTimeoutMs: number;
  workers: number;
  storeOpen: boolean;
  /** Why Pulse's own view is impaired now (an overloaded worker, a stalled server), or null. */
  impaired: string | null;
}

export type ProbesState = 'ok' | 'quiet' | 'starting' | 'impaired';

/**
 * Probes are `quiet` when no result has arrived for twice the shortest interval plus its
 * timeout (the same rule that turns one check unknown) — or, before the first result, once
 * that long has passed since start. Every dashboard shows it; it is never shown as fine.
 */
export function probesState(f: SelfFacts): ProbesState {
  // With nothing probed (fleets only), results cannot stop; the server can still be impaired.
  if (f.probedChecks === 0) return f.impaired !== null ? 'impaired' : 'ok';
  const limit = 2 * f.shortestIntervalMs + f.shortestTimeoutMs;
  if (f.lastResultAt === null) return f.now - f.startedAt > limit ? 'quiet' : 'starting';
  if (f.now - f.lastResultAt > limit) return 'quiet';
  return f.impaired !== null ? 'impaired' : 'ok';
}

/**
 * Ready to serve: the store is open, probe workers are connected, and data is fresh. An
 * impaired view is reported (`impaired`) but does not make Pulse unready: it still serves the
 * dashboards that must show the operators why — taking it out of rotation would blind them.
 */
export function readiness(f: SelfFacts): { ready: boolean; reasons: string[]; impaired: string | null } {
  const reasons: string[] = [];
  if (!f.storeOpen) reasons.push('the store is not open');
  if (f.probedChecks > 0 && f.workers === 0) reasons.push('no probe worker is connected');
  const probes = probesState(f);
  if (probes === 'quiet') {
    const since = f.lastResultAt === null ? 'no result yet' : `last result ${Math.round((f.now - f.lastResultAt) / 1000)} s ago`;
    reasons.push(`probe results have stopped (${since})`);
  }
  if (probes === 'starting') reasons.push('waiting for the first probe results');
  return { ready: reasons.length === 0, reasons, impaired: f.impaired };
}
