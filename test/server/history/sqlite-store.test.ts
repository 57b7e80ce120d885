import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MinuteRollup } from '../../../server/history/rollup';
import type { MinuteRow } from '../../../server/history/types';
import { openDatabase } from '../../../server/store/sqlite/db';
import { SqliteStore } from '../../../server/store/sqlite';
import { SqliteHistoryStore } from '../../../server/store/sqlite/history';

const H = 3_600_000;
const M = 60_000;
const T = Date.UTC(2026, 0, 5, 9, 0, 0); // an hour boundary

const row = (checkId: string, minute: number, meanMs = 50, failures = 0, count = 2): MinuteRow => ({
  checkId,
  minute,
  count,
  failures,
  latency: failures < count ? { meanMs, maxMs: meanMs + 10 } : null,
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-history-'));
  dirs.push(dir);
  return dir;
}

describe('SQLite history store', () => {
  it('reads back the minutes it wrote, oldest first, within [from, to)', async () => {
    const store = new SqliteHistoryStore(openDatabase(':memory:'));
    await store.writeMinutes([row('a', T + 2 * M, 70), row('a', T, 50), row('b', T, 90), row('a', T + H + 5 * M, 60, 2)]);
    expect(await store.minutes('a', T, T + 2 * H)).toEqual([row('a', T, 50), row('a', T + 2 * M, 70), row('a', T + H + 5 * M, 60, 2)]);
    expect((await store.minutes('a', T + M, T + H + 5 * M)).map((r) => r.minute)).toEqual([T + 2 * M]);
    expect(await store.minutes('nobody', 0, T + 10 * H)).toEqual([]);
  });

  it('keeps earlier minutes of the hour across a restart and counts each result once', async () => {
    const dir = tempDir();
    const rollup = new MinuteRollup();
    const ok = (at: number, latencyMs: number) => ({ checkId: 'a', at, location: 'leeds', ok: true as const, latencyMs });

    let db = openDatabase(dir);
    let store = new SqliteHistoryStore(db);
    rollup.record(ok(T + 1_000, 40));
    rollup.record(ok(T + 31_000, 60));
    rollup.record(ok(T + M + 1_000, 100));
    await store.writeMinutes(rollup.drain(T + M + 5_000)); // minute 0 complete
    await store.writeMinutes(rollup.drainAll()); // shutdown mid-minute 1
    db.close();

    db = openDatabase(dir);
    store = new SqliteHistoryStore(db);
    const after = new MinuteRollup();
    after.record(ok(T + M + 40_000, 200)); // the rest of minute 1, after the restart
    after.record(ok(T + 2 * M + 1_000, 30));
    await store.writeMinutes(after.drain(T + 3 * M));

    expect(await store.minutes('a', T, T + H)).toEqual([
      { checkId: 'a', minute: T, count: 2, failures: 0, latency: { meanMs: 50, maxMs: 60 } },
      { checkId: 'a', minute: T + M, count: 2, failures: 0, latency: { meanMs: 150, maxMs: 200 } },
      { checkId: 'a', minute: T + 2 * M, count: 1, failures: 0, latency: { meanMs: 30, maxMs: 30 } },
    ]);
    db.close();
  });

  it('writes a batch all or nothing, and keeps no trace of a check first seen in a failed batch', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteHistoryStore(db);
    await store.writeMinutes([row('a', T)]);
    db.prepare("UPDATE history_open SET slots = x'0900'").run(); // a blob this version cannot read
    await expect(store.writeMinutes([row('new', T), row('a', T + M)])).rejects.toMatchObject({ code: 'BAD_HOUR_BLOB' });
    expect(await store.minutes('new', T, T + H)).toEqual([]);
    expect((db.prepare('SELECT count(*) AS n FROM history_checks').get() as { n: number }).n).toBe(1);
    await store.writeMinutes([row('new', T + 3 * M)]);
    expect(await store.minutes('new', T, T + H)).toEqual([row('new', T + 3 * M)]);
  });

  it('rejects malformed rows before writing anything', async () => {
    const store = new SqliteHistoryStore(openDatabase(':memory:'));
    await expect(store.writeMinutes([row('a', T), row('a', T + 1)])).rejects.toMatchObject({ code: 'BAD_MINUTE_ROW' });
    await expect(store.writeMinutes([{ ...row('a', T), failures: 3 }])).rejects.toMatchObject({ code: 'BAD_MINUTE_ROW' });
    await expect(store.writeMinutes([{ ...row('a', T), latency: null }])).rejects.toMatchObject({ code: 'BAD_MINUTE_ROW' });
    expect(await store.minutes('a', T, T + H)).toEqual([]);
  });

  it('seals finished hours into packed rows that read the same, and merges a late minute after', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteHistoryStore(db);
    const rows = Array.from({ length: 60 }, (_, i) => row('a', T + i * M, 40 + (i % 7)));
    await store.writeMinutes([...rows, row('a', T + H, 99)]);
    expect(await store.seal(T + H + 5 * M, 1)).toBe(1);
    expect(await store.seal(T + H + 5 * M)).toBe(0); // the current hour stays open
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    expect([count('history_hours'), count('history_open')]).toEqual([1, 1]);
    expect(await store.minutes('a', T, T + H)).toEqual(rows);

    await store.writeMinutes([row('a', T + 59 * M, 10, 0, 1)]); // a late result for the sealed hour
    const before = rows[59]!.latency!; // two results, mean 43 ms, max 53 ms
    const merged = { ...rows[59]!, count: 3, latency: { meanMs: (before.meanMs * 2 + 10) / 3, maxMs: before.maxMs } };
    expect(await store.minutes('a', T + 59 * M, T + H)).toEqual([merged]);
    await store.seal(T + H + 5 * M);
    expect(count('history_open')).toBe(1); // only the current hour
    const [late] = await store.minutes('a', T + 59 * M, T + H);
    expect(late).toEqual({ ...merged, latency: { meanMs: Math.round(merged.latency.meanMs), maxMs: merged.latency.maxMs } });
  });

  it('prunes whole hours that ended at or before the cut-off, in both tables', async () => {
    const store = new SqliteHistoryStore(openDatabase(':memory:'));
    await store.writeMinutes([row('a', T), row('a', T + H), row('a', T + 2 * H + 30 * M), row('b', T + 59 * M)]);
    await store.seal(T + 2 * H);
    expect(await store.prune(T + H + 30 * M)).toBe(2); // a and b in hour T
    expect((await store.minutes('a', 0, T + 3 * H)).map((r) => r.minute)).toEqual([T + H, T + 2 * H + 30 * M]);
    expect(await store.minutes('b', 0, T + 3 * H)).toEqual([]);
    expect(await store.prune(T + 3 * H)).toBe(2);
    expect(await store.minutes('a', 0, T + 3 * H)).toEqual([]);
  });

  it('builds a status timeline from the transitions table, ignoring changes of cause alone', async () => {
    const transitions = new SqliteStore(':memory:');
    const history = new SqliteHistoryStore(transitions.db);
    const s = 'practice:A81001' as const;
    await transitions.recordTransitions([
      { subject: s, from: 'unknown', to: 'up', cause: null, at: 1_000 },
      { subject: s, from: 'up', to: 'down', cause: null, at: 5_000 },
      { subject: s, from: 'down', to: 'down', cause: null, at: 6_000 },
      { subject: s, from: 'down', to: 'up', cause: null, at: 8_000 },
      { subject: 'practice:B86001', from: 'unknown', to: 'down', cause: null, at: 2_000 },
    ]);
    expect(await history.statusTimeline(s, 5_000, 9_000)).toEqual({
      subject: s,
      from: 5_000,
      to: 9_000,
      initial: 'down',
      changes: [{ at: 8_000, status: 'up' }],
    });
    expect(await history.statusTimeline(s, 0, 2_000)).toMatchObject({ initial: null, changes: [{ at: 1_000, status: 'up' }] });
    await transitions.close();
  });

  it('applies its migration once, so a second store on the same database works', async () => {
    const db = openDatabase(':memory:');
    await new SqliteHistoryStore(db).writeMinutes([row('a', T)]);
    expect(await new SqliteHistoryStore(db).minutes('a', T, T + M)).toEqual([row('a', T)]);
  });
});
