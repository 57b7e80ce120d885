// /metrics through the real app over an in-memory store, with a fake clock: the naming and
// labelling conventions of docs/metrics.md, the one-hot practice status, an EMIS outage as
// the metrics show it, freshness of the per-check series, and the optional bearer token.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { WORKER_PROTOCOL_VERSION, type ObserverHealth } from '../../probes/protocol';
import type { CheckResult } from '../../probes/types';
import { createPulse, type Pulse } from '../../server/app';
import { createMetrics } from '../../server/metrics';
import { parseEstate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { STATUS_LEVELS } from '../../server/status/types';
import { SqliteStore } from '../../server/store/sqlite';

const ESTATE = `defaults: { interval: 10s, timeout: 2s }
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "https://emis.example.nhs.uk/health?token=x" }]
  - id: systmone
    name: TPP SystmOne
    kind: clinical-system
    checks: [{ id: s1-api, kind: tcp, target: "s1.example.nhs.uk:443" }]
practices:
  - ods: A00001
    name: Riverside Medical Practice
    pcn: North "Quoted" PCN
    icb: QWO
    system: emis-web
    checks:
      - { id: gw1, kind: http, target: "https://gw1.example.nhs.uk/" }
      - { id: gw1-tls, kind: tls, target: "gw1.example.nhs.uk:443" }
  - { ods: A00002, name: Oakwood Surgery, pcn: North "Quoted" PCN, icb: QWO, system: emis-web }
  - { ods: B00003, name: Moorside Health Centre, pcn: South PCN, system: systmone, checks: [{ id: gw3, kind: http, target: "http://gw3.example.nhs.uk/" }] }
`;
const CHECKS = ['emis-api', 's1-api', 'gw1', 'gw1-tls', 'gw3'];
const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);

let now = T0;
const pulses: { pulse: Pulse; store: SqliteStore }[] = [];

function start(opts: { metricsToken?: string; estate?: string } = {}): Pulse {
  now = T0;
  const store = new SqliteStore(':memory:');
  const { estate = ESTATE, ...deps } = opts;
  const pulse = createPulse({
    estate: parseEstate(estate, 'metrics-test.yaml'),
    store,
    clock: { now: () => now },
    log: silentLogger,
    workerToken: 'worker-token',
    readSecret: () => 'a-practice-fleet-token-of-length',
    ...deps,
  });
  pulses.push({ pulse, store });
  return pulse;
}

afterEach(async () => {
  for (const { pulse, store } of pulses.splice(0)) {
    pulse.close('test done');
    await store.close();
  }
});

const ok = (checkId: string, at = now, extra: Partial<CheckResult> = {}): CheckResult =>
  ({ ok: true, checkId, at, location: 'leeds', latencyMs: 120, ...extra }) as CheckResult;
const fail = (checkId: string, at = now): CheckResult => ({
  ok: false,
  checkId,
  at,
  location: 'leeds',
  latencyMs: 2_000,
  error: 'timeout',
  detail: 'no answer from https://emis.example.nhs.uk within 2000 ms',
});

/** Everything up: one passing result per check, then a tick. */
async function allUp(pulse: Pulse): Promise<void> {
  pulse.ingest(CHECKS.map((id) => ok(id)));
  await pulse.tick();
}

