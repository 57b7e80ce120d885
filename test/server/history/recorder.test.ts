import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { HistoryRecorder } from '../../../server/history/recorder';
import type { HistoryStore } from '../../../server/history/store';
import type { MinuteRow } from '../../../server/history/types';

const H = 3_600_000;
const M = 60_000;
const T = Date.UTC(2026, 0, 5, 9, 0, 0);
const ok = (checkId: string, at: number): CheckResult => ({ checkId, at, location: 'leeds', ok: true, latencyMs: 20 });

class FakeStore implements Pick<HistoryStore, 'writeMinutes' | 'seal'> {
  writes: MinuteRow[][] = [];
  seals: number[] = [];
  failNext = 0;
  openHours = 0;
  async writeMinutes(rows: readonly MinuteRow[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full');
    }
    this.writes.push([...rows]);
  }
  async seal(before: number, limit = 2_000): Promise<number> {
    this.seals.push(before);
    const n = Math.min(limit, this.openHours);
    this.openHours -= n;
    return n;
  }
}

function recorder(store: FakeStore, batchRows = 2_000) {
  const logged: string[] = [];
  const r = new HistoryRecorder({
    store: store as unknown as HistoryStore,
    batchRows,
    log: (_level, message) => logged.push(message),
  });
  return { r, logged };
}

describe('history recorder', () => {
  it('writes completed minutes once a minute however often it is flushed', async () => {
    const store = new FakeStore();
    const { r } = recorder(store);
    r.record([ok('a', T + 1_000), ok('b', T + 2_000)]);
    await r.flush(T + 30_000);
    r.record([ok('a', T + 61_000)]);
    await r.flush(T + 61_000);
    await r.flush(T + 62_000);
    await r.flush(T + 119_000);
    expect(store.writes.map((w) => w.map((row) => `${row.checkId}@${(row.minute - T) / M}`))).toEqual([['a@0', 'b@0']]);
    expect(r.recent.recent('a')).toHaveLength(2);
  });

  it('splits a large minute into batches, one transaction each', async () => {
    const store = new FakeStore();
    const { r } = recorder(store, 3);
    r.record(Array.from({ length: 7 }, (_, i) => ok(`c${i}`, T)));
    expect((await r.flush(T + M)).rows).toBe(7);
    expect(store.writes.map((w) => w.length)).toEqual([3, 3, 1]);
  });

  it('keeps the rows of a failed write for the next minute, and logs it', async () => {
    const store = new FakeStore();
    const { r, logged } = recorder(store);
    r.record([ok('a', T)]);
    store.failNext = 1;
    expect((await r.flush(T + M)).rows).toBe(0);
    expect(logged).toEqual(['could not store check minutes; keeping them for the next minute']);
    r.record([ok('a', T + M)]);
    expect((await r.flush(T + 2 * M)).rows).toBe(2);
    expect(store.writes.flat().map((row) => row.minute - T)).toEqual([0, M]);
  });

  it('seals the hours that ended five minutes ago, in batches, once an hour', async () => {
    const store = new FakeStore();
    const { r } = recorder(store, 2);
    await r.flush(T + H + 4 * M); // the 9:00 hour ended 4 minutes ago: not yet
    store.openHours = 5;
    await r.flush(T + H + 5 * M);
    await r.flush(T + H + 6 * M);
    expect(store.seals).toEqual([T, T + H, T + H, T + H]);
    expect(store.openHours).toBe(0);
  });

  it('logs a failed seal and leaves it to the next hour instead of retrying every tick', async () => {
    const store = new FakeStore();
    const { r, logged } = recorder(store);
    store.seal = async (before: number) => {
      store.seals.push(before);
      throw new Error('database is locked');
    };
    await r.flush(T + H + 5 * M);
    await r.flush(T + H + 6 * M);
    await r.flush(T + 2 * H + 5 * M);
    expect(store.seals).toEqual([T + H, T + 2 * H]);
    expect(logged).toEqual([
      'could not pack finished hours of check history; retrying next hour',
      'could not pack finished hours of check history; retrying next hour',
    ]);
  });

  it('writes the current, unfinished minute on close', async () => {
    const store = new FakeStore();
    const { r } = recorder(store);
    r.record([ok('a', T + 10_000)]);
    expect(await r.close()).toBe(1);
    expect(store.writes.flat()[0]).toMatchObject({ checkId: 'a', minute: T, count: 1 });
  });
});
