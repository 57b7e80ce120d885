// Scenarios fail what they say, end on the injected clock, and undo only their own faults.
import { afterEach, describe, expect, it } from 'vitest';
import { PARTIAL_SLOW_MS, startSimulator, type Simulator } from '../../../server/simulator';
import { waitFor } from '../../helpers/wait';
import { errorCode, FakeClock, get } from './helpers';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const url = (s: Simulator, id: string) => s.services.find((x) => x.id === id)!.url;

describe('simulator scenarios', () => {
  it('emis-web-outage closes EMIS Web until the clock passes durationMs, then restores it', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('emis-web-outage', { durationMs: 120_000 });
    expect(await errorCode(get(url(sim, 'emis-web')))).toBe('ECONNREFUSED');
    expect(sim.faults()['service:emis-web']).toEqual({
      mode: 'down', source: 'scenario:emis-web-outage', until: clock.now() + 120_000,
    });

    clock.advance(119_999);
    await sim.settled();
    expect(await errorCode(get(url(sim, 'emis-web')))).toBe('ECONNREFUSED');

    clock.advance(1);
    await sim.settled();
    expect((await get(url(sim, 'emis-web'))).status).toBe(200);
    expect(sim.faults()).toEqual({});
    expect(sim.scenarios().every((x) => x.runningUntil === null)).toBe(true);
  });

  it('emis-web-outage lasts 3 minutes by default', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('emis-web-outage');
    clock.advance(3 * 60_000 - 1);
    expect(sim.faults()['service:emis-web']?.mode).toBe('down');
    clock.advance(1);
    await sim.settled();
    expect(sim.faults()).toEqual({});
  });

  it('bad-endpoint-update silences ~70% of gateways, the same ones for the same seed', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock, seed: 7 });
    await sim.play('bad-endpoint-update');
    const hit = Object.entries(sim.faults());
    expect(hit.length).toBe(Math.round(sim.practices.length * 0.7));
    expect(hit.every(([target, f]) => target.startsWith('practice:') && (f.mode === 'hang' || f.mode === 'down'))).toBe(true);

    const reset = hit.find(([, f]) => f.mode === 'down')!;
    const practice = sim.practices.find((p) => `practice:${p.ods}` === reset[0])!;
    expect(await errorCode(get(practice.gatewayUrl))).toBe('ECONNRESET');
    const healthy = sim.practices.find((p) => !(`practice:${p.ods}` in sim!.faults()))!;
    expect((await get(healthy.gatewayUrl)).status).toBe(200);

    const first = hit.map(([t]) => t);
    await sim.close();
    sim = await startSimulator({ clock, seed: 7 });
    await sim.play('bad-endpoint-update');
    expect(Object.keys(sim.faults())).toEqual(first);
  });

  it('emis-web-partial keeps EMIS Web up but answering only after the configured delay, for 3 minutes by default', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('emis-web-partial');
    expect(sim.faults()).toEqual({
      'service:emis-web': { mode: 'slow', ms: PARTIAL_SLOW_MS, source: 'scenario:emis-web-partial', until: clock.now() + 3 * 60_000 },
    });
    expect(PARTIAL_SLOW_MS).toBeGreaterThan(1_000); // above the estate's degradedAfter: degraded, not down

    let answered: number | null = null;
    const started = clock.now();
    const reply = get(url(sim, 'emis-web')).then((res) => {
      answered = clock.now();
      return res;
    });
    await waitFor('the request to reach EMIS Web', () => clock.pending === 2); // scenario end + the slow reply
    clock.advance(PARTIAL_SLOW_MS - 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBeNull();
    clock.advance(1);
    expect((await reply).status).toBe(200);
    expect(answered! - started).toBeGreaterThanOrEqual(PARTIAL_SLOW_MS);
    // Other clinical systems are untouched.
    expect((await get(url(sim, 'systmone'))).status).toBe(200);

    clock.advance(3 * 60_000);
    await sim.settled();
    expect(sim.faults()).toEqual({});
  });

  it('emis-web-partial answers after at least the delay on the real clock too', async () => {
    sim = await startSimulator();
    await sim.play('emis-web-partial', { durationMs: 60_000 });
    const t0 = performance.now();
    expect((await get(url(sim, 'emis-web'))).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(PARTIAL_SLOW_MS - 5);
  });

  it('national-service-slow slows Spine by 5 s; systmone-contingency answers 503', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('national-service-slow');
    await sim.play('systmone-contingency');
    expect(sim.faults()['service:spine']).toMatchObject({ mode: 'slow', ms: 5_000 });
    expect((await get(url(sim, 'systmone'))).status).toBe(503);
  });

  it('ending one scenario leaves another scenario and an operator fault in place', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.fail('service:eps', 'error');
    await sim.play('systmone-contingency', { durationMs: 10_000 });
    await sim.play('emis-web-outage', { durationMs: 60_000 });

    clock.advance(10_000);
    await sim.settled();
    expect(Object.keys(sim.faults()).sort()).toEqual(['service:emis-web', 'service:eps']);
    expect((await get(url(sim, 'systmone'))).status).toBe(200);

    clock.advance(50_000);
    await sim.settled();
    expect(Object.keys(sim.faults())).toEqual(['service:eps']);
    expect((await get(url(sim, 'emis-web'))).status).toBe(200);
  });

  it('an operator fault laid over a scenario outlives the scenario', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('emis-web-outage', { durationMs: 1_000 });
    await sim.fail('service:emis-web', 'error', { status: 503 });
    expect((await get(url(sim, 'emis-web'))).status).toBe(503);
    clock.advance(1_000);
    await sim.settled();
    expect(sim.faults()['service:emis-web']).toEqual({ mode: 'error', status: 503, source: 'manual' });
  });

  it('restoreAll stops running scenarios and their timers', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.play('emis-web-outage');
    await sim.play('bad-endpoint-update');
    await sim.restoreAll();
    expect(sim.faults()).toEqual({});
    expect(clock.pending).toBe(0);
    expect((await get(url(sim, 'emis-web'))).status).toBe(200);
  });

  it('rejects an unknown scenario by name', async () => {
    sim = await startSimulator();
    expect(() => sim!.play('meteor-strike')).toThrow(/name: no scenario "meteor-strike"/);
  });
});
