// Restart reporting: Pulse is killed with -9 and started again over the same data folder.
// Before (issue 14), every check was reporting again only 39 s after the restart at a 30 s
// interval: the new workers' schedulers put each check's first run at its usual phase, up to
// a whole interval after they were assigned it, on top of the workers' start. Expected: a
// worker assigned checks that have not run on it catches them up within the first part of
// the interval (probes/scheduler.ts catchUpFraction), so every check reports again within one
// interval of Pulse listening.
//
// What is asserted does not depend on the machine's load: the latest first run each worker
// *scheduled* after its assignment (it logs it) lies within one interval. The wall time from
// listening to every check's result is printed with its target, met / NOT met: on a starved
// machine the workers' start can take longer, and that is measured, not asserted.
import { afterAll, expect, it } from 'vitest';
import { Stack, until } from './harness';

const INTERVAL = '10s';
let stack: Stack | undefined;
afterAll(async () => stack?.close());

interface CheckState {
  id: string;
  lastResultAt: string | null;
}

const checksOf = async (s: Stack) => (await s.api.get<{ checks: CheckState[] }>('/api/checks', 5_000)).checks;

/** The `assigned N check(s); … first runs within X s` lines workers logged since `from` (a log offset). */
function firstRunLines(log: string): { checks: number; added: number; firstRunsWithinMs: number }[] {
  const out: { checks: number; added: number; firstRunsWithinMs: number }[] = [];
  for (const m of log.matchAll(/pulse worker: assigned (\d+) check\(s\); (\d+) new, first runs within (\d+(?:\.\d+)?) s/g)) {
    out.push({ checks: Number(m[1]), added: Number(m[2]), firstRunsWithinMs: Number(m[3]) * 1000 });
  }
  return out;
}

it('after kill -9 and a restart over the same data, every check reports again within one interval of listening', async () => {
  stack = await Stack.start({ name: 'restart-reporting', practices: 40, workers: 2, checkInterval: INTERVAL, checkTimeout: '2s' });
  const intervalMs = stack.checkIntervalMs;
  // Steady first: every check has reported.
  let unreported: string[] = [];
  await until('every check to have reported', 6 * intervalMs + 60_000, async () => {
    const checks = await checksOf(stack!).catch(() => []);
    unreported = checks.filter((c) => c.lastResultAt === null).map((c) => c.id);
    return checks.length > 0 && unreported.length === 0;
  }).catch((err: Error) => {
    throw new Error(`${err.message}: not yet ${unreported.slice(0, 10).join(', ')}\n${stack!.pulse!.tail(30)}`);
  });
  const checkCount = (await checksOf(stack)).length;

  const old = stack.pulse!;
  process.kill(old.pid, 'SIGKILL');
  await old.exited;
  const logFrom = old.log().length; // the restarted Pulse appends to the same log
  const restartedAt = Date.now();
  const started = stack.startPulse();
  // "Listening": the first /healthz answer (polled every 200 ms, so at most that late).
  await started;
  const listeningAt = Date.now();

  // Every check with a result the restarted Pulse received (the server stamps its receive time).
  const reported = await until(
    'every check to report again after the restart',
    6 * intervalMs + 60_000,
    async () => {
      const checks = await checksOf(stack!).catch(() => null);
      if (!checks) return null;
      const fresh = checks.filter((c) => c.lastResultAt !== null && Date.parse(c.lastResultAt) > restartedAt);
      return fresh.length === checks.length ? Date.now() : null;
    },
    100,
  ).catch((err: Error) => err);
  const log = stack.pulse!.log().slice(logFrom);
  const lines = firstRunLines(log);
  const workersUp = log.match(/pulse worker: connected to/g)?.length ?? 0;

  const wallMs = reported instanceof Error ? null : reported - listeningAt;
  const scheduledMs = lines.length > 0 ? Math.max(...lines.map((l) => l.firstRunsWithinMs)) : null;
  const met = wallMs !== null && wallMs <= intervalMs;
  process.stdout.write(
    `chaos[restart-reporting]: ${checkCount} checks at ${INTERVAL}, 2 local workers; ` +
      `restart → listening ${((listeningAt - restartedAt) / 1000).toFixed(1)} s; ` +
      `listening → every check reported ${wallMs === null ? 'never' : `${(wallMs / 1000).toFixed(1)} s`} ` +
      `(target ≤ one interval, ${intervalMs / 1000} s: ${met ? 'met' : 'NOT met'}); ` +
      `latest first run a worker scheduled after its assignment: ${scheduledMs === null ? 'not logged' : `${(scheduledMs / 1000).toFixed(1)} s`}; ` +
      `${workersUp} worker connection(s)\n`,
  );
  if (reported instanceof Error || lines.length === 0) process.stdout.write(`--- pulse log since the restart ---\n${log.split('\n').slice(-40).join('\n')}\n`);

  expect(reported, 'every check reported again after the restart').not.toBeInstanceOf(Error);
  // Each assignment that brought a worker checks it had not run put their first runs within
  // the interval (the catch-up window is a fifth of it; the rest is margin for the tick).
  expect(lines.length, 'workers logging their assignments with first-run times').toBeGreaterThan(0);
  for (const line of lines) expect(line.firstRunsWithinMs, `first runs of ${line.added} new check(s)`).toBeLessThanOrEqual(intervalMs);
  expect(lines.reduce((n, l) => n + l.added, 0), 'checks assigned after the restart').toBeGreaterThanOrEqual(checkCount);
}, 6 * 60_000);
