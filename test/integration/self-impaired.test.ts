// Pulse's own trouble end to end, real parts only: the real local probe worker is stopped
// (SIGSTOP) for 4 s mid-run, beside a healthy simulated estate. When it resumes it knows it
// stalled; the server's live feed then says `probes: 'impaired'` with why, in plain words, one
// `pulse:self` incident opens, and no practice is shown down for Pulse's own pause — the
// timeouts that fired while it was stopped are no evidence. Once the worker's window has
// passed, the feed says ok again and the self-incident resolves by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LiveServerMessage } from '../../server/live/protocol';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let stack: Stack;
let feed: WebSocket;
const heartbeats: Extract<LiveServerMessage, { type: 'heartbeat' }>[] = [];
let pid: number | undefined;

beforeAll(async () => {
  stack = await startStack({ seed: 23, interval: '500ms', timeout: '400ms' });
  const pulse = () => stack.pulse.pulse;
  await waitFor('every practice up', () => [...pulse().views.practices.values()].every((p) => p.status === 'up'), 30_000);
  const { secret } = await stack.pulse.store.accounts.createToken({ kind: 'display', name: 'wall', icb: null, createdBy: 'test', now: Date.now() });
  feed = new WebSocket(`${stack.pulse.url.replace(/^http/, 'ws')}/ws?display=${secret}`);
  feed.on('message', (data) => {
    const message = JSON.parse(String(data)) as LiveServerMessage;
    if (message.type === 'heartbeat') heartbeats.push(message);
  });
  await waitFor('a heartbeat', () => heartbeats.length > 0, 10_000);
}, 60_000);

afterAll(async () => {
  if (pid !== undefined) process.kill(pid, 'SIGCONT');
  feed?.close();
  await stack?.stop();
});

describe('a probe worker that stalls', { timeout: 90_000 }, () => {
  it('is Pulse’s own trouble on the live feed and one self-incident, never practices down; it clears by itself', async () => {
    const pulse = () => stack.pulse.pulse;
    const worker = await waitFor('a connected worker reporting its health', () => pulse().gateway.workers().find((w) => w.self !== null), 10_000);
    pid = worker.pid;
    let downSeen: string[] = [];
    const watch = setInterval(() => {
      for (const p of pulse().views.practices.values()) if (p.status === 'down') downSeen.push(`${p.ods}: ${p.cause}`);
    }, 50);
    try {
      process.kill(pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 4_000));
      process.kill(pid, 'SIGCONT');
      pid = undefined;

      const impaired = await waitFor(
        'the feed to say Pulse is impaired, and why',
        () => heartbeats.find((h) => h.probes === 'impaired' && /Pulse's probes in local are overloaded: .*stalled for/.test(h.impaired ?? '')),
        20_000,
      );
      expect(impaired.impaired).toMatch(/stalled for [4-9](\.\d)? s/);
      const own = pulse().incidents.open().filter((i) => i.kind === 'pulse');
      expect(own).toHaveLength(1);
      expect(own[0]!.affected).toEqual([]);
      expect(own[0]!.finding).toMatch(/Pulse's probes in local are overloaded/);

      await waitFor('the self-incident to resolve once the worker sees clearly again', () => !pulse().incidents.open().some((i) => i.kind === 'pulse'), 40_000);
      await waitFor('the feed to say ok again', () => heartbeats.at(-1)?.probes === 'ok', 10_000);
      await waitFor('every practice up again', () => [...pulse().views.practices.values()].every((p) => p.status === 'up'), 20_000);
    } finally {
      clearInterval(watch);
    }
    expect(downSeen, 'practices shown down for Pulse’s own pause').toEqual([]);
    expect(pulse().incidents.open().filter((i) => i.kind !== 'pulse')).toEqual([]);
    downSeen = [];
  });
});
