import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../server/store/sqlite';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SQLite store', () => {
  it('keeps transitions across a close and reopen, newest first, with their causes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
    dirs.push(dir);
    const store = new SqliteStore(join(dir, 'nested', 'data'));
    await store.recordTransitions([
      { subject: 'practice:A81001', from: 'unknown', to: 'up', cause: null, at: 1_000 },
      {
        subject: 'practice:A81001',
        from: 'up',
        to: 'down',
        cause: { kind: 'upstream', service: 'emis-web', impact: 'critical', status: 'down', via: null },
        at: 2_000,
      },
      { subject: 'practice:A81002', from: 'unknown', to: 'up', cause: null, at: 1_500 },
    ]);
    await store.close();

    const reopened = new SqliteStore(join(dir, 'nested', 'data'));
    const history = await reopened.transitionsOf('practice:A81001', 10);
    expect(history.map((t) => [t.from, t.to, t.at])).toEqual([
      ['up', 'down', 2_000],
      ['unknown', 'up', 1_000],
    ]);
    expect(history[0]!.cause).toBe('upstream: emis-web');
    expect(await reopened.countTransitions()).toBe(3);
    await reopened.close();
  });

  it('does not store blips (up → suspected → up), and prunes old transitions but keeps the newest per subject', async () => {
    const store = new SqliteStore(':memory:');
    await store.recordTransitions([
      { subject: 'practice:A81001', from: 'unknown', to: 'up', cause: null, at: 1 },
      { subject: 'practice:A81001', from: 'up', to: 'suspected', cause: null, at: 2 },
      { subject: 'practice:A81001', from: 'suspected', to: 'up', cause: null, at: 3 },
      { subject: 'practice:A81001', from: 'up', to: 'down', cause: null, at: 4 },
      { subject: 'practice:A81002', from: 'unknown', to: 'up', cause: null, at: 1 },
    ]);
    expect(await store.countTransitions()).toBe(3);
    expect(await store.pruneTransitions(10)).toBe(1);
    expect((await store.transitionsOf('practice:A81001', 5)).map((t) => t.to)).toEqual(['down']);
    expect((await store.transitionsOf('practice:A81002', 5)).map((t) => t.to)).toEqual(['up']);
    await store.close();
  });

  it('writes a batch all or nothing', async () => {
    const store = new SqliteStore(':memory:');
    const bad = { subject: 'practice:A81001', from: 'up', to: 'down', cause: null, at: Number.NaN } as const;
    await expect(
      store.recordTransitions([{ subject: 'practice:A81001', from: 'unknown', to: 'up', cause: null, at: 1 }, bad]),
    ).rejects.toThrow();
    expect(await store.countTransitions()).toBe(0);
    await store.close();
  });
});
