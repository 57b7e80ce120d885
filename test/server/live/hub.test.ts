// The hub against a fake socket whose queue (bufferedAmount) grows with every send and only
// drains when the test says so: a reader that never reads. Snapshots obey the buffer limit,
// resyncs are coalesced to one snapshot a second per connection, and a flood is closed.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { LiveHub, type LiveHubOptions } from '../../../server/live/hub';
import type { LiveServerMessage, PracticeView } from '../../../server/live/protocol';
import { waitFor } from '../../helpers/wait';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  /** Whole messages, fragments joined. */
  messages: LiveServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private partial = '';
  send(data: string | Buffer, options?: { fin?: boolean }): void {
    this.bufferedAmount += Buffer.byteLength(data);
    this.partial += String(data);
    if (options?.fin === false) return;
    this.messages.push(JSON.parse(this.partial) as LiveServerMessage);
    this.partial = '';
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.readyState = 3;
    this.emit('close');
  }
  terminate(): void {
    this.close(1006, '');
  }
  resync(): void {
    this.emit('message', Buffer.from('{"type":"resync"}'));
  }
  snapshots(): number {
    return this.messages.filter((m) => m.type === 'snapshot').length;
  }
}

const COUNTS = { up: 2, degraded: 0, down: 0, unknown: 0, suspected: 0, recovering: 0, maintenance: 0, backup: 0, total: 2 };

const practice = (ods: string, icb: string): PracticeView => ({
  ods, name: ods, pcn: 'p', icb, system: 'emis-web', status: 'up', cause: null, mode: 'normal', since: '2026-01-01T00:00:00.000Z',
});

function setup(overrides: Partial<LiveHubOptions> = {}) {
  let now = 0;
  let builds = 0;
  const practices = [practice('A1', 'x'), practice('B1', 'y')];
  const limited: string[] = [];
  const hub = new LiveHub({
    heartbeatMs: 5_000,
    bufferLimitBytes: 2_000,
    snapshot: () => {
      builds++;
      return { practices, services: [], counts: COUNTS, incidents: [] };
    },
    allPractices: () => practices,
    incidentPractices: () => [],
    now: () => now,
    onLimited: (what) => limited.push(what),
    ...overrides,
  });
  const attach = (sees: ((ods: string) => boolean) | null = null, key = 'all') => {
    const ws = new FakeSocket();
    hub.attach(ws as unknown as WebSocket, sees ? { key, sees } : null);
    return ws;
  };
  return { hub, attach, limited, builds: () => builds, advance: (ms: number) => (now += ms) };
}

describe('LiveHub snapshots and resyncs', () => {
  it('queues no snapshot on a socket over the buffer limit, however many resyncs come; one follows once it drains', async () => {
    const { hub, attach, limited, advance } = setup({ resyncFloodLimit: 1_000_000 });
    const ws = attach();
    await waitFor('the first snapshot', () => ws.snapshots() === 1);
    ws.bufferedAmount = 10_000; // the reader stopped reading
    for (let i = 0; i < 20_000; i++) {
      ws.resync();
      if (i % 1000 === 0) advance(1_000);
    }
    await new Promise((r) => setTimeout(r, 1_200));
    expect(ws.snapshots()).toBe(1);
    expect(ws.bufferedAmount).toBe(10_000);
    expect(limited).toContain('snapshot-deferred');
    ws.bufferedAmount = 0; // drained
    advance(5_000);
    hub.heartbeat();
    await waitFor('a snapshot after draining', () => ws.snapshots() === 2);
  });

  it('answers a burst of resyncs with one snapshot now and one coalesced snapshot after a second', async () => {
    const { attach, limited } = setup();
    const ws = attach();
    await waitFor('the first snapshot', () => ws.snapshots() === 1);
    for (let i = 0; i < 10; i++) ws.resync();
    await waitFor('a coalesced snapshot', () => ws.snapshots() === 2, 5_000);
    await new Promise((r) => setTimeout(r, 1_300));
    expect(ws.snapshots()).toBe(2);
    expect(limited.filter((l) => l === 'resync-coalesced').length).toBeGreaterThan(0);
    expect(ws.closed).toBeNull();
  });

  it('closes a connection that floods far beyond the resync limit, with a code and reason', () => {
    const { attach, limited } = setup({ resyncFloodLimit: 100 });
    const ws = attach();
    for (let i = 0; i < 200; i++) ws.resync();
    expect(ws.closed).toEqual({ code: 4429, reason: expect.stringMatching(/too many messages/) });
    expect(limited).toContain('flood-closed');
  });

  it('builds and serialises one snapshot per change for many connections, one per scope key', async () => {
    const { hub, attach, builds } = setup();
    const all = Array.from({ length: 50 }, () => attach());
    const xs = Array.from({ length: 20 }, () => attach((ods) => ods.startsWith('A'), 'icb:x'));
    await waitFor('every snapshot', () => [...all, ...xs].every((ws) => ws.snapshots() === 1));
    expect(builds()).toBe(1);
    const x = xs[0]!.messages.find((m) => m.type === 'snapshot');
    expect(x?.type === 'snapshot' && x.practices.map((p) => p.ods)).toEqual(['A1']);
    expect(x?.type === 'snapshot' && x.counts.total).toBe(1);
    // Each connection still numbers its own messages.
    expect(all.every((ws) => ws.messages[1]?.type === 'snapshot' && ws.messages[1].seq === 1)).toBe(true);
    hub.publish({ practices: [practice('A1', 'x')], services: [], counts: COUNTS, incidents: [] });
    const late = attach();
    await waitFor('a late snapshot', () => late.snapshots() === 1);
    expect(builds()).toBe(2);
  });

  it('sends no delta ahead of a queued snapshot: the snapshot, built after it, carries the change', async () => {
    const { hub, attach } = setup();
    const ws = attach();
    hub.publish({ practices: [practice('A1', 'x')], services: [], counts: COUNTS, incidents: [] });
    await waitFor('the snapshot', () => ws.snapshots() === 1);
    expect(ws.messages.map((m) => m.type)).toEqual(['hello', 'snapshot']);
  });
});
