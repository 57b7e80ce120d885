// Benchmark for issue 4 (`npm run bench:status`, `-- --quick` for a short smoke run).
// Measures, on this machine, with real parts and a fake clock, no network:
//   A. a mass outage: every EMIS practice of a 6,300-practice estate changes in one
//      instant. A1 times the engine (recompute + building the change set); A2 times the
//      whole server path, ingest → tick → store → WebSocket delta received by a client.
//   B. database growth per day per 10,000 checks polled every 30 s: minute roll-ups
//      through the real accumulator and SqliteHistoryStore, transitions from the real
//      StatusEngine into status_events through SqliteStore.
//   C. memory of 50,000 recent-result rings.
// Not a test file (never named *.test.ts); prints a table with targets and PASS/MISS.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serve } from '@hono/node-server';
import WebSocket from 'ws';
import type { CheckResult } from '../../probes/types';
import { createPulse } from '../../server/app';
import { parseEstate, type Estate } from '../../server/config/estate';
import { HistoryRecorder } from '../../server/history/recorder';
import { RecentResults } from '../../server/history/recent';
import { HOUR_MS, MINUTE_MS } from '../../server/history/types';
import type { LiveServerMessage } from '../../server/live/protocol';
import { silentLogger } from '../../server/log';
import { generatePractices, seededRandom, serviceCatalogue, type PracticeSpec } from '../../server/simulator/estate';
import { renderEstateYaml } from '../../server/simulator/estate-yaml';
import { StatusEngine, type StatusChange } from '../../server/status/engine';
import { STATUS_LEVELS, type StatusLevel } from '../../server/status/types';
import { SqliteStore } from '../../server/store/sqlite';
import { openDatabase, type Db } from '../../server/store/sqlite/db';
import { SqliteHistoryStore } from '../../server/store/sqlite/history';
import type { StatusTransition } from '../../server/store/types';
import { Views } from '../../server/views';

const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 5;
const OUTAGE_PRACTICES = 6_300;
const GROWTH_CHECKS = 10_000;
const GROWTH_HOURS = QUICK ? 3 : 24;
/** Practices the real engine runs for part B; its transitions are replicated onto the rest. */
const ENGINE_SAMPLE = QUICK ? 200 : 500;
const RING_CHECKS = 50_000;
const RING_PER_CHECK = 60;
const MIB = 1024 * 1024;
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const log = (message: string) => process.stderr.write(`[bench:status] ${message}\n`);
const rows: { part: string; measure: string; value: string; target: string; result: string }[] = [];
const notes: string[] = [];

// ---------------------------------------------------------------------------------------
// Estates, generated like the simulator does (server/simulator), with unreachable targets.

function estateYaml(practices: readonly PracticeSpec[]): string {
  const services = serviceCatalogue.map((s) => ({
    id: s.id,
    name: s.name,
    kind: s.kind,
    url: `http://127.0.0.1:9/${s.id}/health`,
    tcp: s.check === 'tcp' ? '127.0.0.1:9' : null,
  }));
  const sims = practices.map((p) => ({ ...p, gatewayUrl: `http://127.0.0.1:9/gateway/${p.ods}` }));
  return renderEstateYaml(serviceCatalogue, services, sims, { interval: '30s', timeout: '5s' });
}

function buildEstate(practices: readonly PracticeSpec[]): Estate {
  return parseEstate(estateYaml(practices), 'bench-estate.yaml');
}

const ok = (checkId: string, at: number, latencyMs = 40): CheckResult => ({ checkId, at, location: 'bench', ok: true, latencyMs });
const fail = (checkId: string, at: number): CheckResult => ({
  checkId,
  at,
  location: 'bench',
  ok: false,
  latencyMs: 5_000,
  error: 'status',
  detail: 'status 503, expected 200',
});

function stats(samples: number[]): { median: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted[sorted.length - 1]! };
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;
const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');

// ---------------------------------------------------------------------------------------
// C. Recent-result rings (first, while the heap is fresh, so the RSS delta means something).

