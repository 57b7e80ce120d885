// Starved worker: Pulse's probe worker gets 0.2 s of CPU in every 2.5 s (SIGSTOP/SIGCONT) for
// 3 minutes while a 300-practice estate runs. Unstarved it needs ~0.1 CPU-s a second for this
// estate, so at 8% of a CPU its scheduler falls behind without end, far past its checks' 2 s
// timeout (0.5 s in 2.5 s, 20%, is enough for it on an idle 2-core machine: it only goes
// stale). That is the overloaded Pulse that once reported a national outage; the test prints
// the worker's peak lag so a run that failed to starve it shows as such. Expected: no practice
// shown down, no incident but Pulse's own self-incident (which must open), checks unknown at
// worst, and back to normal within two intervals of the worker getting its CPU back.
import { afterAll, expect, it } from 'vitest';
import { Observer, Stack, expectNone, expectReached, dutyCycle, isNormal, report, sleep } from './harness';

const STARVE_MS = 3 * 60_000;
const RUN_MS = 200;
const PERIOD_MS = 2_500;
let stack: Stack | undefined;
afterAll(async () => stack?.close());

it('a probe worker starved of CPU for 3 minutes shows nothing down and opens only Pulse’s self-incident', async () => {
  stack = await Stack.start({ name: 'starved-worker', practices: 300, agents: { interval: '10s', perPractice: [3, 8] } });
  await new Observer(stack).steady();
  const workers = stack.workerPids();
  expect(workers.length, 'Pulse’s local probe workers').toBeGreaterThan(0);

  const obs = new Observer(stack).start();
  obs.faultStarted();
  // The worker's own lag as the server last heard it (stats every second while it runs).
  let peakLagMs = 0;
  let starving = true;
  const lagWatch = (async () => {
    while (starving) {
      const w = await stack!.api.get<{ workers: { lagMs: number }[] }>('/api/workers').catch(() => ({ workers: [] }));
      for (const worker of w.workers) peakLagMs = Math.max(peakLagMs, worker.lagMs);
      await sleep(2_000);
    }
  })();
  const cycles = await dutyCycle(() => stack!.workerPids(), { runMs: RUN_MS, periodMs: PERIOD_MS, durationMs: STARVE_MS });
  obs.faultEnded();
  starving = false;
  await lagWatch;
  const twoIntervals = 2 * stack.intervalMs;
  const recovered = await obs.waitFor('normal again', twoIntervals + 2_000, isNormal).catch((err: Error) => err);
  obs.stop();

  const m = obs.measure();
  report(m, {
    starved: `${STARVE_MS / 1000} s at ${RUN_MS} ms in ${PERIOD_MS} ms`,
    cycles,
    'worker lag peak': `${(peakLagMs / 1000).toFixed(1)} s (check timeout ${stack.opts.checkTimeout ?? '2s'})`,
    'two intervals': `${twoIntervals / 1000} s`,
  });
  // Not Pulse's behaviour but the fault's: without it the test proves nothing.
  expect.soft(peakLagMs, 'the starved worker’s lag went past its checks’ timeout').toBeGreaterThan(2_000);
  expectNone(m.storedDown, 'practices that went down');
  expectNone(m.shownDown, 'practices shown down');
  expectNone(m.servicesDown, 'services that went down');
  expectNone(m.otherIncidents.map((i) => `${i.kind}: ${i.title}`), 'incidents besides Pulse’s own');
  expect.soft(m.incidentsByKind.pulse ?? 0, 'Pulse’s self-incident, opened once').toBe(1);
  expect.soft(m.detectMs, 'time until Pulse reported its own trouble').not.toBeNull();
  expectReached(recovered, 'back to normal within two intervals');
});
