// Issue 14: the engine's snapshot is incremental (one row per check and subject, written when
// it changed, plus a small header), restores exactly, drops what a reload removed, and still
// reads the single-blob format of earlier versions so an upgrade carries on. Over a real
// SQLite database file, so the rows go through the history writer's thread as in the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { createPulse } from '../../../server/app';
import { parseEstate, type Estate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import type { EngineSnapshot } from '../../../server/status/engine';
import { SqliteStore } from '../../../server/store/sqlite';

const root = mkdtempSync(join(tmpdir(), 'pulse-incremental-snapshot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const AT = Date.UTC(2026, 11, 4, 9, 0);

const practice = (ods: string, name: string) =>
  `  - { ods: ${ods}, name: ${name}, pcn: North, system: emis-web, checks: [{ id: ${ods}-gw, kind: tcp, target: "127.0.0.1:9" }, { id: ${ods}-web, kind: http, target: "http://127.0.0.1:9/" }] }`;
const estateOf = (practices: string[]): Estate =>
  parseEstate(
    `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
${practices.join('\n')}
`,
    'e.yaml',
  );
const FULL = estateOf([practice('A00001', 'Riverside'), practice('A00002', 'Hillside'), practice('A00003', 'Seaside')]);
const WITHOUT_A00003 = estateOf([practice('A00001', 'Riverside'), practice('A00002', 'Hillside')]);

function results(estate: Estate, at: number, failing: (id: string) => boolean = () => false): CheckResult[] {
  return [...estate.checks.keys()].map((checkId) =>
    failing(checkId)
      ? { checkId, at, location: 'leeds', ok: false, latencyMs: 0, error: 'timeout', detail: 'no answer' }
      : { checkId, at, location: 'leeds', ok: true, latencyMs: 20 },
  );
}

/** exportState in a stable order, for comparing two engines. */
function sorted(snapshot: EngineSnapshot): EngineSnapshot {
  const by = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0])) || String(a[1]).localeCompare(String(b[1]));
  return { ...snapshot, checks: [...snapshot.checks].sort(by), subjects: [...snapshot.subjects].sort(by), reports: [...snapshot.reports].sort(by) };
}

function open(dir: string, estate: Estate, now: () => number) {
  const store = new SqliteStore(dir);
  const pulse = createPulse({ estate, store, clock: { now }, log: silentLogger, workerToken: 'w' });
  return { store, pulse };
}

function rowKeys(store: SqliteStore): string[] {
  return (store.db.prepare('SELECT key FROM engine_state ORDER BY key').all() as { key: string }[]).map((r) => r.key);
}

