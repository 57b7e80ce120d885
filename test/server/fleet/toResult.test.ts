import { describe, expect, it } from 'vitest';
import { fleetCheckId, fleetResult } from '../../../server/fleet/toResult';
import type { FleetStatus } from '../../../server/fleet/status';

const AT = 1_721_362_140_000;
const status = (s: FleetStatus['status'], detail: string): FleetStatus => ({
  status: s,
  agents: 20,
  silent: 0,
  expected: null,
  shareSilent: 0,
  detail,
});

describe('fleet status as a check result', () => {
  it('names the check after the practice', () => {
    expect(fleetCheckId('A81001')).toBe('A81001-fleet');
  });
  it('up → ok, with the detail', () => {
    expect(fleetResult('A81001', status('up', 'all 20 workstations reporting'), AT)).toEqual({
      checkId: 'A81001-fleet',
      at: AT,
      location: 'push',
      latencyMs: 0,
      ok: true,
      detail: 'all 20 workstations reporting',
    });
  });
  it('degraded → ok, degraded saying why', () => {
    const detail = '5 of 20 workstations silent (25%), degraded at 20%';
    expect(fleetResult('A81001', status('degraded', detail), AT)).toEqual({
      checkId: 'A81001-fleet',
      at: AT,
      location: 'push',
      latencyMs: 0,
      ok: true,
      detail,
      degraded: detail,
    });
  });
  it('down → a failed assertion with the detail', () => {
    const detail = '14 of 20 workstations silent (70%), down at 50%';
    expect(fleetResult('A81001', status('down', detail), AT)).toEqual({
      checkId: 'A81001-fleet',
      at: AT,
      location: 'push',
      latencyMs: 0,
      ok: false,
      error: 'assertion',
      detail,
    });
  });
  it('unknown → no result at all: the engine’s staleness makes it unknown, never up', () => {
    expect(fleetResult('A81001', status('unknown', 'no workstation has reported yet'), AT)).toBeNull();
  });
  it('unknown because Pulse was not listening → a failure carrying impaired, for the engine to show as unknown with that text', () => {
    const text = 'Pulse was not listening for 40 s: workstation silence not witnessed';
    expect(fleetResult('A81001', { ...status('unknown', text), unwitnessed: 12, impaired: text }, AT)).toEqual({
      checkId: 'A81001-fleet',
      at: AT,
      location: 'push',
      latencyMs: 0,
      ok: false,
      error: 'assertion',
      detail: text,
      impaired: text,
    });
  });
});
