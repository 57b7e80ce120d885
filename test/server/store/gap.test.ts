// Past the in-memory bound of transitions the store could not take, exactly what was dropped is
// recorded once writes succeed again: one history.gap audit entry and the dropped counter.
// Real app, real SQLite (made read-only with query_only), fake clock.
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../../probes/types';
import { createPulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "https://emis.example.nhs.uk/health" }]
practices:
  - { ods: B00003, name: Moorside Health Centre, pcn: South PCN, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://gw3.example.nhs.uk/" }] }
`;
const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);

describe('transitions dropped while the store was unavailable', () => {
  it('are counted, and one history.gap audit entry says how many and when, once writes succeed', async () => {
    let now = T0;
    const store = new SqliteStore(':memory:');
    const pulse = createPulse({
      estate: parseEstate(ESTATE, 'gap.yaml'),
      store,
      clock: { now: () => now },
      log: silentLogger,
      workerToken: 'w',
      transitionBacklogLimit: 1,
    });
    const result = (checkId: string, ok: boolean): CheckResult =>
      (ok
        ? { ok: true, checkId, at: now, location: 'leeds', latencyMs: 100 }
        : { ok: false, checkId, at: now, location: 'leeds', latencyMs: 100, errorClass: 'http_status', detail: 'HTTP 503' }) as CheckResult;
    pulse.ingest([result('emis-api', true), result('gw3', true)]);
    await pulse.tick();

    store.db.pragma('query_only = ON');
    let made = 0;
    for (let i = 0; i < 6; i++) {
      now += 11_000;
      pulse.ingest([result('emis-api', i % 2 === 1), result('gw3', true)]);
      made += await pulse.tick();
    }
    expect(made).toBeGreaterThan(1);
    const notReady = await pulse.app.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { reasons: string[] }).reasons[0]).toMatch(/^database: read-only/);

    store.db.pragma('query_only = OFF');
    now += 2_000;
    await pulse.tick();
    const gaps = (await store.accounts.auditEntries(50, 0)).filter((e) => e.action === 'history.gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.actor).toBe('system');
    // Blips (up → suspected → up) are never stored, so the held rows are what the store would have kept, and more.
    const gap = gaps[0]!.detail as { dropped: number; from: string; to: string };
    expect(gap.dropped).toBeGreaterThanOrEqual(1);
    expect(gap.dropped).toBeLessThan(made);
    expect(Date.parse(gap.from)).toBeGreaterThan(T0);
    expect(Date.parse(gap.to)).toBeGreaterThanOrEqual(Date.parse(gap.from));
    expect(Date.parse(gap.to)).toBeLessThanOrEqual(T0 + 66_000);
    const metrics = await (await pulse.app.request('/metrics')).text();
    expect(metrics).toMatch(new RegExp(`^pulse_history_transitions_dropped_total ${gap.dropped}$`, 'm'));
    expect(metrics).toMatch(/^pulse_store_available 1$/m);
    pulse.close('test done');
    await store.close();
  });
});
