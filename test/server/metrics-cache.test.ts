// The cached, sliced exposition of the per-check and per-practice families (server/metrics/):
// a change shows in the next scrape, by a result or by time alone, and nothing else is
// rendered again; a check gone after a reload has no series; label values are escaped;
// results arriving between slices leave a valid body whose counts agree with its lines;
// promtool (when installed) accepts the pulse_* families. Against the real registry and app.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../probes/types';
import { createPulse, type Pulse } from '../../server/app';
import { parseEstate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { createMetrics } from '../../server/metrics';
import { STATUS_LEVELS } from '../../server/status/types';
import { SqliteStore } from '../../server/store/sqlite';

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
let now = T0;

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "https://emis.example.nhs.uk/health" }]
practices:
  - ods: A00001
    name: Riverside Medical Practice
    pcn: "Back\\\\slash \\"Quoted\\" PCN"
    icb: "Line\\nbreak ICB"
    system: emis-web
    checks:
      - { id: gw1, kind: http, target: "https://gw1.example.nhs.uk/" }
      - { id: gw1-tls, kind: tls, target: "gw1.example.nhs.uk:443" }
  - { ods: B00003, name: Moorside Health Centre, pcn: South PCN, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://gw3.example.nhs.uk/" }] }
`;

/** An estate of `practices` practices with two checks each: more than one cached block (256 checks). */
function bigEstate(practices: number): string {
  const lines = [
    'defaults: { interval: 10s, timeout: 2s }',
    'services:',
    '  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "https://emis.example.nhs.uk/" }] }',
    'practices:',
  ];
  for (let i = 0; i < practices; i++) {
    const ods = `P${String(i).padStart(5, '0')}`;
    lines.push(`  - { ods: ${ods}, name: Practice ${i}, pcn: PCN ${i % 7}, system: emis-web, checks: [{ id: ${ods}-a, kind: http, target: "http://a${i}.example.nhs.uk/" }, { id: ${ods}-b, kind: tcp, target: "b${i}.example.nhs.uk:443" }] }`);
  }
  return `${lines.join('\n')}\n`;
}

const pulses: { pulse: Pulse; store: SqliteStore }[] = [];
function start(estate = ESTATE, store = new SqliteStore(':memory:')): Pulse {
  const pulse = createPulse({ estate: parseEstate(estate, 'metrics-cache-test.yaml'), store, clock: { now: () => now }, log: silentLogger, workerToken: 'worker-token' });
  pulses.push({ pulse, store });
  return pulse;
}
afterEach(async () => {
  const stores = new Set<SqliteStore>();
  for (const { pulse, store } of pulses.splice(0)) {
    pulse.close('test done');
    stores.add(store);
  }
  for (const store of stores) await store.close();
  now = T0;
});

const ok = (checkId: string, extra: Partial<CheckResult> = {}): CheckResult => ({ ok: true, checkId, at: now, location: 'leeds', latencyMs: 120, ...extra }) as CheckResult;
const fail = (checkId: string): CheckResult => ({ ok: false, checkId, at: now, location: 'leeds', latencyMs: 2_000, error: 'timeout', detail: 'no answer' });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Sample lines of the text format, label values unescaped (the strict checks are in metrics.test.ts and promtool). */
function samples(text: string): Sample[] {
  expect(text.endsWith('\n')).toBe(true);
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let end = 0;
    for (let l = re.exec(m[2] ?? ''); l; l = re.exec(m[2] ?? '')) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      end = re.lastIndex;
    }
    if (end !== (m[2] ?? '').length) throw new Error(`bad labels: ${m[2]}`);
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrapeText(pulse: Pulse): Promise<string> {
  const res = await pulse.app.request('/metrics');
  expect(res.status).toBe(200);
  return res.text();
}
const value = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
const family = (s: Sample[], name: string) => s.filter((x) => x.name === name);
/** Only the hand-written families (prom-client's process figures move between any two scrapes). */
const ownFamilies = (text: string) => text.split('\n').filter((l) => /^(# (HELP|TYPE) )?pulse_(check|checks|practice_status)\b/.test(l)).join('\n');

describe('cached per-check series', () => {
  it('shows a changed value in the next scrape, and renders nothing again when nothing changed', async () => {
    const pulse = start();
    const notAfter = Date.UTC(2027, 0, 31);
    pulse.ingest([ok('emis-api'), ok('gw1'), ok('gw1-tls', { certExpiresAt: notAfter }), ok('gw3')]);
    await pulse.tick();
    let s = samples(await scrapeText(pulse));
    expect(value(s, 'pulse_check_success', { check: 'gw3' })).toBe(1);
    expect(value(s, 'pulse_check_duration_seconds', { check: 'gw3' })).toBe(0.12);

    // Unchanged: the same text, and no block rendered afresh.
    const first = ownFamilies(await scrapeText(pulse));
    expect(ownFamilies(await scrapeText(pulse))).toBe(first);
    expect(pulse.metrics.lastScrape()?.blocksRendered).toBe(0);

    // One result changes success and duration; one a certificate.
    now += 1_000;
    pulse.ingest([fail('gw3'), ok('gw1-tls', { certExpiresAt: notAfter + 86_400_000, latencyMs: 80 })]);
    s = samples(await scrapeText(pulse));
    expect(pulse.metrics.lastScrape()?.blocksRendered).toBe(1);
    expect(value(s, 'pulse_check_success', { check: 'gw3' })).toBe(0);
    expect(value(s, 'pulse_check_duration_seconds', { check: 'gw3' })).toBe(2);
    expect(value(s, 'pulse_check_duration_seconds', { check: 'gw1-tls' })).toBe(0.08);
    expect(value(s, 'pulse_check_certificate_expiry_timestamp_seconds', { check: 'gw1-tls' })).toBe((notAfter + 86_400_000) / 1000);
    expect(value(s, 'pulse_checks', { state: 'failing' })).toBe(1);
    expect(value(s, 'pulse_checks', { state: 'passing' })).toBe(3);

    // And back.
    now += 1_000;
    pulse.ingest([ok('gw3', { latencyMs: 95 })]);
    s = samples(await scrapeText(pulse));
    expect(value(s, 'pulse_check_success', { check: 'gw3' })).toBe(1);
    expect(value(s, 'pulse_check_duration_seconds', { check: 'gw3' })).toBe(0.095);
  });

  it('drops a series when its result goes stale with no result arriving at all (time alone invalidates the cache)', async () => {
    const pulse = start();
    pulse.ingest([ok('gw1'), ok('gw3')]);
    expect(family(samples(await scrapeText(pulse)), 'pulse_check_success')).toHaveLength(2);
    now += 10_000;
    pulse.ingest([ok('gw3')]);
    now += 12_000; // gw1's result is 22 s old: still fresh (2 × interval + timeout)
    expect(family(samples(await scrapeText(pulse)), 'pulse_check_success')).toHaveLength(2);
    now += 1; // now it is not; nothing arrived since the last scrape
    const s = samples(await scrapeText(pulse));
    expect(family(s, 'pulse_check_success').map((x) => x.labels.check)).toEqual(['gw3']);
    expect(family(s, 'pulse_check_duration_seconds').map((x) => x.labels.check)).toEqual(['gw3']);
    expect(value(s, 'pulse_checks', { state: 'no_data' })).toBe(3);
  });

  it('counts a result dated ahead from when it comes within the allowed skew, not before', async () => {
    const pulse = start();
    pulse.metrics.results([ok('gw1', { at: now + 40_000 })]);
    expect(value(samples(await scrapeText(pulse)), 'pulse_check_success', { check: 'gw1' })).toBeUndefined();
    now += 10_000; // 30 s ahead: within MAX_CLOCK_SKEW_MS
    expect(value(samples(await scrapeText(pulse)), 'pulse_check_success', { check: 'gw1' })).toBe(1);
  });

  it('keeps every block right across block boundaries: one change in the middle of 1,401 checks', async () => {
    const pulse = start(bigEstate(700));
    pulse.ingest([...pulse.estate.checks.keys()].map((id) => ok(id)));
    await pulse.tick();
    let s = samples(await scrapeText(pulse));
    expect(family(s, 'pulse_check_success')).toHaveLength(1_401);
    // The practice status spans three copied blocks of 256 practices: every practice one-hot, in order.
    const practices = family(s, 'pulse_practice_status');
    expect(practices).toHaveLength(700 * STATUS_LEVELS.length);
    expect(practices.filter((x) => x.value === 1).map((x) => x.labels.ods)).toEqual([...pulse.estate.practices.keys()]);
    expect(value(s, 'pulse_practice_status', { ods: 'P00256', status: 'up' })).toBe(1);
    const before = ownFamilies(await scrapeText(pulse));
    now += 1_000;
    pulse.ingest([fail('P00300-b')]);
    const text = await scrapeText(pulse);
    expect(pulse.metrics.lastScrape()?.blocksRendered).toBe(1);
    s = samples(text);
    expect(value(s, 'pulse_check_success', { check: 'P00300-b' })).toBe(0);
    expect(family(s, 'pulse_check_success').filter((x) => x.value === 0)).toHaveLength(1);
    expect(value(s, 'pulse_checks', { state: 'failing' })).toBe(1);
    expect(value(s, 'pulse_checks', { state: 'passing' })).toBe(1_400);
    // Everything else is byte for byte what it was.
    const changed = (t: string) => t.split('\n').filter((l) => !l.includes('P00300-b') && !l.startsWith('pulse_checks{'));
    expect(changed(ownFamilies(text))).toEqual(changed(before));
  });
});

describe('a check removed by a reload', () => {
  it('has no series in the new Pulse, and the others carry on', async () => {
    const store = new SqliteStore(':memory:');
    const old = start(ESTATE, store);
    old.ingest([ok('emis-api'), ok('gw1'), ok('gw1-tls', { certExpiresAt: Date.UTC(2027, 0, 1) }), ok('gw3')]);
    await old.tick();
    expect(family(samples(await scrapeText(old)), 'pulse_check_certificate_expiry_timestamp_seconds')).toHaveLength(1);
    await old.saveState();

    // As main.ts reloads: a new Pulse over the same store, the engine state handed over.
    const next = start(ESTATE.replace('      - { id: gw1-tls, kind: tls, target: "gw1.example.nhs.uk:443" }\n', ''), store);
    await next.restore();
    old.close('configuration reloaded; reconnect');
    now += 1_000;
    next.ingest([ok('emis-api'), ok('gw1'), ok('gw1-tls', { certExpiresAt: Date.UTC(2027, 0, 1) }), ok('gw3')]);
    const text = await scrapeText(next);
    expect(text).not.toContain('gw1-tls');
    const s = samples(text);
    expect(family(s, 'pulse_check_success').map((x) => x.labels.check).sort()).toEqual(['emis-api', 'gw1', 'gw3']);
    expect(family(s, 'pulse_check_certificate_expiry_timestamp_seconds')).toEqual([]);
    expect(value(s, 'pulse_checks', { state: 'passing' })).toBe(3);
  });
});

describe('escaping', () => {
  it('escapes backslash, double quote and newline in label values, and they read back as written', async () => {
    const pulse = start();
    pulse.ingest([ok('gw1')]);
    await pulse.tick();
    const text = await scrapeText(pulse);
    expect(text).toContain('pcn="Back\\\\slash \\"Quoted\\" PCN",icb="Line\\nbreak ICB"');
    const labels = family(samples(text), 'pulse_practice_status').find((x) => x.labels.ods === 'A00001')!.labels;
    expect(labels).toMatchObject({ pcn: 'Back\\slash "Quoted" PCN', icb: 'Line\nbreak ICB' });
    // No raw newline inside a line: every line is a comment or a whole sample.
    for (const line of text.split('\n')) expect(line === '' || line.startsWith('#') || /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$/.test(line), line).toBe(true);
  });
});

describe('a scrape in slices', () => {
  it('stays a valid body with agreeing counts when results arrive between its slices', async () => {
    const estate = parseEstate(bigEstate(700), 'metrics-cache-test.yaml');
    const counts = Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as Record<(typeof STATUS_LEVELS)[number], number>;
    const metrics = createMetrics(
      {
        estate,
        now: () => now,
        practiceCounts: () => ({ ...counts, backup: 0 }),
        serviceCounts: () => counts,
        practices: () => [],
        services: () => [],
        openIncidents: () => [],
        liveClients: () => 0,
        workers: () => [],
      },
      { sliceMs: 0 }, // yield after every block
    );
    const ids = [...estate.checks.keys()];
    metrics.results(ids.map((id) => ok(id)));
    // A result batch lands at each turn of the event loop while the scrape runs.
    let turns = 0;
    let flowing = true;
    const flow = () => {
      if (!flowing) return;
      turns++;
      metrics.results(ids.slice(turns * 50, turns * 50 + 50).map((id) => fail(id)));
      setImmediate(flow);
    };
    setImmediate(flow);
    const text = (await metrics.scrape()).toString('utf8');
    flowing = false;
    expect(metrics.lastScrape()!.slices).toBeGreaterThan(1);
    expect(turns).toBeGreaterThan(1);
    const s = samples(text);
    const success = family(s, 'pulse_check_success');
    expect(success).toHaveLength(1_401);
    expect(value(s, 'pulse_checks', { state: 'failing' })).toBe(success.filter((x) => x.value === 0).length);
    expect(value(s, 'pulse_checks', { state: 'passing' })).toBe(success.filter((x) => x.value === 1).length);
    // The next scrape sees every result that arrived.
    const failed = (await metrics.scrape()).toString('utf8').split('\n').filter((l) => l.startsWith('pulse_check_success') && l.endsWith(' 0')).length;
    expect(failed).toBe(Math.min(1_401, (turns + 1) * 50) - 50);
  });
});

describe('promtool', () => {
  it.skipIf(!existsSync('/usr/bin/promtool'))('accepts the pulse_* families', async () => {
    const pulse = start();
    pulse.ingest([ok('emis-api'), ok('gw1', { certExpiresAt: Date.UTC(2027, 0, 1) }), fail('gw3')]);
    await pulse.tick();
    const text = await scrapeText(pulse);
    // Whole families only: prom-client's own are not ours to lint (nodejs_active_resources_total is a gauge).
    const ours: string[] = [];
    let keep = false;
    for (const line of text.split('\n')) {
      const m = /^# (?:HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      if (m) keep = m[1]!.startsWith('pulse_');
      if (keep && line !== '') ours.push(line);
    }
    const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, out }));
      child.stdin.end(`${ours.join('\n')}\n`);
    });
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
});
