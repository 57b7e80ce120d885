// Starved worker: Pulse's probe worker gets 0.5 s of CPU in every 2.5 s (SIGSTOP/SIGCONT) for
// 3 minutes while a 300-practice estate runs. Its scheduler falls far behind its checks'
// timeouts: the overloaded Pulse that once reported a national outage. Expected: no practice
// shown down, no incident but Pulse's own self-incident (which must open), checks unknown at
// worst, and back to normal within two intervals of the worker getting its CPU back.
import { afterAll, expect, it } from 'vitest';
import { Observer, Stack, expectNone, expectReached, dutyCycle, isNormal, report } from './harness';

const STARVE_MS = 3 * 60_000;
const RUN_MS = 500;
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
  const cycles = await dutyCycle(() => stack!.workerPids(), { runMs: RUN_MS, periodMs: PERIOD_MS, durationMs: STARVE_MS });
  obs.faultEnded();
  const twoIntervals = 2 * stack.intervalMs;
  const recovered = await obs.waitFor('normal again', twoIntervals + 2_000, isNormal).catch((err: Error) => err);
  obs.stop();

  const m = obs.measure();
  report(m, { starved: `${STARVE_MS / 1000} s at ${RUN_MS} ms in ${PERIOD_MS} ms`, cycles, 'two intervals': `${twoIntervals / 1000} s` });
  expectNone(m.storedDown, 'practices that went down');
  expectNone(m.shownDown, 'practices shown down');
  expectNone(m.servicesDown, 'services that went down');
  expectNone(m.otherIncidents.map((i) => `${i.kind}: ${i.title}`), 'incidents besides Pulse’s own');
  expect.soft(m.incidentsByKind.pulse ?? 0, 'Pulse’s self-incident, opened once').toBe(1);
  expect.soft(m.detectMs, 'time until Pulse reported its own trouble').not.toBeNull();
  expectReached(recovered, 'back to normal within two intervals');
});
