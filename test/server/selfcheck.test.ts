// Pulse's view of itself: the probes state every dashboard shows and /readyz.
import { describe, expect, it } from 'vitest';
import { probesState, readiness, type SelfFacts } from '../../server/selfcheck';

const NOW = 1_721_362_140_000;
const facts = (over: Partial<SelfFacts> = {}): SelfFacts => ({
  now: NOW,
  lastResultAt: NOW - 1_000,
  startedAt: NOW - 60_000,
  probedChecks: 10,
  shortestIntervalMs: 5_000,
  shortestTimeoutMs: 2_000,
  workers: 1,
  storeOpen: true,
  impaired: null,
  ...over,
});

describe('probesState', () => {
  it('is ok while results flow and nothing impairs Pulse', () => {
    expect(probesState(facts())).toBe('ok');
  });

  it('is impaired, not ok, while an observer is impaired and results still flow', () => {
    expect(probesState(facts({ impaired: "Pulse's probes in local are overloaded: 4.6 s behind" }))).toBe('impaired');
  });

  it('says quiet rather than impaired when results have stopped altogether (the worse of the two)', () => {
    expect(probesState(facts({ lastResultAt: NOW - 13_000, impaired: 'x' }))).toBe('quiet');
  });

  it('still says impaired for an estate of fleets only (nothing probed, the server itself stalled)', () => {
    expect(probesState(facts({ probedChecks: 0, impaired: "Pulse's server: the server stalled for 40 s" }))).toBe('impaired');
    expect(probesState(facts({ probedChecks: 0 }))).toBe('ok');
  });
});

describe('readiness', () => {
  it('reports an impaired view but stays ready: the dashboards must still be served to say why', () => {
    const why = "Pulse's probes in local are overloaded: 4.6 s behind";
    expect(readiness(facts({ impaired: why }))).toEqual({ ready: true, reasons: [], impaired: why });
  });

  it('is not ready with the store closed or no worker, and names each reason', () => {
    const r = readiness(facts({ storeOpen: false, workers: 0 }));
    expect(r.ready).toBe(false);
    expect(r.reasons).toEqual(['the store is not open', 'no probe worker is connected']);
  });
});
