// Starved server: the Pulse server process itself gets 0.5 s of CPU in every 2.5 s
// (SIGSTOP/SIGCONT) for 2 minutes; its probe worker and the workstation agents run freely.
// Heartbeats and results queue up unread between its slices. Expected: fleets and checks
// unknown at worst, never down; no incident but Pulse's own; back to normal within two
// intervals.
import { afterAll, it } from 'vitest';
import { Observer, Stack, expectNone, expectReached, dutyCycle, isNormal, report } from './harness';

const STARVE_MS = 2 * 60_000;
const RUN_MS = 500;
const PERIOD_MS = 2_500;
let stack: Stack | undefined;
afterAll(async () => stack?.close());

it('a server starved of CPU for 2 minutes shows nothing down and opens no incident for the estate', async () => {
  stack = await Stack.start({ name: 'starved-server', practices: 150, agents: { interval: '10s', perPractice: [3, 8] } });
  await new Observer(stack).steady();

  // Polls time out while the server is stopped: the observer counts them and carries on.
  const obs = new Observer(stack).start();
  obs.faultStarted();
  const pid = stack.pulse!.pid;
  const cycles = await dutyCycle(() => [pid], { runMs: RUN_MS, periodMs: PERIOD_MS, durationMs: STARVE_MS });
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
  expectReached(recovered, 'back to normal within two intervals');
});
