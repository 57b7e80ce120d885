// The live feed against a real server: a wall-display link on a socket that never reads
// sends thousands of resyncs, and the server's queue for it stays bounded (the hub's buffer
// limit plus one message), and it still gets a snapshot once it reads again; a burst of 300
// connections all get their snapshot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LiveServerMessage } from '../../../server/live/protocol';
import { startStack, type Stack } from '../../helpers/stack';
import { waitFor } from '../../helpers/wait';

let stack: Stack;
let url: string;

beforeAll(async () => {
  stack = await startStack({ seed: 31, localWorkers: 0 });
  const { secret } = await stack.pulse.store.accounts.createToken({ kind: 'display', name: 'wall', icb: null, createdBy: 'test', now: Date.now() });
  url = `${stack.pulse.url.replace(/^http/, 'ws')}/ws?display=${secret}`;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** `from`: the loopback address to connect from (one address may hold at most 200 feeds). */
function open(from = '127.0.0.1'): { ws: WebSocket; messages: LiveServerMessage[]; opened: Promise<void> } {
  const ws = new WebSocket(url, { localAddress: from });
  const messages: LiveServerMessage[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveServerMessage));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, opened };
}

describe('the live feed under a reader that never reads', { timeout: 120_000 }, () => {
  it('keeps what it queues for that socket bounded however many resyncs arrive, and closes it for flooding (4429)', async () => {
    const hub = stack.pulse.pulse.hub;
    const { ws, messages, opened } = open();
    await opened;
    await waitFor('the first snapshot', () => messages.some((m) => m.type === 'snapshot'));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    let most = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1_000; i++) ws.send('{"type":"resync"}');
      await new Promise((r) => setTimeout(r, 10));
      most = Math.max(most, hub.maxBufferedBytes());
    }
    // Before the fix each resync queued a snapshot: 20,000 of them, hundreds of MiB.
    expect(most).toBeLessThan(4 * 1024 * 1024 + 512 * 1024);
    raw.resume();
    expect(await closed).toBe(4429);
    await waitFor('the hub to let it go', () => hub.size === 0);
  });

  it('closes a connection that floods resyncs with code 4429 and a reason', async () => {
    const { ws, opened } = open();
    await opened;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    for (let i = 0; i < 500; i++) ws.send('{"type":"resync"}');
    expect(await closed).toEqual({ code: 4429, reason: expect.stringMatching(/too many messages/) });
  });

  it('serves every socket of a burst of 300 (from two addresses) its snapshot, and refuses the 201st from one address with 429', async () => {
    const sockets = Array.from({ length: 300 }, (_, i) => open(i % 2 === 0 ? '127.0.0.1' : '127.0.0.2'));
    await Promise.all(sockets.map((s) => s.opened));
    await waitFor('every snapshot', () => sockets.every((s) => s.messages.some((m) => m.type === 'snapshot')), 60_000);
    const extra = Array.from({ length: 51 }, () => open('127.0.0.2'));
    const outcomes = await Promise.all(extra.map((s) => s.opened.then(() => 'open', (err: Error) => err.message)));
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(50);
    expect(outcomes.filter((o) => o !== 'open')).toEqual(['Unexpected server response: 429']);
    for (const s of [...sockets, ...extra]) s.ws.close();
  });
});
