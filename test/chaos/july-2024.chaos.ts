// July 2024: the simulator's bad-endpoint-update — 70% of practices hit, their gateways hanging
// or resetting and 70% of their workstation agents silent, the agents that had taken channel
// file C-00000291. Expected: exactly one open incident for the event (the endpoint-failure
// incident, not one per practice and PCN), naming the workstations and the shared software
// version — and no per-practice or per-PCN incident opened on the way; it resolves once the
// estate heals.
import { afterAll, expect, it } from 'vitest';
import { BAD_CHANNEL_FILE } from '../../server/simulator';
import { Observer, Stack, expectReached, report, sleep, type IncidentRow } from './harness';

let stack: Stack | undefined;
afterAll(async () => stack?.close());

it('bad-endpoint-update is one open incident naming the silent workstations and channel file C-00000291', async () => {
  stack = await Stack.start({ name: 'july-2024', practices: 120, agents: { interval: '10s', perPractice: [4, 10], software: true } });
  await new Observer(stack).steady();

  const obs = new Observer(stack).start();
  obs.faultStarted();
  await stack.simApi.post('/scenarios/bad-endpoint-update', { durationMs: 5 * 60_000 });
  const fleetMs = stack.fleetIntervalMs!;
  // Agents count as silent after silentAfter (3) fleet intervals; gateways fail over two check intervals.
  const judgedMs = 3 * fleetMs + 2 * stack.checkIntervalMs;
  const event = (i: IncidentRow) => i.kind !== 'pulse';
  const found = await obs
    .waitFor('one open incident for the event naming the channel file', judgedMs + 4 * stack.checkIntervalMs, (s) => {
      const open = s.open.filter(event);
      return open.length === 1 && JSON.stringify(open[0]).includes(BAD_CHANNEL_FILE);
    })
    .catch((err: Error) => err);
  // Then two more intervals: what is open must stay one incident while the event goes on.
  await sleep(2 * stack.intervalMs);
  const during = (await obs.poll()) ?? obs.last!;
  const open = during.open.filter(event);
  const details = await Promise.all(open.slice(0, 3).map((i) => stack!.api.get<Record<string, unknown>>(`/api/incidents/${i.id}`)));
  const text = JSON.stringify(details[0] ?? {});
  const peakOpen = Math.max(0, ...obs.samples.map((s) => s.open.filter(event).length));
  const openedForEvent = [...obs.incidents.values()].filter(event);

  obs.faultEnded();
  await stack.simApi.delete('/faults');
  const healed = await obs.waitFor('every incident resolved once the estate heals', 3 * stack.intervalMs + 2_000, (s) => s.open.length === 0).catch((err: Error) => err);
  obs.stop();

  const m = obs.measure();
  report(m, {
    'open for the event after it settled': open.length,
    'most open at once': peakOpen,
    'opened for the event': openedForEvent.length,
    'names workstations': String(/workstation/i.test(text)),
    [`names ${BAD_CHANNEL_FILE}`]: String(text.includes(BAD_CHANNEL_FILE)),
  });
  for (const i of open.slice(0, 6)) process.stdout.write(`  open: ${i.kind} "${i.title}"${i.finding ? ` — ${i.finding}` : ''}\n`);
  expectReached(found, 'one open incident for the event naming the channel file');
  expect.soft(open.map((i) => `${i.kind}: ${i.title}`), 'open incidents for the event once it settled').toHaveLength(1);
  // Folded incidents are listed in the one, not opened first and folded later: every opening is an alarm.
  expect.soft(openedForEvent.map((i) => `${i.kind}: ${i.title}`), 'incidents opened for the event').toHaveLength(1);
  expect.soft(open[0]?.kind, 'its kind').toBe('endpoints');
  expect.soft(text, 'it names the silent workstations').toMatch(/workstation/i);
  expect.soft(text, 'it names the software they share').toContain(BAD_CHANNEL_FILE);
  expectReached(healed, 'resolved once the estate heals');
});
