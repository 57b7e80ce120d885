// Benchmark for issue 14's history and snapshot part (`npm run bench:history`, `-- --quick` for
// a short run that says so). Builds a national estate in process (6,300 practices × 8 checks +
// 9 services, through the real loader), a real SQLite store in a temporary folder (WAL, as the
// server opens it), and measures on the main thread, with perf_hooks:
//   - minute summaries: a simulated hour of results (two per check a minute, all up, noisy
//     latency) through the real HistoryRecorder and store, the way the server ticks it: the
//     longest event-loop delay while a minute is written (monitorEventLoopDelay, 1 ms
//     resolution), the main thread's busy time for it (eventLoopUtilization), and the time until
//     it is all committed; once with the writer on its own thread (the server's way) and once
//     on the main thread in 2,000-row transactions (how it was before);
//   - the engine snapshot: the old single blob (JSON of exportState, one upsert) against the
//     incremental save (only what changed), first save, after a round of results, and idle;
//   - database growth: stored bytes per check per day in steady state (sealed hours), against
//     the target of 50 MiB a day per 10,000 checks.
// Not a test file (never named *.test.ts). Run it alone: flock /tmp/pulse-bench.lock …
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { CheckResult } from '../../probes/types';
import { createPulse } from '../../server/app';
import { parseEstate, type Estate } from '../../server/config/estate';
import { HistoryRecorder } from '../../server/history/recorder';
import { HOUR_MS, MINUTE_MS } from '../../server/history/types';
import { silentLogger } from '../../server/log';
import { generatePractices, seededRandom, serviceCatalogue } from '../../server/simulator/estate';
import { SqliteStore } from '../../server/store/sqlite';
import { SqliteHistoryStore } from '../../server/store/sqlite/history';

const QUICK = process.argv.includes('--quick');
/** `--only history` or `--only snapshot`: one part alone. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
if (ONLY !== null && ONLY !== 'history' && ONLY !== 'snapshot') {
  process.stderr.write(`bench:history: --only takes history or snapshot, not ${ONLY ?? 'nothing'}\n`);
  process.exit(2);
}
const PRACTICES = 6_300;
const SUFFIXES = ['gateway', 'gateway-tls', 'emis-client', 'docman', 'telephony', 'printer', 'wifi', 'website'];
/** Minutes of the simulated hour written (quick: a few, early in the hour, where writes are cheapest). */
const MINUTES = QUICK ? 4 : 60;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const SLICE_TARGET_MS = 20;
const GROWTH_TARGET_BYTES_PER_CHECK_DAY = (50 * 1024 * 1024) / 10_000;

const log = (message: string) => process.stderr.write(`[bench:history] ${message}\n`);
const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

function buildEstate(): Estate {
  const file = {
    defaults: { interval: '30s', timeout: '5s' },
    services: serviceCatalogue.map((s) => ({
      id: s.id,
      name: s.name,
      kind: s.kind,
      ...(s.dependsOn.length > 0 ? { dependsOn: s.dependsOn } : {}),
      checks: [{ id: `${s.id}-tcp`, kind: 'tcp', target: `${s.id}.example.nhs.uk:443` }],
    })),
    practices: generatePractices(PRACTICES, 1).map((p) => ({
      ...p,
      checks: SUFFIXES.map((suffix) => ({ id: `${p.ods}-${suffix}`, kind: 'tcp', target: `${suffix}-${p.ods.toLowerCase()}.example.nhs.uk:443` })),
    })),
  };
  return parseEstate(JSON.stringify(file), 'bench-history-estate.yaml');
}

/** One round of results for every check (30 s apart: two rounds a minute), all up, latency 20–80 ms. */
function round(ids: readonly string[], at: number, random: () => number): CheckResult[] {
  return ids.map((checkId, i) => ({ checkId, at: at + (i % 25_000), location: i % 2 === 0 ? 'leeds' : 'london', ok: true, latencyMs: 20 + random() * 60 }));
}

interface Phase {
  /** Longest event-loop delay seen while it ran (≈ the longest synchronous slice). */
  maxDelayMs: number;
  p99DelayMs: number;
  /** Main thread busy time. */
  busyMs: number;
  wallMs: number;
}

