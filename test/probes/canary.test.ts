import { afterEach, describe, expect, it } from 'vitest';
import { CANARY_CHECK_ID, CANARY_HOST_KEY, CANARY_KIND, canaryKind, startCanary, type Canary } from '../../probes/canary';
import { Scheduler, hostOf, type RunResult } from '../../probes/scheduler';
import { SelfWatch } from '../../probes/self';
import { waitFor } from '../helpers/wait';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function canaryOn(intervalMs: number): Promise<Canary> {
  const canary = await startCanary({ intervalMs, timeoutMs: 1_000 });
  cleanups.push(() => canary.close());
  return canary;
}

describe('loopback canary', () => {
  it('listens on 127.0.0.1 only, on an ephemeral port, and answers the real http kind', async () => {
    const canary = await canaryOn(2_000);
    expect(canary.assignment).toMatchObject({
      id: CANARY_CHECK_ID,
      kind: CANARY_KIND,
      target: `http://127.0.0.1:${canary.port}/canary`,
      intervalMs: 2_000,
      timeoutMs: 1_000,
    });
    expect(canary.port).toBeGreaterThan(0);
    const options = canaryKind.options.parse({});
    const outcome = await canaryKind.run(canary.assignment.target, options, { signal: new AbortController().signal, timeoutMs: 1_000 });
    expect(outcome).toMatchObject({ ok: true, detail: 'status 200' });
  });

  it('run through the scheduler, makes the worker impaired once it stops answering', async () => {
    const canary = await canaryOn(200);
    const watch = new SelfWatch();
    watch.start();
    cleanups.push(() => watch.stop());
    const seen: RunResult[] = [];
    const scheduler = new Scheduler({
      kinds: { [CANARY_KIND]: canaryKind },
      hostOf: (a) => (a.id === CANARY_CHECK_ID ? CANARY_HOST_KEY : hostOf(a.target)),
      onResult: (result) => {
        seen.push(result);
        watch.recordCanary(result);
      },
    });
    cleanups.push(() => scheduler.stop());
    scheduler.setChecks([canary.assignment]);
    watch.expectCanary();

    const healthy = await waitFor('the canary to answer', () => watch.health(0).canary?.ok && watch.health(0), 10_000);
    expect(healthy).toMatchObject({ canary: { ok: true, detail: 'status 200' }, impaired: null });

    await canary.close();
    const impaired = await waitFor('the canary to fail', () => (watch.health(0).canary?.ok === false ? watch.health(0) : null), 10_000);
    expect(impaired.impaired).toBe('its loopback canary is not answering (refused)');
    expect(seen.every((r) => r.checkId === CANARY_CHECK_ID)).toBe(true);
  });
});
