// Service endpoints answer healthily, and each fault mode behaves as a real failure would.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../server/simulator';
import { errorCode, FakeClock, get, tcpConnect } from './helpers';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function service(s: Simulator, id: string) {
  const found = s.services.find((x) => x.id === id);
  if (!found) throw new Error(`no service ${id}`);
  return found;
}

describe('simulated services', () => {
  it('serves every fixed service on its own loopback port, healthy with 200 {"status":"pass"}', async () => {
    sim = await startSimulator({ practices: 60 });
    expect(sim.services.map((s) => s.id)).toEqual([
      'hscn', 'emis-web', 'systmone', 'vision', 'spine', 'eps', 'ers', 'gp-connect', 'nhs-111',
    ]);
    const ports = new Set(sim.services.map((s) => new URL(s.url).port));
    expect(ports.size).toBe(sim.services.length);
    for (const s of sim.services) {
      expect(new URL(s.url).hostname).toBe('127.0.0.1');
      const res = await get(s.url);
      expect(res.status, s.id).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ status: 'pass' });
      await expect(tcpConnect(s.tcp!)).resolves.toBe('connected');
    }
  });

  it('down closes the listener (connection refused), restore listens again on the same port', async () => {
    sim = await startSimulator();
    const emis = service(sim, 'emis-web');
    await sim.fail('service:emis-web', 'down');
    expect(await errorCode(get(emis.url))).toBe('ECONNREFUSED');
    expect(await errorCode(tcpConnect(emis.tcp!))).toBe('ECONNREFUSED');
    // Other services are untouched.
    expect((await get(service(sim, 'systmone').url)).status).toBe(200);

    await sim.restore('service:emis-web');
    expect(service(sim, 'emis-web').url).toBe(emis.url);
    expect((await get(emis.url)).status).toBe(200);
    expect(sim.faults()).toEqual({});
  });

  it('error answers 500 by default, or the status asked for', async () => {
    sim = await startSimulator();
    await sim.fail('service:spine', 'error');
    expect((await get(service(sim, 'spine').url)).status).toBe(500);
    await sim.fail('service:spine', 'error', { status: 503 });
    const res = await get(service(sim, 'spine').url);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'fail' });
  });

  it('slow answers 200 only once the delay has passed on the injected clock', async () => {
    const clock = new FakeClock();
    sim = await startSimulator({ clock });
    await sim.fail('service:eps', 'slow', { ms: 4_000 });
    let settled = false;
    const reply = get(service(sim, 'eps').url).finally(() => (settled = true));
    await waitFor(() => clock.pending === 1);
    clock.advance(3_999);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    clock.advance(1);
    expect((await reply).status).toBe(200);
  });

  it('hang accepts and never answers: a client timeout fires, and close() still ends promptly', async () => {
    sim = await startSimulator();
    await sim.fail('service:gp-connect', 'hang');
    const url = service(sim, 'gp-connect').url;
    expect(await errorCode(get(url, { timeoutMs: 200 }))).toBe('TIMEOUT');

    const stillWaiting = errorCode(get(url)); // no client timeout: only close() can end it
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await stillWaiting).toMatch(/ECONNRESET|socket hang up/);
    sim = undefined;
  });

  it('close() stops every listener it opened', async () => {
    sim = await startSimulator({ practices: 60 });
    const urls = [...sim.services.map((s) => s.url), sim.practices[0]!.gatewayUrl, `${sim.controlUrl}/faults`];
    await sim.close();
    sim = undefined;
    for (const url of urls) expect(await errorCode(get(url)), url).toBe('ECONNREFUSED');
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}
