// Issue 14: over a database file, minute summaries are written on the history writer's thread
// (its own connection to the same WAL database). What the server recorded is all there after
// flushHistory (as at stop and reload), a failed write comes back with its code and writes
// nothing, and the thread's rows are read back by another connection after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { createPulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';
import { openDatabase } from '../../../server/store/sqlite/db';
import { SqliteHistoryStore } from '../../../server/store/sqlite/history';

const root = mkdtempSync(join(tmpdir(), 'pulse-writer-thread-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const M = 60_000;
const H = 3_600_000;
const T = Date.UTC(2026, 11, 4, 9, 0);

const ESTATE = parseEstate(
  `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
${Array.from({ length: 40 }, (_, i) => `  - { ods: B${String(i).padStart(5, '0')}, name: Practice ${i}, pcn: North, system: emis-web, checks: [{ id: B${i}-gw, kind: tcp, target: "127.0.0.1:9" }, { id: B${i}-web, kind: http, target: "http://127.0.0.1:9/" }] }`).join('\n')}
`,
  'e.yaml',
);

describe('history writer thread', () => {
  it('has every recorded result stored after flushHistory, the unfinished minute too', async () => {
    const dir = mkdtempSync(join(root, 'data-'));
    const store = new SqliteStore(dir);
    let now = T;
    const pulse = createPulse({ estate: ESTATE, store, clock: { now: () => now }, log: silentLogger, workerToken: 'w' });
    await pulse.restore();
    const ids = [...ESTATE.checks.keys()];
    const sent = new Map<string, number>();
    // Three and a half minutes of results every 20 s, ticking as the server does.
    for (let at = T; at < T + 3.5 * M; at += 20_000) {
      now = at;
      const batch: CheckResult[] = ids.map((checkId, i) =>
        i % 7 === 0 ? { checkId, at, location: 'leeds', ok: false, latencyMs: 0, error: 'timeout', detail: 'no answer' } : { checkId, at, location: 'leeds', ok: true, latencyMs: 10 + (i % 30) },
      );
      pulse.ingest(batch);
      for (const r of batch) sent.set(r.checkId, (sent.get(r.checkId) ?? 0) + 1);
      await pulse.tick();
    }
    await pulse.flushHistory();
    expect(store.history.offThread).toBe(true);
    for (const id of ids) {
      const rows = await store.history.minutes(id, T, T + H);
      expect(rows.map((r) => r.minute)).toEqual([T, T + M, T + 2 * M, T + 3 * M]);
      expect(rows.reduce((n, r) => n + r.count, 0)).toBe(sent.get(id));
    }
    pulse.close('done');
    await store.close();

    // Another connection, after the thread has gone, reads the same.
    const again = new SqliteStore(dir);
    expect((await again.history.minutes(ids[0]!, T, T + H)).reduce((n, r) => n + r.count, 0)).toBe(sent.get(ids[0]!));
    await again.close();
  });

  it('a failed write on the thread comes back with its code and writes nothing', async () => {
    const dir = mkdtempSync(join(root, 'data-'));
    const db = openDatabase(dir);
    const store = new SqliteHistoryStore(db);
    const row = (checkId: string, minute: number) => ({ checkId, minute, count: 1, failures: 0, latency: { meanMs: 5, maxMs: 5 } });
    await store.writeMinutes([row('a', T)]);
    expect(store.offThread).toBe(true);
    db.prepare("UPDATE history_open SET slots = x'0900'").run(); // a blob this version cannot read
    await expect(store.writeMinutes([row('new', T), row('a', T + M)])).rejects.toMatchObject({ code: 'BAD_HOUR_BLOB' });
    expect(await store.minutes('new', T, T + H)).toEqual([]);
    await store.writeMinutes([row('new', T + 3 * M)]);
    expect(await store.minutes('new', T, T + H)).toEqual([row('new', T + 3 * M)]);
    await store.close();
    db.close();
  });
});