/** Runs `work` while measuring the main thread, with a 1 ms timer keeping the loop observed. */
async function measured(work: () => Promise<unknown>): Promise<Phase> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  // Also our own 1 ms timer: the longest gap between two of its ticks is the longest stretch
  // the loop could not run it (the histogram alone has missed a single long block here).
  let last = performance.now();
  let maxGap = 0;
  const keepAlive = setInterval(() => {
    const t = performance.now();
    if (t - last > maxGap) maxGap = t - last;
    last = t;
  }, 1);
  h.enable();
  // A turn first: the histogram counts a delay only between two of its own samples.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  // One more turn, so a timer held up by the last synchronous stretch is counted.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const used = performance.eventLoopUtilization(elu);
  h.disable();
  clearInterval(keepAlive);
  return { maxDelayMs: Math.max(h.max / 1e6, maxGap - 1), p99DelayMs: h.percentile(99) / 1e6, busyMs: used.active, wallMs };
}

interface HistoryRun {
  /** Starting the writer thread (once, at the first write after start-up). */
  start: Phase | null;
  /** The same process and heap doing nothing for 5 s: what the loop shows without any writing. */
  idle: Phase;
  minutes: Phase[];
  seal: Phase | null;
  bytesPerCheckHour: number;
  pagesPerCheckHour: number;
}

