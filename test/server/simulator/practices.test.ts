// Practice gateways share one listener; each practice fails on its own.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../server/simulator';
import { errorCode, get } from './helpers';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('simulated practice gateways', () => {
  it('answers 200 for each practice on one shared port, 404 for an unknown ODS code', async () => {
    sim = await startSimulator();
    const ports = new Set(sim.practices.map((p) => new URL(p.gatewayUrl).port));
    expect(ports.size).toBe(1);
    const first = sim.practices[0]!;
    expect(first.gatewayUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/practices/${first.ods}/gateway$`));
    const res = await get(first.gatewayUrl);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'pass', ods: first.ods });
    expect((await get(first.gatewayUrl.replace(first.ods, 'Z99999'))).status).toBe(404);
  });

  it('down resets the connection for that practice only', async () => {
    sim = await startSimulator();
    const [a, b] = sim.practices;
    await sim.fail(`practice:${a!.ods}`, 'down');
    expect(await errorCode(get(a!.gatewayUrl))).toBe('ECONNRESET');
    expect((await get(b!.gatewayUrl)).status).toBe(200);
    await sim.restore(`practice:${a!.ods}`);
    expect((await get(a!.gatewayUrl)).status).toBe(200);
  });

  it('error and hang apply per practice', async () => {
    sim = await startSimulator();
    const [a, b] = sim.practices;
    await sim.fail(`practice:${a!.ods}`, 'error', { status: 503 });
    await sim.fail(`practice:${b!.ods}`, 'hang');
    expect((await get(a!.gatewayUrl)).status).toBe(503);
    expect(await errorCode(get(b!.gatewayUrl, { timeoutMs: 150 }))).toBe('TIMEOUT');
  });

  it('rejects an unknown target or a bad fault with an error naming the field', async () => {
    sim = await startSimulator();
    expect(() => sim!.fail('practice:Z99999', 'down')).toThrow(/target/);
    expect(() => sim!.fail('service:medicus', 'down')).toThrow(/target/);
    expect(() => sim!.fail('service:spine', 'error', { status: 200 })).toThrow(/status/);
    expect(() => sim!.fail('service:spine', 'down', { ms: 10 })).toThrow(/ms applies only to mode slow/);
  });
});
