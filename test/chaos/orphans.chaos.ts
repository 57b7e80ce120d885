// Orphans: Pulse killed with -9 sends its local probe workers no signal. Before, they kept
// probing for 30–50 s with a token no server would take again (issue 14). Expected: each
// worker notices its parent has gone (the IPC channel closes) and stops by itself.
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { Stack, childPids, until } from './harness';

let stack: Stack | undefined;
afterAll(async () => stack?.close());

/** Running (a zombie nobody has reaped yet has stopped probing: it counts as gone). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

it('local probe workers stop by themselves when the server is killed with -9', async () => {
  stack = await Stack.start({ name: 'orphans', practices: 5, workers: 2 });
  const pulse = stack.pulse!;
  const workers = await until('two local workers to be running', 60_000, () => {
    const pids = childPids(pulse.pid);
    return pids.length === 2 ? pids : null;
  });
  process.kill(pulse.pid, 'SIGKILL');
  await pulse.exited;
  // A generous bound for a loaded machine: the point is that they end, not how fast.
  const gone = await until('the orphaned workers to stop', 60_000, () => (workers.every((pid) => !alive(pid)) ? true : null)).catch((err: Error) => err);
  const left = workers.filter(alive);
  if (left.length > 0) process.stdout.write(`--- pulse log ---\n${pulse.tail(30)}\n`);
  process.stdout.write(`orphans: ${workers.length} workers, ${left.length} still running after the server was killed\n`);
  expect(left, 'workers still probing after their server was killed').toEqual([]);
  expect(gone).toBe(true);
}, 180_000);