async function historyRun(estate: Estate, offThread: boolean): Promise<HistoryRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-history-'));
  const main = new SqliteStore(dir);
  const store = new SqliteHistoryStore(main.db, { offThread });
  const recorder = new HistoryRecorder({ store, recent: { initialChecks: estate.checks.size }, ...(offThread ? {} : { batchRows: 2_000 }) });
  const ids = [...estate.checks.keys()];
  const random = seededRandom(11);
  const minutes: Phase[] = [];
  let seal: Phase | null = null;
  let start: Phase | null = null;
  try {
    // The thread starts with the server's first minute write; measured apart from the steady minutes.
    if (offThread) start = await measured(() => store.checkpoint());
    for (let m = 0; m < MINUTES; m++) {
      const start = T0 + m * MINUTE_MS;
      recorder.record(round(ids, start, random));
      recorder.record(round(ids, start + 30_000, random));
      // The server's tick at the start of the next minute writes this one.
      const phase = await measured(() => recorder.flush(start + MINUTE_MS + 250));
      minutes.push(phase);
      if (m % 10 === 0 || m === MINUTES - 1) log(`${offThread ? 'writer thread' : 'main thread'}: minute ${m + 1}/${MINUTES}: longest delay ${ms(phase.maxDelayMs)}, main busy ${ms(phase.busyMs)}, committed in ${ms(phase.wallMs)}`);
    }
    if (!QUICK) {
      // Five minutes after the hour: the hour is packed (deflated) into history_hours.
      recorder.record(round(ids, T0 + HOUR_MS + 5 * MINUTE_MS, random));
      seal = await measured(() => recorder.flush(T0 + HOUR_MS + 6 * MINUTE_MS));
      log(`${offThread ? 'writer thread' : 'main thread'}: hour packed: longest delay ${ms(seal.maxDelayMs)}, main busy ${ms(seal.busyMs)}, in ${ms(seal.wallMs)}`);
    }
    const idle = await measured(() => new Promise((resolve) => setTimeout(resolve, 5_000)));
    await store.close();
    const table = QUICK ? 'history_open' : 'history_hours';
    const hour = Math.floor(T0 / HOUR_MS);
    const payload = main.db.prepare(`SELECT count(*) AS n, sum(length(slots)) AS b FROM ${table} WHERE hour = ?`).get(hour) as { n: number; b: number };
    const pages = dbstatPages(main, table);
    return { start, idle, minutes, seal, bytesPerCheckHour: payload.b / payload.n, pagesPerCheckHour: pages === null ? NaN : pages / payload.n };
  } finally {
    await main.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of pages a table takes (SQLite's dbstat), or null where it is not compiled in. */
function dbstatPages(store: SqliteStore, table: string): number | null {
  try {
    return (store.db.prepare('SELECT sum(pgsize) AS b FROM dbstat WHERE name = ?').get(table) as { b: number }).b;
  } catch {
    return null;
  }
}

interface SnapshotFigures {
  blob: { phase: Phase; bytes: number };
  first: { phase: Phase; rows: number; bytes: number };
  afterRound: { phase: Phase; rows: number };
  idle: { phase: Phase; rows: number };
  restoreMs: number;
}

async function snapshotRun(estate: Estate): Promise<SnapshotFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-snapshot-'));
  const store = new SqliteStore(dir);
  let now = T0;
  const pulse = createPulse({ estate, store, clock: { now: () => now }, log: silentLogger, workerToken: 'bench-token' });
  const ids = [...estate.checks.keys()];
  const random = seededRandom(5);
  try {
    // Two rounds of results: every check up, seen from one location (half leeds, half london).
    for (const at of [now, now + 1_000]) {
      const results = round(ids, at, random);
      for (let i = 0; i < results.length; i += 500) pulse.ingest(results.slice(i, i + 500));
    }
    now += 5_000;
    await pulse.tick();

    // Before: the whole state as one JSON blob, one upsert (what saveState did).
    let bytes = 0;
    const blob = await measured(async () => {
      const head = await store.accounts.auditHead();
      const body = JSON.stringify({ ...pulse.engine.exportState(), auditHead: { ...head, at: now } });
      bytes = Buffer.byteLength(body);
      await store.signals.saveSnapshot(body, now);
    });

    const changedBefore = () => pulse.engine.unsaved.checks + pulse.engine.unsaved.subjects;
    let rows = changedBefore();
    const first = await measured(() => pulse.saveState());
    const size = store.signals.engineStateSize();
    const firstRows = rows;

    // A round of results for every check (30 s later, as at a 30 s interval): every check changed.
    now += 30_000;
    const results = round(ids, now, random);
    for (let i = 0; i < results.length; i += 500) pulse.ingest(results.slice(i, i + 500));
    await pulse.tick();
    rows = changedBefore();
    const afterRound = await measured(() => pulse.saveState());
    const afterRoundRows = rows;

    // Nothing new since: only the header.
    rows = changedBefore();
    const idle = await measured(() => pulse.saveState());

    // Restore into a fresh engine from the rows.
    const again = createPulse({ estate, store, clock: { now: () => now }, log: silentLogger, workerToken: 'bench-token' });
    const t = performance.now();
    await again.restore();
    const restoreMs = performance.now() - t;
    again.close('bench done');
    return { blob: { phase: blob, bytes }, first: { phase: first, rows: firstRows, bytes: size.bytes }, afterRound: { phase: afterRound, rows: afterRoundRows }, idle: { phase: idle, rows }, restoreMs };
  } finally {
    pulse.close('bench done');
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function worst(phases: Phase[], pick: (p: Phase) => number): number {
  return phases.reduce((m, p) => Math.max(m, pick(p)), 0);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1] ?? NaN;
}

const rows: [string, string, string, string][] = [];
const add = (measure: string, value: string, target = '', result = '') => rows.push([measure, value, target, result]);
const loadBefore = loadavg()[0]!;

async function main(): Promise<void> {
  let t = performance.now();
  const estate = buildEstate();
  log(`estate: ${estate.practices.size} practices, ${estate.checks.size} checks, loaded in ${ms(performance.now() - t)}`);

  let thread: HistoryRun | null = null;
  let here: HistoryRun | null = null;
  if (ONLY !== 'snapshot') {
    t = performance.now();
    thread = await historyRun(estate, true);
    log(`writer thread run: ${ms(performance.now() - t)}`);
    t = performance.now();
    here = await historyRun(estate, false);
    log(`main thread run: ${ms(performance.now() - t)}`);
  }
  const snap = ONLY === 'history' ? null : await snapshotRun(estate);

  const minuteRows = (name: string, run: HistoryRun) => {
    const maxDelay = worst(run.minutes, (p) => p.maxDelayMs);
    add(`${name}: longest event-loop delay while writing a minute`, ms(maxDelay), `≤ ${SLICE_TARGET_MS} ms`, verdict(maxDelay <= SLICE_TARGET_MS));
    add(`${name}: event-loop delay p99 while writing (worst minute)`, ms(worst(run.minutes, (p) => p.p99DelayMs)), '≤ 50 ms', verdict(worst(run.minutes, (p) => p.p99DelayMs) <= 50));
    add(`${name}: main thread busy per minute written (median / worst)`, `${ms(median(run.minutes.map((p) => p.busyMs)))} / ${ms(worst(run.minutes, (p) => p.busyMs))}`);
    add(`${name}: committed per minute (median / worst)`, `${ms(median(run.minutes.map((p) => p.wallMs)))} / ${ms(worst(run.minutes, (p) => p.wallMs))}`);
    add(`${name}: baseline, the same heap idle for 5 s: longest delay`, ms(run.idle.maxDelayMs));
    if (run.start) add(`${name}: starting the thread (once): longest delay / wall`, `${ms(run.start.maxDelayMs)} / ${ms(run.start.wallMs)}`);
    if (run.seal) add(`${name}: packing the hour: longest delay / main busy / wall`, `${ms(run.seal.maxDelayMs)} / ${ms(run.seal.busyMs)} / ${ms(run.seal.wallMs)}`, `≤ ${SLICE_TARGET_MS} ms`, verdict(run.seal.maxDelayMs <= SLICE_TARGET_MS));
  };
  if (thread) minuteRows('writer thread (now)', thread);
  if (here) minuteRows('main thread, 2,000-row transactions (before)', here);

  const snapRow = (name: string, p: Phase, extra: string, target = true) =>
    add(`snapshot ${name}: longest delay / main busy / wall`, `${ms(p.maxDelayMs)} / ${ms(p.busyMs)} / ${ms(p.wallMs)}${extra}`, target ? `≤ ${SLICE_TARGET_MS} ms` : '', target ? verdict(p.maxDelayMs <= SLICE_TARGET_MS) : '');
  if (snap) {
    snapRow('blob (before)', snap.blob.phase, `, ${(snap.blob.bytes / 1024 / 1024).toFixed(1)} MiB`, false);
    snapRow('incremental, first save', snap.first.phase, `, ${snap.first.rows.toLocaleString('en-GB')} rows, ${(snap.first.bytes / 1024 / 1024).toFixed(1)} MiB`);
    snapRow('incremental, after a round of results', snap.afterRound.phase, `, ${snap.afterRound.rows.toLocaleString('en-GB')} rows`);
    snapRow('incremental, nothing changed', snap.idle.phase, `, ${snap.idle.rows} rows`);
    add('restore from rows', ms(snap.restoreMs));
  }
  if (thread) growthRows(thread);
  printTable(rows, estate);
}

function growthRows(thread: HistoryRun): void {
  const perDay = thread.bytesPerCheckHour * 24;
  const pagesPerDay = thread.pagesPerCheckHour * 24;
  const stored = Number.isFinite(pagesPerDay) ? pagesPerDay : perDay;
  add(
    `history growth per check per day${QUICK ? ' (quick: unpacked open hour, partial)' : ''}`,
    `${Math.round(perDay).toLocaleString('en-GB')} B payload, ${Number.isFinite(pagesPerDay) ? `${Math.round(pagesPerDay).toLocaleString('en-GB')} B in pages` : 'pages n/a'}`,
    `≤ ${Math.round(GROWTH_TARGET_BYTES_PER_CHECK_DAY).toLocaleString('en-GB')} B`,
    QUICK ? 'not measured (quick)' : verdict(stored <= GROWTH_TARGET_BYTES_PER_CHECK_DAY),
  );
  add('  = per 10,000 checks per day', `${((stored * 10_000) / 1024 / 1024).toFixed(1)} MiB`, '≤ 50 MiB', QUICK ? '' : verdict(stored <= GROWTH_TARGET_BYTES_PER_CHECK_DAY));
}

function printTable(rows: [string, string, string, string][], estate: Estate): void {
  const width = rows.reduce((w, r) => Math.max(w, r[0].length), 0);
  const valueWidth = rows.reduce((w, r) => Math.max(w, r[1].length), 0);
  console.log(`\nbench:history: ${estate.checks.size.toLocaleString('en-GB')} checks, ${MINUTES} minute(s) of results (2 per check a minute, all up)${QUICK ? ' — QUICK: a short run, early in the hour; not the steady-state figures' : ''}\n`);
  for (const [measure, value, target, result] of rows) console.log(`${measure.padEnd(width)}  ${value.padEnd(valueWidth)}  ${target.padEnd(10)}  ${result}`);
  console.log(`\nNode ${process.version}, ${cpus().length} cores, load average ${loadBefore.toFixed(1)} before / ${loadavg()[0]!.toFixed(1)} after (other work on this machine slows every figure)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
