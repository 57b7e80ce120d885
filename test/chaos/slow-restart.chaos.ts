// Slow restart: Pulse is stopped and started again, and the new process builds its app and
// restores its state but does not listen for 30 s (listen-delay.ts: a long restore, a slow
// disk). The workstation agents beat all along, into a closed port. Expected: no fleet — no
// practice — shown down once it listens (its grace period starts when it can hear heartbeats),
// no incident but Pulse's own, and normal within two intervals of listening.
import { afterAll, it } from 'vitest';
import { Observer, Stack, expectNone, expectReached, isNormal, report } from './harness';

const DELAY_MS = 30_000;
let stack: Stack | undefined;
afterAll(async () => stack?.close());

it('a Pulse that listens only 30 s after it starts shows no fleet down and opens no incident', async () => {
  stack = await Stack.start({ name: 'slow-restart', practices: 100, agents: { interval: '10s', perPractice: [3, 8] } });
  await new Observer(stack).steady();

  const stoppedAt = Date.now();
  await stack.stopPulse();
  const restart = stack.startPulse({ listenDelayMs: DELAY_MS });
  // The observer begins once it can sign in again, that is once Pulse listens.
  await restart;
  // Everything since the stop counts: the first ticks after listening come before the first poll.
  const obs = new Observer(stack, { since: stoppedAt }).start();
  obs.faultStarted(stoppedAt);
  obs.faultEnded();
  const twoIntervals = 2 * stack.intervalMs;
  const recovered = await obs.waitFor('normal after listening', twoIntervals + 2_000, isNormal).catch((err: Error) => err);
  // Fleet silence is judged over silentAfter (3) fleet intervals: watch that long too.
  await new Promise((r) => setTimeout(r, 3 * (stack!.fleetIntervalMs ?? 0)));
  await obs.poll();
  obs.stop();

  const m = obs.measure();
  report(m, { 'listen held back': `${DELAY_MS / 1000} s`, 'two intervals': `${twoIntervals / 1000} s` });
  const first = stack.storedTransitions(stoppedAt).find((t) => t.to === 'down' && t.subject.startsWith('practice:'));
  if (first) process.stdout.write(`  e.g. ${first.subject}: ${first.cause}\n`);
  expectNone(m.storedDown, 'practices that went down');
  expectNone(m.shownDown, 'practices shown down');
  expectNone(m.otherIncidents.map((i) => `${i.kind}: ${i.title}`), 'incidents besides Pulse’s own');
  expectReached(recovered, 'normal within two intervals of listening');
});