function benchRings(): void {
  log(`C: ${RING_CHECKS} rings × ${RING_PER_CHECK} results`);
  gc();
  const before = process.memoryUsage();
  const ring = new RecentResults({ perCheck: RING_PER_CHECK, initialChecks: RING_CHECKS });
  const random = seededRandom(3);
  const ids = Array.from({ length: RING_CHECKS }, (_, i) => `C${String(i).padStart(5, '0')}-gateway`);
  const started = performance.now();
  for (let k = 0; k < RING_PER_CHECK * 2; k++) {
    for (let c = 0; c < RING_CHECKS; c++) {
      const at = T0 + k * 30_000 + c;
      // ~0.5% failures, each with its own detail text, as a real worker would send.
      ring.push(random() < 0.005 ? { ...fail(ids[c]!, at), detail: `status 503 from ${ids[c]}, expected 200` } : ok(ids[c]!, at, 20 + random() * 200));
    }
  }
  const pushMs = performance.now() - started;
  gc();
  const after = process.memoryUsage();
  const rss = (after.rss - before.rss) / MIB;
  const held = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / MIB;
  rows.push({
    part: 'C',
    measure: `recent results, ${RING_CHECKS.toLocaleString('en-GB')} checks × ${RING_PER_CHECK}: RSS growth`,
    value: `${rss.toFixed(1)} MiB`,
    target: 'bounded',
    result: `${(held * MIB / (RING_CHECKS * RING_PER_CHECK)).toFixed(1)} B/result`,
  });
  notes.push(
    `C: heap+array buffers held ${held.toFixed(1)} MiB (slot arrays ${(ring.bytes / MIB).toFixed(1)} MiB); ` +
      `${(RING_CHECKS * RING_PER_CHECK * 2).toLocaleString('en-GB')} pushes in ${pushMs.toFixed(0)} ms ` +
      `(${((pushMs * 1e6) / (RING_CHECKS * RING_PER_CHECK * 2)).toFixed(0)} ns each); fixed size once full.`,
  );
  if (ring.recent(ids[0]!).length !== RING_PER_CHECK) throw new Error('ring did not keep 60 results');
}

// ---------------------------------------------------------------------------------------
// A. Mass outage: 2 consecutive failures of the emis-web check in one instant.