async function scrape(pulse: Pulse, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await pulse.app.request('/metrics', { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

// ---------------------------------------------------------------------------------------
// A small parser for the Prometheus text format (0.0.4), strict about what we emit.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
}
interface Exposition {
  families: Map<string, Family>;
  samples: Sample[];
  /** Samples of one family (histograms: its _bucket, _sum and _count too). */
  family(name: string): Sample[];
  value(name: string, labels?: Record<string, string>): number | undefined;
}

function parseExposition(text: string): Exposition {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  let current: string | null = null;
  const closed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // prom-client puts a blank line between families: allowed
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) {
      helps.set(m[1]!, m[2]!);
      continue;
    }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      const name = m[1]!;
      if (families.has(name)) throw new Error(`family ${name} declared twice`);
      if (current) closed.add(current);
      current = name;
      families.set(name, { name, type: m[2]!, help: helps.get(name) ?? '' });
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let end = 0;
      for (let l = re.exec(labelText); l; l = re.exec(labelText)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        end = re.lastIndex;
      }
      if (end !== labelText.length) throw new Error(`bad labels: ${labelText}`);
    }
    // Prometheus reads floats as Go's ParseFloat does: NaN in any case (prom-client writes `Nan`).
    const nan = /^nan$/i.test(valueText!);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : nan ? Number.NaN : Number(valueText);
    if (!nan && Number.isNaN(value)) throw new Error(`bad value: ${line}`);
    const base = familyOf(name!, families);
    if (!base) throw new Error(`sample ${name} has no TYPE`);
    if (base !== current || closed.has(base)) throw new Error(`sample ${name} is outside its family's block`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    samples.push({ name: name!, labels, value });
  }
  const family = (name: string) => samples.filter((s) => familyOf(s.name, families) === name);
  return {
    families,
    samples,
    family,
    value: (name, labels = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value,
  };
}

function familyOf(sample: string, families: Map<string, Family>): string | undefined {
  if (families.has(sample)) return sample;
  const base = sample.replace(/_(bucket|sum|count|created)$/, '');
  return ['histogram', 'summary'].includes(families.get(base)?.type ?? '') ? base : undefined;
}

/** Label names Pulse's own series may carry: docs/metrics.md lists each. */
const PULSE_LABELS = new Set([
  'ods', 'pcn', 'icb', 'service', 'check', 'kind', 'subject', 'subject_type', 'location',
  'status', 'state', 'result', 'to', 'type', 'operation', 'le', 'reason',
]);

// ---------------------------------------------------------------------------------------

describe('/metrics conventions', () => {
  it('gives every family HELP and TYPE, prefixes every name, ends counters in _total, and labels only from bounded sets', async () => {
    const pulse = start();
    await allUp(pulse);
    pulse.ingest([fail('gw3')]);
    await pulse.tick();
    const m = await scrape(pulse);

    expect(m.families.size).toBeGreaterThan(20);
    for (const f of m.families.values()) {
      expect(f.help, `HELP of ${f.name}`).not.toBe('');
      expect(f.name, 'a pulse_ name, or a process default').toMatch(/^(pulse_|process_|nodejs_)/);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      // (prom-client's own nodejs_active_resources_total is a gauge: not ours to rename.)
      if (f.name.startsWith('pulse_')) {
        if (f.type !== 'counter') expect(f.name).not.toMatch(/_total$/);
        expect(f.name).toMatch(/^[a-z][a-z0-9_]*$/);
      }
    }
    for (const s of m.samples) {
      for (const [label, value] of Object.entries(s.labels)) {
        expect(value, `${s.name}{${label}}`).not.toMatch(/:\/\/|^\/|\s{2}|\n/);
        if (s.name.startsWith('pulse_')) expect(PULSE_LABELS, `label ${label} of ${s.name}`).toContain(label);
      }
    }
    // Neither a target (URL, host:port) nor a failure's detail text appears anywhere.
    const text = await (await pulse.app.request('/metrics')).text();
    expect(text).not.toContain('example.nhs.uk');
    expect(text).not.toContain('no answer');
    // The documented families are all there.
    for (const name of [
      'pulse_check_success', 'pulse_check_duration_seconds', 'pulse_check_certificate_expiry_timestamp_seconds',
      'pulse_checks', 'pulse_check_results_total', 'pulse_last_result_timestamp_seconds', 'pulse_practice_status',
      'pulse_practices', 'pulse_practices_in_backup_mode', 'pulse_service_status', 'pulse_services',
      'pulse_status_transitions_total', 'pulse_incidents_open', 'pulse_backup_actions_total', 'pulse_worker_connections',
      'pulse_scheduler_lag_seconds', 'pulse_websocket_clients', 'pulse_websocket_messages_total',
      'pulse_store_write_duration_seconds', 'pulse_store_write_failures_total', 'pulse_break_glass_signins_total',
      'pulse_worker_results_rejected_total', 'pulse_worker_impaired', 'pulse_worker_event_loop_delay_seconds',
      'pulse_worker_canary_up', 'pulse_self_impaired', 'pulse_server_event_loop_delay_seconds', 'pulse_server_stalls_total',
      'pulse_server_stalled_seconds_total',
      'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes',
    ]) {
      expect(m.families.has(name), name).toBe(true);
    }
    expect(m.families.get('pulse_store_write_duration_seconds')!.type).toBe('histogram');
    // Declared from the start; series appear with the first backup-mode action attempt.
    expect(m.family('pulse_backup_actions_total')).toEqual([]);
    expect(m.value('pulse_practices_in_backup_mode')).toBe(0);
  });

  it('writes the practice status one-hot: seven series per practice, exactly one of them 1', async () => {
    const pulse = start();
    const before = await scrape(pulse);
    await allUp(pulse);
    for (const m of [before, await scrape(pulse)]) {
      const byPractice = new Map<string, number[]>();
      for (const s of m.family('pulse_practice_status')) {
        expect(s.value === 0 || s.value === 1).toBe(true);
        byPractice.set(s.labels.ods!, [...(byPractice.get(s.labels.ods!) ?? []), s.value]);
      }
      expect([...byPractice.keys()].sort()).toEqual(['A00001', 'A00002', 'B00003']);
      for (const values of byPractice.values()) {
        expect(values).toHaveLength(STATUS_LEVELS.length);
        expect(values.reduce((a, b) => a + b, 0)).toBe(1);
      }
    }
    expect(before.value('pulse_practice_status', { ods: 'A00001', status: 'unknown' })).toBe(1);
    const after = await scrape(pulse);
    expect(after.value('pulse_practice_status', { ods: 'A00001', status: 'up' })).toBe(1);
    // PCN and ICB ride along, escaped; a practice without an ICB has an empty icb label.
    expect(after.family('pulse_practice_status').find((s) => s.labels.ods === 'A00001')!.labels).toMatchObject({ pcn: 'North "Quoted" PCN', icb: 'QWO' });
    expect(after.family('pulse_practice_status').find((s) => s.labels.ods === 'B00003')!.labels.icb).toBe('');
    // The counts agree with the one-hot series.
    for (const status of STATUS_LEVELS) {
      const hot = after.family('pulse_practice_status').filter((s) => s.labels.status === status && s.value === 1).length;
      expect(after.value('pulse_practices', { status }), status).toBe(hot);
    }
  });
});

describe('an EMIS Web outage in the metrics', () => {
  it('shows in the practice status, the practice and service counts, the open incidents and the check series', async () => {
    const pulse = start();
    await allUp(pulse);
    const calm = await scrape(pulse);
    expect(calm.value('pulse_incidents_open', { kind: 'service' })).toBe(0);
    expect(calm.value('pulse_practices', { status: 'up' })).toBe(3);

    now += 10_000;
    pulse.ingest([fail('emis-api'), ...CHECKS.filter((c) => c !== 'emis-api').map((id) => ok(id))]);
    await pulse.tick();
    now += 10_000;
    pulse.ingest([fail('emis-api'), ...CHECKS.filter((c) => c !== 'emis-api').map((id) => ok(id))]);
    await pulse.tick();
    const m = await scrape(pulse);

    for (const ods of ['A00001', 'A00002']) expect(m.value('pulse_practice_status', { ods, status: 'down' }), ods).toBe(1);
    expect(m.value('pulse_practice_status', { ods: 'B00003', status: 'up' })).toBe(1);
    expect(m.value('pulse_practices', { status: 'down' })).toBe(2);
    expect(m.value('pulse_practices', { status: 'up' })).toBe(1);
    expect(m.value('pulse_service_status', { service: 'emis-web', status: 'down' })).toBe(1);
    expect(m.value('pulse_service_status', { service: 'emis-web', status: 'up' })).toBe(0);
    expect(m.value('pulse_services', { status: 'down' })).toBe(1);
    expect(m.value('pulse_incidents_open', { kind: 'service' })).toBe(1);
    expect(m.value('pulse_incidents_open', { kind: 'practice' })).toBe(0);
    expect(m.value('pulse_incidents_open', { kind: 'pcn' })).toBe(0);
    expect(m.value('pulse_check_success', { check: 'emis-api' })).toBe(0);
    expect(m.family('pulse_check_success').find((s) => s.labels.check === 'emis-api')!.labels).toEqual({
      check: 'emis-api',
      kind: 'http',
      subject: 'service:emis-web',
    });
    expect(m.value('pulse_check_success', { check: 'gw1' })).toBe(1);
    expect(m.value('pulse_check_duration_seconds', { check: 'emis-api' })).toBe(2);
    expect(m.value('pulse_checks', { state: 'failing' })).toBe(1);
    expect(m.value('pulse_checks', { state: 'passing' })).toBe(4);
    expect(m.value('pulse_check_results_total', { kind: 'http', result: 'timeout' })).toBe(2);
    expect(m.value('pulse_status_transitions_total', { subject_type: 'practice', to: 'down' })).toBe(2);
    expect(m.value('pulse_status_transitions_total', { subject_type: 'service', to: 'down' })).toBe(1);
    // The store writes of those ticks were timed.
    expect(m.value('pulse_store_write_duration_seconds_count', { operation: 'transitions' })).toBeGreaterThanOrEqual(2);
    expect(m.value('pulse_store_write_duration_seconds_count', { operation: 'incidents' })).toBeGreaterThanOrEqual(2);
    expect(m.value('pulse_store_write_failures_total', { operation: 'transitions' })).toBe(0);
  });
});

describe('per-check series', () => {
  it('drop success and duration once a check has no fresh result, and count it as no_data', async () => {
    const pulse = start();
    let m = await scrape(pulse);
    expect(m.family('pulse_check_success')).toEqual([]);
    expect(m.value('pulse_checks', { state: 'no_data' })).toBe(CHECKS.length);

    await allUp(pulse);
    m = await scrape(pulse);
    expect(m.family('pulse_check_success')).toHaveLength(CHECKS.length);
    expect(m.value('pulse_check_duration_seconds', { check: 'gw3' })).toBe(0.12);

    // Fresh for 2 × interval + timeout (22 s): gw3 keeps reporting, the rest go quiet.
    now += 23_000;
    pulse.ingest([ok('gw3')]);
    m = await scrape(pulse);
    expect(m.family('pulse_check_success').map((s) => s.labels.check)).toEqual(['gw3']);
    expect(m.family('pulse_check_duration_seconds').map((s) => s.labels.check)).toEqual(['gw3']);
    expect(m.value('pulse_checks', { state: 'no_data' })).toBe(CHECKS.length - 1);
  });

  it('merges probe locations: 0 when the newest result failed at any location with fresh data', async () => {
    const pulse = start();
    pulse.ingest([ok('gw3'), { ...fail('gw3'), location: 'london' }]);
    expect((await scrape(pulse)).value('pulse_check_success', { check: 'gw3' })).toBe(0);
    now += 1_000;
    pulse.ingest([{ ...ok('gw3'), location: 'london' }]);
    expect((await scrape(pulse)).value('pulse_check_success', { check: 'gw3' })).toBe(1);
    // An older result arriving late changes nothing.
    pulse.ingest([fail('gw3', now - 5_000)]);
    expect((await scrape(pulse)).value('pulse_check_success', { check: 'gw3' })).toBe(1);
  });

  it('exports the certificate expiry a result carried, in seconds, and keeps it while later runs fail without one', async () => {
    const pulse = start();
    const notAfter = Date.UTC(2027, 0, 31, 12, 0, 0);
    pulse.ingest([ok('gw1-tls', now, { certExpiresAt: notAfter }), ok('gw1')]);
    let m = await scrape(pulse);
    expect(m.value('pulse_check_certificate_expiry_timestamp_seconds', { check: 'gw1-tls' })).toBe(notAfter / 1000);
    expect(m.family('pulse_check_certificate_expiry_timestamp_seconds')).toHaveLength(1);
    now += 1_000;
    pulse.ingest([fail('gw1-tls')]);
    m = await scrape(pulse);
    expect(m.value('pulse_check_certificate_expiry_timestamp_seconds', { check: 'gw1-tls' })).toBe(notAfter / 1000);
  });

  it("reaches the metrics from a worker's results message through the gateway's validation", async () => {
    const pulse = start();
    now = Date.now(); // the gateway stamps results with its receive time: the two clocks must agree
    const socket = Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, send() {}, ping() {}, close() {}, terminate() {} });
    pulse.gateway.attach(socket as unknown as WebSocket, 'shared');
    const notAfter = Date.UTC(2027, 5, 1);
    socket.emit('message', JSON.stringify({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location: 'leeds', pid: 1 }));
    // Protocol 2: no location in a result (the hello's is used).
    const { location: _a, ...gw1 } = ok('gw1', now, { certExpiresAt: notAfter });
    const { location: _b, ...gw3 } = fail('gw3');
    socket.emit('message', JSON.stringify({ type: 'results', results: [gw1, gw3] }));
    const m = await scrape(pulse);
    expect(m.value('pulse_check_certificate_expiry_timestamp_seconds', { check: 'gw1' })).toBe(notAfter / 1000);
    expect(m.value('pulse_check_success', { check: 'gw3' })).toBe(0);
    expect(m.value('pulse_worker_connections', { location: 'leeds' })).toBe(1);
  });

  it('covers workstation-fleet checks, judged by the server: success, but no duration, no result count and no dead-man\'s switch', async () => {
    const fleet = `  - ods: C00004
    name: Fleet Surgery
    pcn: South PCN
    system: systmone
    fleet: { token: { env: FLEET_C00004 }, interval: 60s, silentAfter: 2, degradedAt: 0.2, downAt: 0.5, expectedAgents: 3 }
`;
    const pulse = start({ estate: ESTATE + fleet });
    now += 3 * 60_000; // no workstation has reported for longer than silentAfter × interval
    await pulse.tick();
    now += 1_000; // a second judgement confirms it (failuresToDown 2)
    await pulse.tick();
    const m = await scrape(pulse);
    expect(m.family('pulse_check_success').find((s) => s.labels.check === 'C00004-fleet')?.labels).toEqual({
      check: 'C00004-fleet',
      kind: 'heartbeat',
      subject: 'practice:C00004',
    });
    expect(m.value('pulse_check_success', { check: 'C00004-fleet' })).toBe(0);
    expect(m.value('pulse_check_duration_seconds', { check: 'C00004-fleet' })).toBeUndefined();
    expect(m.value('pulse_check_results_total', { kind: 'heartbeat' })).toBeUndefined();
    expect(m.value('pulse_last_result_timestamp_seconds')).toBe(T0 / 1000);
    expect(m.value('pulse_practice_status', { ods: 'C00004', status: 'down' })).toBe(1);
  });

  it("moves the dead-man's switch with each batch of results, starting from the server's start", async () => {
    const pulse = start();
    expect((await scrape(pulse)).value('pulse_last_result_timestamp_seconds')).toBe(T0 / 1000);
    now += 42_000;
    pulse.ingest([ok('gw3', now - 1_000)]);
    now += 5_000;
    expect((await scrape(pulse)).value('pulse_last_result_timestamp_seconds')).toBe((T0 + 42_000) / 1000);
  });
});