describe('incremental engine snapshot', () => {
  it('restores exactly after a restart, and a save writes only what changed', async () => {
    const dir = mkdtempSync(join(root, 'data-'));
    let now = AT;
    const first = open(dir, FULL, () => now);
    await first.pulse.restore();
    first.pulse.ingest(results(FULL, now, (id) => id === 'A00002-web'));
    now += 1_000;
    await first.pulse.tick();
    first.pulse.engine.setReport('A00001', { state: 'degraded', by: 'reception', note: 'phones', at: now });
    first.pulse.ingest(results(FULL, now, (id) => id === 'A00002-web'));
    now += 1_000;
    await first.pulse.tick();
    await first.pulse.saveState();
    // Every check and subject has a row; nothing is left unsaved.
    expect(rowKeys(first.store)).toEqual([...[...FULL.checks.keys()].map((id) => `check:${id}`), 'practice:A00001', 'practice:A00002', 'practice:A00003', 'service:emis-web'].sort());
    expect(first.pulse.engine.unsaved).toEqual({ checks: 0, subjects: 0 });

    // One check reports again: the next save writes its row alone (and the header).
    now += 30_000;
    first.pulse.ingest([{ checkId: 'A00001-gw', at: now, location: 'leeds', ok: true, latencyMs: 25 }]);
    await first.pulse.tick();
    expect(first.pulse.engine.unsaved).toEqual({ checks: 1, subjects: 0 });
    const before = first.store.db.prepare("SELECT body FROM engine_state WHERE key = 'check:A00002-gw'").get();
    await first.pulse.saveState();
    expect(first.store.db.prepare("SELECT body FROM engine_state WHERE key = 'check:A00002-gw'").get()).toEqual(before);
    const expected = sorted(first.pulse.engine.exportState());
    first.pulse.close('restart');
    await first.store.close();

    const second = open(dir, FULL, () => now);
    await second.pulse.restore();
    expect(sorted(second.pulse.engine.exportState())).toEqual(expected);
    expect(second.pulse.engine.status('practice:A00002')?.status).toBe(first.pulse.engine.status('practice:A00002')?.status);
    expect(second.pulse.engine.report('A00001')).toMatchObject({ state: 'degraded', note: 'phones' });
    // Restoring from the rows marks nothing unsaved: they are what is stored.
    expect(second.pulse.engine.unsaved).toEqual({ checks: 0, subjects: 0 });
    second.pulse.close('done');
    await second.store.close();
  });

  it('drops the rows of a practice a reload removed', async () => {
    const dir = mkdtempSync(join(root, 'data-'));
    let now = AT;
    const first = open(dir, FULL, () => now);
    await first.pulse.restore();
    first.pulse.ingest(results(FULL, now));
    now += 1_000;
    await first.pulse.tick();
    await first.pulse.saveState();
    expect(rowKeys(first.store)).toContain('check:A00003-gw');
    first.pulse.close('reload');
    await first.store.close();

    const second = open(dir, WITHOUT_A00003, () => now);
    await second.pulse.restore();
    expect(second.pulse.engine.checkStatus('A00001-gw', now)?.status).toBe('up');
    expect(second.pulse.engine.checkStatus('A00003-gw', now)).toBeUndefined();
    await second.pulse.saveState();
    const keys = rowKeys(second.store);
    expect(keys.filter((k) => k.includes('A00003'))).toEqual([]);
    expect(keys).toContain('check:A00001-gw');
    second.pulse.close('done');
    await second.store.close();
  });

  it('restores the single-blob snapshot of earlier versions, and its first save writes every row', async () => {
    const dir = mkdtempSync(join(root, 'data-'));
    let now = AT;
    const first = open(dir, FULL, () => now);
    await first.pulse.restore();
    first.pulse.ingest(results(FULL, now, (id) => id.startsWith('A00003')));
    now += 1_000;
    await first.pulse.tick();
    first.pulse.ingest(results(FULL, now, (id) => id.startsWith('A00003')));
    now += 1_000;
    await first.pulse.tick();
    const expected = sorted(first.pulse.engine.exportState());
    // What saveState wrote before version 3: one blob, no rows.
    const head = await first.store.accounts.auditHead();
    await first.store.signals.saveSnapshot(JSON.stringify({ ...first.pulse.engine.exportState(), auditHead: { ...head, at: now } }), now);
    expect(rowKeys(first.store)).toEqual([]);
    first.pulse.close('upgrade');
    await first.store.close();

    const upgraded = open(dir, FULL, () => now);
    await upgraded.pulse.restore();
    expect(sorted(upgraded.pulse.engine.exportState())).toEqual(expected);
    expect(upgraded.pulse.engine.status('practice:A00003')?.status).toBe('down');
    await upgraded.pulse.saveState();
    expect(rowKeys(upgraded.store)).toHaveLength(FULL.checks.size + 4);
    expect(JSON.parse((await upgraded.store.signals.loadSnapshot())!.body)).toMatchObject({ version: 3 });
    upgraded.pulse.close('restart');
    await upgraded.store.close();

    const again = open(dir, FULL, () => now);
    await again.pulse.restore();
    expect(sorted(again.pulse.engine.exportState())).toEqual(expected);
    again.pulse.close('done');
    await again.store.close();
  });
});