async function benchOutage(): Promise<void> {
  let started = performance.now();
  const practices = generatePractices(OUTAGE_PRACTICES, 1);
  const estate = buildEstate(practices);
  const emis = new Set(practices.filter((p) => p.system === 'emis-web').map((p) => p.ods));
  const emisCheck = estate.services.get('emis-web')!.checks[0]!;
  const checkIds = [...estate.checks.keys()];
  const allOk = (at: number) => checkIds.map((id) => ok(id, at));
  log(`A: estate of ${estate.practices.size} practices, ${estate.checks.size} checks, ${emis.size} on EMIS, built in ${(performance.now() - started).toFixed(0)} ms`);

  // A1: the engine and the change set, no I/O.
  const engine = new StatusEngine(estate, T0);
  const views = new Views(estate, engine);
  const recompute: number[] = [];
  const total: number[] = [];
  let deltaBytes = 0;
  // Instants 15 minutes apart, so the flapping rule (10 min window) never sees the repeats.
  const instant = (rep: number) => T0 + HOUR_MS + rep * 15 * MINUTE_MS;
  for (let rep = 0; rep < REPS + 1; rep++) {
    const t = instant(rep);
    engine.ingest(allOk(t));
    views.apply(engine.recompute(t + 1_000));
    started = performance.now();
    engine.ingest([fail(emisCheck, t + 2_000), fail(emisCheck, t + 2_001)]);
    const changes = engine.recompute(t + 2_001);
    const recomputed = performance.now();
    const delta = views.apply(changes);
    const message = JSON.stringify({ type: 'delta', seq: rep, at: new Date(t).toISOString(), ...delta, counts: views.counts() });
    const done = performance.now();
    const down = delta.practices.filter((p) => emis.has(p.ods) && p.status === 'down').length;
    if (down !== emis.size) throw new Error(`A1: expected ${emis.size} EMIS practices down in the change set, got ${down}`);
    if (rep === 0) continue; // warm-up
    recompute.push(recomputed - started);
    total.push(done - started);
    deltaBytes = message.length;
  }
  const a1 = stats(total);
  const r1 = stats(recompute);
  rows.push({
    part: 'A1',
    measure: `engine: ${emis.size.toLocaleString('en-GB')} EMIS practices down, recompute + change set`,
    value: `${ms(a1.median)} (max ${ms(a1.max)})`,
    target: '≤ 1000 ms',
    result: verdict(a1.max <= 1_000),
  });
  notes.push(`A1: recompute alone median ${ms(r1.median)} (max ${ms(r1.max)}); views + JSON of the ${(deltaBytes / 1024).toFixed(0)} KiB delta the rest; ${REPS} runs after a warm-up.`);

  // A2: the whole server, a real socket and a real client.
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-status-'));
  const store = new SqliteStore(join(dir, 'data'));
  let now = T0;
  const pulse = createPulse({ estate, store, clock: { now: () => now }, log: silentLogger, workerToken: 'bench-token' });
  await pulse.restore();
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: pulse.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  server.on('upgrade', (req, socket, head) => pulse.handleUpgrade(req, socket, head));
  const port = (server.address() as AddressInfo).port;

  const seen = new Map<string, string>();
  let waiter: { test: () => boolean; resolve: (at: number) => void } | null = null;
  let received = 0;
  // A national read-only display link: the live feed needs a credential.
  const display = await store.accounts.createToken({ kind: 'display', name: 'bench', icb: null, createdBy: 'bench', now });
  const client = new WebSocket(`ws://127.0.0.1:${port}/ws?display=${display.secret}`);
  client.on('message', (data) => {
    const text = String(data);
    received += text.length;
    const message = JSON.parse(text) as LiveServerMessage;
    if (message.type === 'snapshot' || message.type === 'delta') for (const p of message.practices) seen.set(p.ods, p.status);
    if (waiter?.test()) {
      const w = waiter;
      waiter = null;
      w.resolve(performance.now());
    }
  });
  const until = (test: () => boolean, what: string) =>
    new Promise<number>((resolve, reject) => {
      if (test()) return resolve(performance.now());
      const timer = setTimeout(() => reject(new Error(`A2: timed out waiting for ${what}`)), 30_000);
      waiter = { test, resolve: (at) => (clearTimeout(timer), resolve(at)) };
    });
  const emisAll = (status: string) => () => [...emis].every((ods) => seen.get(ods) === status);
  await until(() => seen.size === estate.practices.size, 'the snapshot');

  const endToEnd: number[] = [];
  const tickOnly: number[] = [];
  let outageBytes = 0;
  for (let rep = 0; rep < REPS + 1; rep++) {
    const t = instant(rep);
    now = t + 1_000;
    pulse.engine.ingest(allOk(t));
    await pulse.tick();
    await until(emisAll('up'), 'EMIS practices up');
    now = t + 2_001;
    const before = received;
    started = performance.now();
    pulse.engine.ingest([fail(emisCheck, t + 2_000), fail(emisCheck, t + 2_001)]);
    const ticked = pulse.tick().then(() => performance.now());
    const arrived = await until(emisAll('down'), 'EMIS practices down');
    const tickDone = await ticked;
    if (rep === 0) continue;
    endToEnd.push(arrived - started);
    tickOnly.push(tickDone - started);
    outageBytes = received - before;
  }
  const a2 = stats(endToEnd);
  const t2 = stats(tickOnly);
  rows.push({
    part: 'A2',
    measure: 'server: ingest → tick → store → WebSocket delta received',
    value: `${ms(a2.median)} (max ${ms(a2.max)})`,
    target: '≤ 1000 ms',
    result: verdict(a2.max <= 1_000),
  });
  notes.push(
    `A2: tick() (recompute, views, publish, SQLite write of ${emis.size + 1} transitions) median ${ms(t2.median)} ` +
      `(max ${ms(t2.max)}); the client read ${(outageBytes / 1024).toFixed(0)} KiB for the outage. ` +
      `In production add up to one tick interval (250 ms) before the tick starts.`,
  );
  client.close();
  pulse.close('bench done');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections?.();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// What-if for part B only (not Pulse's schema): the same transitions stored compactly —
// small-integer subject and from/to, each distinct cause text once — and optionally only
// changes of *confirmed* status (a `suspected` blip that comes back up is not stored).

class CompactTransitions {
  readonly db: Db;
  private readonly subjects = new Map<string, number>();
  private readonly causes = new Map<string, number>();
  private readonly confirmed = new Map<string, StatusLevel>();
  private readonly insert: (rows: StatusTransition[]) => void;
  stored = 0;

  constructor(dir: string, private readonly confirmedOnly: boolean) {
    this.db = openDatabase(dir);
    this.db.exec(`CREATE TABLE subjects (ref INTEGER PRIMARY KEY, subject TEXT NOT NULL UNIQUE);
      CREATE TABLE causes (ref INTEGER PRIMARY KEY, cause TEXT NOT NULL UNIQUE);
      CREATE TABLE events (id INTEGER PRIMARY KEY, subject_ref INTEGER NOT NULL, at INTEGER NOT NULL, change INTEGER NOT NULL, cause_ref INTEGER);
      CREATE INDEX events_subject_at ON events (subject_ref, at);`);
    const addSubject = this.db.prepare<[string]>('INSERT INTO subjects (subject) VALUES (?)');
    const addCause = this.db.prepare<[string]>('INSERT INTO causes (cause) VALUES (?)');
    const addEvent = this.db.prepare<[number, number, number, number | null]>('INSERT INTO events (subject_ref, at, change, cause_ref) VALUES (?, ?, ?, ?)');
    const ref = (map: Map<string, number>, key: string, add: typeof addSubject) => {
      let r = map.get(key);
      if (r === undefined) map.set(key, (r = Number(add.run(key).lastInsertRowid)));
      return r;
    };
    this.insert = this.db.transaction((rows: StatusTransition[]) => {
      for (const t of rows) {
        let from = t.from;
        let to = t.to;
        if (this.confirmedOnly) {
          // Unconfirmed levels keep the last confirmed status; store only when that changes.
          from = this.confirmed.get(t.subject) ?? 'unknown';
          to = t.to === 'suspected' || t.to === 'recovering' ? from : t.to;
          if (to === from) continue;
          this.confirmed.set(t.subject, to);
        }
        const cause = t.cause ? ref(this.causes, JSON.stringify(t.cause), addCause) : null;
        addEvent.run(ref(this.subjects, t.subject, addSubject), t.at, STATUS_LEVELS.indexOf(from) * 8 + STATUS_LEVELS.indexOf(to), cause);
        this.stored++;
      }
    });
  }

  record(rows: StatusTransition[]): void {
    this.insert(rows);
  }

  bytes(): number {
    const r = this.db
      .prepare("SELECT sum(pgsize) AS n FROM dbstat WHERE name IN ('subjects', 'causes', 'events', 'events_subject_at', 'sqlite_autoindex_subjects_1', 'sqlite_autoindex_causes_1')")
      .get() as { n: number };
    return r.n;
  }
}

// ---------------------------------------------------------------------------------------
// B. Database growth: one simulated day of 10,000 checks every 30 s.

async function benchGrowth(): Promise<void> {
  const practiceCount = GROWTH_CHECKS - serviceCatalogue.length;
  let started = performance.now();
  const practices = generatePractices(practiceCount, 11);
  const sample = practices.slice(0, ENGINE_SAMPLE);
  const sampleEstate = buildEstate(sample);
  const serviceChecks = serviceCatalogue.map((s) => sampleEstate.services.get(s.id)!.checks[0]!);
  const checkIds = [...serviceChecks, ...practices.map((p) => `${p.ods}-gateway`)];
  if (checkIds.length !== GROWTH_CHECKS) throw new Error(`B: ${checkIds.length} checks, expected ${GROWTH_CHECKS}`);
  const sampleChecks = serviceChecks.length + ENGINE_SAMPLE; // the first ones in checkIds
  log(`B: ${GROWTH_CHECKS} checks, ${GROWTH_HOURS} h simulated; engine sample ${ENGINE_SAMPLE} practices (${(performance.now() - started).toFixed(0)} ms to build)`);

  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-growth-'));
  const dataDir = join(dir, 'data');
  const store = new SqliteStore(dataDir);
  const history = new SqliteHistoryStore(store.db);
  const recorder = new HistoryRecorder({ store: history, recent: { initialChecks: GROWTH_CHECKS } });
  const engine = new StatusEngine(sampleEstate, T0);
  const compact = new CompactTransitions(join(dir, 'what-if-compact'), false);
  const confirmedOnly = new CompactTransitions(join(dir, 'what-if-confirmed'), true);

  // The results: per-check base latency, ±15% noise, 1% slow spikes, 0.5% failures, and outages.
  const random = seededRandom(5);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const base = checkIds.map(() => 20 * Math.exp(random() * Math.log(20))); // 20 … 400 ms
  const offset = checkIds.map((_, i) => (i * 7_919) % 30_000); // staggered within the interval
  const end = T0 + GROWTH_HOURS * HOUR_MS;
  const windowStart = (hourOfDay: number) => T0 + Math.min(hourOfDay, GROWTH_HOURS - 1) * HOUR_MS + 10 * MINUTE_MS;
  const outages = new Map<number, { from: number; to: number }>();
  // A national EMIS Web outage (25 min) and an e-RS outage (20 min: practices degrade).
  outages.set(serviceChecks.indexOf('emis-web-api'), { from: windowStart(QUICK ? 1 : 10), to: windowStart(QUICK ? 1 : 10) + 25 * MINUTE_MS });
  outages.set(serviceChecks.indexOf('ers-api'), { from: windowStart(QUICK ? 2 : 14), to: windowStart(QUICK ? 2 : 14) + 20 * MINUTE_MS });
  // About 1% of practices lose their own connection for 10–60 minutes in a day.
  for (let i = serviceChecks.length; i < GROWTH_CHECKS; i++) {
    if (random() < 0.01 * (GROWTH_HOURS / 24)) {
      const from = T0 + Math.floor(random() * (end - T0 - HOUR_MS));
      outages.set(i, { from, to: from + (10 + random() * 50) * MINUTE_MS });
    }
  }
  if (outages.has(-1)) throw new Error('B: a service outage names an unknown check');

  const replicas = Math.ceil(practiceCount / ENGINE_SAMPLE);
  const replicate = (changes: StatusChange[]): StatusTransition[] => {
    const out: StatusTransition[] = [];
    for (const c of changes) {
      if (!c.subject.startsWith('practice:')) {
        out.push(c);
        continue;
      }
      const ods = c.subject.slice('practice:'.length);
      const j = sample.findIndex((p) => p.ods === ods);
      const cause = c.cause ? JSON.stringify(c.cause) : null;
      for (let k = 0; k < replicas; k++) {
        const target = practices[k * ENGINE_SAMPLE + j];
        if (!target) continue;
        out.push({ ...c, subject: `practice:${target.ods}`, cause: cause ? JSON.parse(cause.replaceAll(ods, target.ods)) : null });
      }
    }
    return out;
  };

  let results = 0;
  let transitions = 0;
  let transitionBytes = 0;
  const kinds = new Map<string, number>();
  const minuteWrites: number[] = [];
  let engineMs = 0;
  let storeMs = 0;
  started = performance.now();
  const batch: CheckResult[] = new Array(GROWTH_CHECKS);
  for (let step = T0; step < end; step += 30_000) {
    for (let i = 0; i < GROWTH_CHECKS; i++) {
      const at = step + offset[i]!;
      const o = outages.get(i);
      const failed = (o !== undefined && at >= o.from && at < o.to) || random() < 0.005;
      const latency = Math.max(1, base[i]! * (1 + 0.15 * gauss()) * (random() < 0.01 ? 3 : 1));
      batch[i] = failed ? fail(checkIds[i]!, at) : ok(checkIds[i]!, at, latency);
    }
    results += GROWTH_CHECKS;
    recorder.record(batch);
    const e0 = performance.now();
    engine.ingest(batch.slice(0, sampleChecks));
    const changes = engine.recompute(step + 30_000);
    engineMs += performance.now() - e0;
    if (changes.length > 0) {
      const s0 = performance.now();
      const all = replicate(changes);
      await store.recordTransitions(all);
      storeMs += performance.now() - s0;
      compact.record(all);
      confirmedOnly.record(all);
      transitions += all.length;
      for (const t of all) {
        const key = `${t.from}→${t.to}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
        transitionBytes += t.cause ? JSON.stringify(t.cause).length : 0;
      }
    }
    // Minute by minute for the first hour (to time it, as Pulse writes), then every 15
    // minutes: the sealed hours come out the same, the bench just does fewer merges.
    const now = step + 30_000;
    const cadence = now - T0 <= HOUR_MS ? MINUTE_MS : 15 * MINUTE_MS;
    if ((now - T0) % cadence === 0) {
      const w0 = performance.now();
      const flushed = await recorder.flush(now);
      const took = performance.now() - w0;
      storeMs += took;
      if (cadence === MINUTE_MS && flushed.rows > 0 && flushed.sealed === 0) minuteWrites.push(took);
    }
    if ((now - T0) % HOUR_MS === 0) log(`B: ${(now - T0) / HOUR_MS} h simulated, ${transitions} transitions, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const s0 = performance.now();
  await recorder.close();
  let sealed = 0;
  for (let n = -1; n !== 0; ) sealed += n = await history.seal(end + HOUR_MS, 5_000);
  storeMs += performance.now() - s0;
  const simulatedMs = performance.now() - started;

  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  const pageCount = store.db.pragma('page_count', { simple: true }) as number;
  const freePages = store.db.pragma('freelist_count', { simple: true }) as number;
  const byName = new Map(
    (store.db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]).map(
      (r) => [r.name, r.bytes],
    ),
  );
  const fileBytes = statSync(join(dataDir, 'pulse.db')).size + (statSafe(join(dataDir, 'pulse.db-wal')) ?? 0);
  const bytesOf = (...names: string[]) => names.reduce((sum, n) => sum + (byName.get(n) ?? 0), 0);
  // The check-id table is written once, not per day: left out of the per-day scaling.
  const checkTableBytes = bytesOf('history_checks', 'sqlite_autoindex_history_checks_1');
  const minutesBytes = bytesOf('history_hours');
  const hourRows = store.db.prepare('SELECT count(*) AS n, avg(length(slots)) AS blob FROM history_hours').get() as { n: number; blob: number };
  const eventsBytes = bytesOf('status_events', 'status_events_subject_at');
  const transientBytes = bytesOf('history_open') + freePages * pageSize;
  const dayScale = 24 / GROWTH_HOURS;
  const growthPerDay = (fileBytes - transientBytes - checkTableBytes) * dayScale + checkTableBytes;
  const fileIfDay = QUICK ? growthPerDay + transientBytes : fileBytes;
  const checkMinutes = GROWTH_CHECKS * GROWTH_HOURS * 60;
  const target = 50 * MIB;
  rows.push({
    part: 'B',
    measure: `DB file per day per ${GROWTH_CHECKS.toLocaleString('en-GB')} checks @30 s (pulse.db + wal)`,
    value: `${(fileIfDay / MIB).toFixed(1)} MiB${QUICK ? ' (×8 est.)' : ''}`,
    target: '< 50 MiB',
    result: verdict(fileIfDay < target),
  });
  rows.push({
    part: 'B',
    measure: '  of which minute roll-ups (packed hours)',
    value: `${((minutesBytes * dayScale) / MIB).toFixed(1)} MiB`,
    target: '',
    result: '',
  });
  rows.push({
    part: 'B',
    measure: '  the roll-ups alone per check-minute',
    value: `${(minutesBytes / checkMinutes).toFixed(2)} B`,
    target: '< 3.64 B',
    result: verdict(minutesBytes / checkMinutes < target / (GROWTH_CHECKS * 24 * 60)),
  });
  rows.push({
    part: 'B',
    measure: `  of which transitions (${Math.round(transitions * dayScale).toLocaleString('en-GB')} a day)`,
    value: `${((eventsBytes * dayScale) / MIB).toFixed(1)} MiB`,
    target: '',
    result: `${(eventsBytes / Math.max(1, transitions)).toFixed(0)} B/transition`,
  });
  rows.push({
    part: 'B',
    measure: '  bytes per check-minute, all of it',
    value: `${(fileIfDay / (GROWTH_CHECKS * 24 * 60)).toFixed(2)} B`,
    target: '< 3.64 B',
    result: verdict(fileIfDay / (GROWTH_CHECKS * 24 * 60) < target / (GROWTH_CHECKS * 24 * 60)),
  });
  const otherBytes = fileIfDay - (minutesBytes + eventsBytes) * dayScale;
  for (const [label, sink] of [
    ['what-if: transitions compact (int ids, causes once)', compact],
    ['what-if: compact + confirmed changes only', confirmedOnly],
  ] as const) {
    const eventsDay = sink.bytes() * dayScale;
    const totalDay = otherBytes + minutesBytes * dayScale + eventsDay;
    rows.push({
      part: 'B?',
      measure: `${label}: ${Math.round(sink.stored * dayScale).toLocaleString('en-GB')} a day, ${(sink.bytes() / Math.max(1, sink.stored)).toFixed(0)} B each`,
      value: `${(eventsDay / MIB).toFixed(1)} MiB`,
      target: '',
      result: `DB ${(totalDay / MIB).toFixed(1)} MiB/day ${verdict(totalDay < target)}`,
    });
    sink.db.close();
  }
  const w = stats(minuteWrites);
  const blipTrips = Math.min(kinds.get('up→suspected') ?? 0, kinds.get('suspected→up') ?? 0);
  notes.push(
    `B: ${results.toLocaleString('en-GB')} results in ${(simulatedMs / 1000).toFixed(0)} s (engine ${(engineMs / 1000).toFixed(0)} s, store ${(storeMs / 1000).toFixed(0)} s); ` +
      `page size ${pageSize}, ${pageCount} pages, ${freePages} free; open-hour table + free pages ${(transientBytes / MIB).toFixed(1)} MiB (reused, does not grow); ` +
      `${sealed} check-hours sealed at the end; ${hourRows.n.toLocaleString('en-GB')} packed hours averaging ${hourRows.blob.toFixed(0)} B ` +
      `(${(minutesBytes / hourRows.n).toFixed(0)} B each with row and page overhead).`,
    `B: writing one minute of ${GROWTH_CHECKS.toLocaleString('en-GB')} checks (batches of 2,000, one transaction each): median ${ms(w.median)}, max ${ms(w.max)}.`,
    `B: transitions by kind: ${[...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${Math.round(n * dayScale).toLocaleString('en-GB')}`).join(', ')}; ` +
      `mean cause JSON ${(transitionBytes / Math.max(1, transitions)).toFixed(0)} B. ~${Math.round(blipTrips * dayScale).toLocaleString('en-GB')} a day are blips ` +
      `(one failure: up→suspected→up), ${(((2 * blipTrips) / Math.max(1, transitions)) * 100).toFixed(0)}% of all transitions.`,
    `B: transitions come from the real StatusEngine over ${ENGINE_SAMPLE} practices + ${serviceChecks.length} services fed the same results, ` +
      `replicated onto the other ${(practiceCount - ENGINE_SAMPLE).toLocaleString('en-GB')} practices (same rate per practice); minute roll-ups cover all ${GROWTH_CHECKS.toLocaleString('en-GB')} checks.`,
  );
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

function statSafe(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------

const began = performance.now();
const load = loadavg()[0]!.toFixed(2);
benchRings();
await benchOutage();
await benchGrowth();

const header = { part: 'part', measure: 'measure', value: 'value', target: 'target', result: 'result' };
const widths = Object.keys(header).map((k) => Math.max(...[header, ...rows].map((r) => r[k as keyof typeof header].length)));
const line = (r: typeof header) =>
  (Object.keys(header) as (keyof typeof header)[]).map((k, i) => r[k].padEnd(widths[i]!)).join('  ').trimEnd();
console.log(
  `Pulse bench:status${QUICK ? ' --quick' : ''} — Node ${process.version}, load average ${load} at start / ${loadavg()[0]!.toFixed(2)} at end, ` +
    `${((performance.now() - began) / 1000).toFixed(0)} s`,
);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log('');
for (const n of notes) console.log(n);