describe('the metrics token', () => {
  it('is required when set: 401 JSON without it or with a wrong one, the metrics with it', async () => {
    const pulse = start({ metricsToken: 'a-metrics-token-for-prometheus' });
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 'a-metrics-token-for-prometheus' }, { authorization: 'Bearer a-metrics-token-for-prometheus-and-more' }];
    for (const headers of attempts) {
      const res = await pulse.app.request('/metrics', { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="pulse-metrics"');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    }
    const m = await scrape(pulse, { authorization: 'Bearer a-metrics-token-for-prometheus' });
    expect(m.families.has('pulse_practices')).toBe(true);
    // Only /metrics: the health check stays open.
    expect((await pulse.app.request('/healthz')).status).toBe(200);
  });

  it('is not asked for when not set', async () => {
    const pulse = start({ metricsToken: '' });
    expect((await pulse.app.request('/metrics')).status).toBe(200);
  });
});

describe("Pulse's view of its own observers", () => {
  const self = (over: Partial<ObserverHealth> = {}): ObserverHealth => ({
    lagMs: 5, eventLoopDelayMs: 30, stalledMs: 40, canary: { ok: true, latencyMs: 1, detail: 'ok' }, timeoutShare: 0, impaired: null, ...over,
  });
  function direct(over: Partial<Parameters<typeof createMetrics>[0]> = {}) {
    const estate = parseEstate(ESTATE, 'metrics-test.yaml');
    const counts = Object.fromEntries(STATUS_LEVELS.map((s) => [s, 0])) as Record<(typeof STATUS_LEVELS)[number], number>;
    return createMetrics({
      estate,
      now: () => now,
      practiceCounts: () => ({ ...counts, backup: 0 }),
      serviceCounts: () => counts,
      practices: () => [],
      services: () => [],
      openIncidents: () => [{ kind: 'pulse' }],
      liveClients: () => 0,
      workers: () => [],
      ...over,
    });
  }
  const scrapeDirect = async (m: ReturnType<typeof createMetrics>) => parseExposition((await m.scrape()).toString('utf8'));

  it('shows each location\'s worker health: impaired, event-loop delay (worst), canary (any failing); results refused by reason', async () => {
    const m = direct({
      workers: () => [
        { location: 'leeds', lagMs: 4_600, self: self({ eventLoopDelayMs: 2_500, impaired: '4.6 s behind' }), impaired: "Pulse's probes in leeds are overloaded: 4.6 s behind" },
        { location: 'leeds', lagMs: 5, self: self({ canary: { ok: false, latencyMs: 2_000, detail: 'no answer' } }), impaired: null },
        { location: 'york', lagMs: 5, self: self({ canary: null }), impaired: null },
        { location: 'hull', lagMs: 0, self: null, impaired: null },
      ],
      rejectedResults: () => ({ future: 3, late: 1 }),
      selfImpaired: () => true,
      serverEventLoopDelayMs: () => 1_250,
    });
    m.serverStall(40_000);
    const x = await scrapeDirect(m);
    expect(x.value('pulse_worker_impaired', { location: 'leeds' })).toBe(1);
    expect(x.value('pulse_worker_impaired', { location: 'york' })).toBe(0);
    expect(x.value('pulse_worker_event_loop_delay_seconds', { location: 'leeds' })).toBe(2.5);
    expect(x.value('pulse_worker_event_loop_delay_seconds', { location: 'hull' })).toBeUndefined();
    expect(x.value('pulse_worker_canary_up', { location: 'leeds' })).toBe(0);
    expect(x.value('pulse_worker_canary_up', { location: 'york' })).toBeUndefined();
    expect(x.value('pulse_worker_results_rejected_total', { reason: 'future' })).toBe(3);
    expect(x.value('pulse_worker_results_rejected_total', { reason: 'late' })).toBe(1);
    expect(x.value('pulse_self_impaired')).toBe(1);
    expect(x.value('pulse_server_event_loop_delay_seconds')).toBe(1.25);
    expect(x.value('pulse_server_stalls_total')).toBe(1);
    expect(x.value('pulse_server_stalled_seconds_total')).toBe(40);
    expect(x.value('pulse_incidents_open', { kind: 'pulse' })).toBe(1);
    expect(x.value('pulse_incidents_open', { kind: 'endpoints' })).toBe(0);
  });

  it('reads zeros when the self-watch is not wired: no self-incident, no rejections', async () => {
    const x = await scrapeDirect(direct());
    expect(x.value('pulse_self_impaired')).toBe(0);
    expect(x.value('pulse_worker_results_rejected_total', { reason: 'future' })).toBe(0);
    expect(x.value('pulse_server_stalls_total')).toBe(0);
  });

  it("counts an impaired worker's failures as result=\"impaired\", not the target's error, and not as a failing check", async () => {
    const m = direct();
    const overloaded = "Pulse's probes in leeds are overloaded: 4.6 s behind";
    m.results([{ ...fail('gw3'), impaired: overloaded }, ok('gw1', now, { impaired: overloaded })]);
    const x = await scrapeDirect(m);
    expect(x.value('pulse_check_results_total', { kind: 'http', result: 'impaired' })).toBe(1);
    expect(x.value('pulse_check_results_total', { kind: 'http', result: 'timeout' })).toBeUndefined();
    expect(x.value('pulse_check_results_total', { kind: 'http', result: 'ok' })).toBe(1);
    expect(x.value('pulse_check_success', { check: 'gw3' })).toBeUndefined();
    expect(x.value('pulse_check_success', { check: 'gw1' })).toBe(1);
  });
});
