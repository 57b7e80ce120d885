// Lying worker: a probe worker with a valid worker token (made by an operator through POST
// /api/tokens) connects to /workers and lies — a result for a failing practice gateway stamped
// `at` = year 3000, and results claiming another location. Expected: the future-dated result is
// rejected and counted (pulse_worker_results_rejected_total{reason="future"}), it never pins
// the check up, no result lands under a location the connection did not say hello with, and
// revoking the token clears what the worker contributed.
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WORKER_PROTOCOL_VERSION } from '../../probes/protocol';
import { Observer, Stack, expectReached, sleep, until, type CheckRow, type PracticeRow } from './harness';

const LIAR = 'chaos-liar';
const YEAR_3000 = Date.UTC(3000, 0, 1);
let stack: Stack | undefined;
let ws: WebSocket | undefined;
afterAll(async () => {
  ws?.terminate();
  await stack?.close();
});

function rejectedFuture(metrics: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('pulse_worker_results_rejected_total') && l.includes('reason="future"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

it('a future-dated result is rejected, a claimed location is ignored, and revoking the token clears what the worker said', async () => {
  stack = await Stack.start({ name: 'lying-worker', practices: 12, agents: null });
  await new Observer(stack).steady();
  const api = stack.api;
  const ods = (await api.get<{ practices: PracticeRow[] }>('/api/practices?limit=100')).practices[0]!.ods;
  const checkId = `${ods}-gateway`;
  const check = async () => (await api.get<{ checks: CheckRow[] }>('/api/checks')).checks.find((c) => c.id === checkId)!;
  const practice = async () => (await api.get<PracticeRow>(`/api/practices/${ods}`)).status;

  // A real fault: the gateway resets every connection. Pulse's own worker sees it down.
  await stack.simApi.post('/faults', { target: `practice:${ods}`, mode: 'down' });
  await until(`${ods} down`, 4 * stack.checkIntervalMs, async () => (await practice()) === 'down', 500);

  const { token, secret } = await api.post<{ token: { id: number }; secret: string }>('/api/tokens', { kind: 'worker', name: 'Chaos lying worker' });
  ws = new WebSocket(`ws://127.0.0.1:${stack.port}/workers`, { headers: { authorization: `Bearer ${secret}` } });
  const assigned = new Promise<{ id: string }[]>((resolve, reject) => {
    ws!.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; checks?: { id: string }[] };
      if (msg.type === 'assign') resolve(msg.checks ?? []);
    });
    ws!.once('error', reject);
    ws!.once('close', (code, reason) => reject(new Error(`worker connection closed: ${code} ${String(reason)}`)));
  });
  const closed = new Promise<number>((resolve) => ws!.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws!.once('open', () => resolve());
    ws!.once('unexpected-response', (_req, res) => reject(new Error(`worker upgrade refused: ${res.statusCode}`)));
  });
  ws.send(JSON.stringify({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location: LIAR, pid: process.pid }));
  const checks = await Promise.race([assigned, sleep(10_000).then(() => [] as { id: string }[])]);
  expect.soft(checks.map((c) => c.id), 'the liar was assigned the practice’s gateway check').toContain(checkId);
  const send = (result: Record<string, unknown>) => ws!.readyState === WebSocket.OPEN && ws!.send(JSON.stringify({ type: 'results', results: [result] }));

  // Lie 1: "up", stamped year 3000.
  const before = rejectedFuture(await api.get<string>('/metrics'));
  send({ ok: true, checkId, at: YEAR_3000, latencyMs: 3, detail: 'status 200' });
  const rejected = await until('the future-dated result counted as rejected', 2 * stack.checkIntervalMs, async () => rejectedFuture(await api.get<string>('/metrics')) > before, 500).catch((err: Error) => err);
  // Honest results keep coming: over two intervals the check must still be down, not pinned up.
  await sleep(2 * stack.checkIntervalMs);
  const afterLie = await check();
  const statusAfterLie = await practice();

  // Lie 2: a current result claiming to come from Pulse's own location, and another from elsewhere.
  for (let i = 0; i < 3; i++) {
    send({ ok: true, checkId, at: Date.now(), latencyMs: 3, detail: 'status 200', location: 'local' });
    send({ ok: true, checkId, at: Date.now(), latencyMs: 3, detail: 'status 200', location: 'somewhere-else' });
    await sleep(1_000);
  }
  const claimed = await check();
  const liarSeen = claimed.locations.some((l) => l.location === LIAR);
  const localAfterClaim = claimed.locations.find((l) => l.location === 'local')?.status;

  // Revoke: the connection ends and what it contributed goes.
  await api.post(`/api/tokens/${token.id}/revoke`);
  const closedCode = await Promise.race([closed, sleep(3 * stack.checkIntervalMs).then(() => null)]);
  const cleared = await until('the liar’s location gone from the check', 2 * stack.checkIntervalMs, async () => !(await check()).locations.some((l) => l.location === LIAR), 500).catch((err: Error) => err);
  const final = await check();

  process.stdout.write(
    `chaos[lying-worker]: future result rejected ${!(rejected instanceof Error)}; check after the lie ${afterLie.status} (practice ${statusAfterLie}); ` +
      `locations after claiming others ${JSON.stringify(claimed.locations.map((l) => `${l.location}=${l.status}`))}; ` +
      `connection closed on revoke ${closedCode === null ? 'no' : `yes (${closedCode})`}; locations after revoke ${JSON.stringify(final.locations.map((l) => l.location))}\n`,
  );
  expectReached(rejected, 'the year-3000 result rejected and counted as future');
  expect.soft(afterLie.status, 'the gateway check two intervals after the lie').toBe('down');
  expect.soft(statusAfterLie, 'the practice two intervals after the lie').toBe('down');
  expect.soft(claimed.locations.map((l) => l.location).filter((l) => l !== 'local' && l !== LIAR), 'locations no connection said hello with').toEqual([]);
  expect.soft(localAfterClaim, 'Pulse’s own location, after the liar claimed it').toBe('down');
  expect.soft(liarSeen, 'the liar’s current results shown under its own location').toBe(true);
  expect.soft(closedCode, 'the connection closed on revoke').not.toBeNull();
  expectReached(cleared, 'what the revoked worker contributed cleared');
});
