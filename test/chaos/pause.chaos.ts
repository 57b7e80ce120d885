// Pause: the Pulse server is stopped for 40 s (SIGSTOP — a long GC pause, a VM migration, a
// swap storm) and resumed. Its workers and the workstation agents carried on; Pulse did not
// read their heartbeats. Expected: no practice shown down, no incident but Pulse's own, back to
// normal within two intervals.
import { afterAll, it } from 'vitest';
import { Observer, Stack, expectNone, expectReached, isNormal, pause, report } from './harness';

const PAUSE_MS = 40_000;
let stack: Stack | undefined;
afterAll(async () => stack?.close());

it('a server paused for 40 s shows no practice down and opens no incident for the estate', async () => {
  stack = await Stack.start({ name: 'pause', practices: 100, agents: { interval: '10s', perPractice: [3, 8] } });
  await new Observer(stack).steady();

  const obs = new Observer(stack).start();
  obs.faultStarted();
  await pause(stack.pulse!.pid, PAUSE_MS);
  obs.faultEnded();
  const twoIntervals = 2 * stack.intervalMs;
  const recovered = await obs.waitFor('normal again', twoIntervals + 2_000, isNormal).catch((err: Error) => err);
  // Keep watching for as long again: the false downs came seconds after the resume.
  await new Promise((r) => setTimeout(r, twoIntervals));
  await obs.poll();
  obs.stop();

  const m = obs.measure();
  report(m, { paused: `${PAUSE_MS / 1000} s`, 'two intervals': `${twoIntervals / 1000} s` });
  expectNone(m.storedDown, 'practices that went down');
  expectNone(m.shownDown, 'practices shown down');
  expectNone(m.servicesDown, 'services that went down');
  expectNone(m.otherIncidents.map((i) => `${i.kind}: ${i.title}`), 'incidents besides Pulse’s own');
  expectReached(recovered, 'back to normal within two intervals');
});
