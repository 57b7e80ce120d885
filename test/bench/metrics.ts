// `npm run bench:metrics` (`-- --quick` for a short run that says so): /metrics scraped UNDER
// FLOW, as Prometheus scrapes a busy Pulse. The national estate (6,300 practices × 8 checks
// plus the 9 shared services: 50,409 checks) in the real app (createPulse over an in-memory
// SQLite store, the real clock, ticking every 250 ms as main.ts does), served by
// @hono/node-server on loopback. Two probe workers (leeds and london, half the checks each)
// send results through the real gateway — JSON messages, validated, every 250 ms in batches
// of at most 500 as probes/worker.ts flushes them — at the real rate: every check once per
// 30 s (≈ 1,680 results a second). After one round sent at once (so every check has a
// result: the full body) and a settling pause, /metrics is scraped every 15 s by curl (a
// separate process, like Prometheus), timing request to last byte.
//
// Prints, each with its target and met / NOT met:
//   scrape time p50 / p99 / max (target ≤ 250 ms while results flow);
//   the server's event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) p99 and
//   max during scrapes (target p99 ≤ 50 ms, the server's own target), beside the same outside
//   scrapes (what the rest of the server costs the loop);
//   the longest synchronous slice of the render (target ≤ 20 ms);
//   what the metrics add to ingest: CPU time in metrics.results per result (target ≤ 1 µs).
// Not a test file (never named *.test.ts). Exit code 1 when a target is not met.
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import type { WebSocket } from 'ws';
import { WORKER_PROTOCOL_VERSION } from '../../probes/protocol';
import { RESULT_BATCH_MAX, RESULT_FLUSH_MS } from '../../probes/worker';
import { createPulse } from '../../server/app';
import { parseEstate, type Estate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { generatePractices, seededRandom, serviceCatalogue } from '../../server/simulator/estate';
import { SqliteStore } from '../../server/store/sqlite';

const QUICK = process.argv.includes('--quick');
const PRACTICES = 6_300;
const CHECKS_PER_PRACTICE = 8;
const INTERVAL_MS = 30_000;
const SCRAPE_EVERY_MS = 15_000;
const SCRAPES = QUICK ? 4 : 12;
const SETTLE_MS = 10_000;
const TICK_MS = 250;
const LOCATIONS = ['leeds', 'london'] as const;
const DAY_MS = 86_400_000;

const TARGETS = { scrapeMs: 250, loopP99Ms: 50, sliceMs: 20, ingestUs: 1 };

const execFileAsync = promisify(execFile);
const log = (message: string) => process.stderr.write(`[bench:metrics] ${message}\n`);

/** Eight checks per practice, of the kinds a real estate mixes: https and http, tls, tcp. */
const PRACTICE_CHECKS: { suffix: string; kind: 'http' | 'tls' | 'tcp'; target: (ods: string) => string }[] = [
  { suffix: 'gateway', kind: 'http', target: (ods) => `https://gw-${ods.toLowerCase()}.example.nhs.uk/health` },
  { suffix: 'gateway-tls', kind: 'tls', target: (ods) => `gw-${ods.toLowerCase()}.example.nhs.uk:443` },
  { suffix: 'emis-client', kind: 'http', target: (ods) => `http://emis-${ods.toLowerCase()}.example.nhs.uk/` },
  { suffix: 'docman', kind: 'http', target: (ods) => `http://docman-${ods.toLowerCase()}.example.nhs.uk/` },
  { suffix: 'telephony', kind: 'tcp', target: (ods) => `voip-${ods.toLowerCase()}.example.nhs.uk:5060` },
  { suffix: 'printer', kind: 'tcp', target: (ods) => `print-${ods.toLowerCase()}.example.nhs.uk:9100` },
  { suffix: 'wifi', kind: 'tcp', target: (ods) => `wifi-${ods.toLowerCase()}.example.nhs.uk:443` },
  { suffix: 'website', kind: 'http', target: (ods) => `https://www-${ods.toLowerCase()}.example.nhs.uk/` },
];

function buildEstate(): Estate {
  const practices = generatePractices(PRACTICES, 1);
  const file = {
    defaults: { interval: '30s', timeout: '5s' },
    services: serviceCatalogue.map((s) => ({
      id: s.id,
      name: s.name,
      kind: s.kind,
      ...(s.dependsOn.length > 0 ? { dependsOn: s.dependsOn } : {}),
      checks: [
        s.check === 'tcp'
          ? { id: `${s.id}-tcp`, kind: 'tcp', target: `${s.id}.example.nhs.uk:443` }
          : { id: `${s.id}-api`, kind: 'http', target: `https://${s.id}.example.nhs.uk/health` },
      ],
    })),
    practices: practices.map((p) => ({
      ...p,
      checks: PRACTICE_CHECKS.map((c) => ({ id: `${p.ods}-${c.suffix}`, kind: c.kind, target: c.target(p.ods) })),
    })),
  };
  // JSON is YAML: the real loader, without writing a 50,000-check file by hand.
  return parseEstate(JSON.stringify(file), 'bench-metrics-estate.yaml');
}

/** A probe worker as the gateway sees it: a socket that emits the worker's messages. */
function attachWorker(pulse: ReturnType<typeof createPulse>, location: string, pid: number) {
  const socket = Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, send() {}, ping() {}, close() {}, terminate() {} });
  pulse.gateway.attach(socket as unknown as WebSocket, 'shared');
  const send = (message: unknown) => socket.emit('message', JSON.stringify(message));
  send({ type: 'hello', protocol: WORKER_PROTOCOL_VERSION, location, pid });
  const stats = () =>
    send({ type: 'stats', lagMs: 3, running: 10, checks: 25_000, self: { lagMs: 3, eventLoopDelayMs: 12, stalledMs: 20, canary: null, timeoutShare: 0, impaired: null } });
  stats();
  return { send, stats };
}

/** What one worker sends for one run of a check: ~2 % failing, certificates on https and tls checks. */
function resultFor(estate: Estate, checkId: string, random: () => number, now: number): Record<string, unknown> {
  const check = estate.checks.get(checkId)!;
  const latencyMs = Math.round((20 + random() * 300) * 1000) / 1000;
  const cert = check.kind === 'tls' || check.target.startsWith('https://') ? { certExpiresAt: Date.UTC(2027, 0, 1) + Math.floor(random() * 300) * DAY_MS } : {};
  return random() < 0.02
    ? { checkId, at: now - latencyMs, latencyMs: 5_000, ok: false, error: 'timeout', detail: 'no answer within 5000 ms', ...cert }
    : { checkId, at: now - latencyMs, latencyMs, ok: true, ...cert };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : `${n.toFixed(n < 10 ? 1 : 0)} ms`);
const sleep = (msec: number) => new Promise<void>((resolve) => setTimeout(resolve, msec));

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  let started = performance.now();
  const estate = buildEstate();
  log(`estate: ${estate.practices.size} practices, ${estate.checks.size} checks, loaded in ${ms(performance.now() - started)}`);

  const store = new SqliteStore(':memory:');
  const pulse = createPulse({ estate, store, clock: { now: () => Date.now() }, log: silentLogger, workerToken: 'bench-token' });

  // What the metrics add to ingest: time inside metrics.results, per result.
  const metrics = pulse.metrics;
  const realResults = metrics.results.bind(metrics);
  let ingestMs = 0;
  let ingestCpuMs = 0;
  let ingested = 0;
  // Wall time and the process's CPU time (a busy machine stretches the first, not the second).
  metrics.results = (results, from) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    realResults(results, from);
    ingestMs += performance.now() - t;
    const used = process.cpuUsage(cpu);
    ingestCpuMs += (used.user + used.system) / 1000;
    ingested += results.length;
  };
  // The scrape's own render: its time, and the longest stretch it held the event loop (scrapeChunks
  // is what /metrics calls since issue 14; before it, scrape, in one slice after prom-client's).
  type Stats = { longestSliceMs: number; longestSliceCpuMs?: number; longestSliceIndex?: number; headMs?: number; practicesMs?: number; slices: number; blocksRendered: number } | null;
  const renders: { ms: number; longestSliceMs: number; longestSliceCpuMs: number | null; longestSliceIndex: number; slices: number; rendered: number | null; gcMs: number; headMs: number | null; practicesMs: number | null }[] = [];
  const stats = (): Stats => ('lastScrape' in metrics ? (metrics as unknown as { lastScrape: () => Stats }).lastScrape() : null);
  const timed = <T,>(render: () => Promise<T>) => async (): Promise<T> => {
    const t = performance.now();
    const body = await render();
    const total = performance.now() - t;
    const s = stats();
    renders.push({ ms: total, longestSliceMs: s?.longestSliceMs ?? total, longestSliceCpuMs: s?.longestSliceCpuMs ?? null, longestSliceIndex: s?.longestSliceIndex ?? 1, slices: s?.slices ?? 1, rendered: s?.blocksRendered ?? null, gcMs: gcDuring(t, t + total), headMs: s?.headMs ?? null, practicesMs: s?.practicesMs ?? null });
    return body;
  };
  // Garbage-collection pauses, to tell the render's own time from the collector's.
  const gcs: { start: number; duration: number }[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  }).observe({ entryTypes: ['gc'] });
  const gcDuring = (from: number, to: number) => gcs.filter((g) => g.start < to && g.start + g.duration > from).reduce((w, g) => Math.max(w, g.duration), 0);
  const m = metrics as unknown as Record<string, unknown>;
  const entry = typeof m.scrapeChunks === 'function' ? 'scrapeChunks' : 'scrape';
  m[entry] = timed((m[entry] as () => Promise<unknown>).bind(metrics));

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: pulse.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  const ticker = setInterval(() => void pulse.tick(), TICK_MS);

  // Two workers, each probing every other check.
  const workers = LOCATIONS.map((location, w) => ({ ...attachWorker(pulse, location, 100 + w), checks: [...estate.checks.keys()].filter((_, i) => i % LOCATIONS.length === w) }));
  const statsTimer = setInterval(() => workers.forEach((w) => w.stats()), 1_000);
  const random = seededRandom(7);

  // One round at once, so every check has a result (the full body), then the real rate.
  started = performance.now();
  for (const w of workers) {
    for (let i = 0; i < w.checks.length; i += RESULT_BATCH_MAX) {
      const now = Date.now();
      w.send({ type: 'results', results: w.checks.slice(i, i + RESULT_BATCH_MAX).map((id) => resultFor(estate, id, random, now)) });
    }
  }
  log(`first round of ${estate.checks.size} results ingested in ${ms(performance.now() - started)}; settling ${SETTLE_MS / 1000} s`);

  // The flow: each worker sends what its scheduler would have finished since its last flush.
  const flowStart = performance.now();
  const perMs = workers.map((w) => w.checks.length / INTERVAL_MS);
  const sent = workers.map(() => 0);
  let late = 0;
  let lastFlush = performance.now();
  const flow = setInterval(() => {
    const at = performance.now();
    if (at - lastFlush > RESULT_FLUSH_MS * 2) late++;
    lastFlush = at;
    const now = Date.now();
    workers.forEach((w, k) => {
      const due = Math.floor((at - flowStart) * perMs[k]!);
      while (sent[k]! < due) {
        const n = Math.min(RESULT_BATCH_MAX, due - sent[k]!);
        const batch: Record<string, unknown>[] = [];
        for (let j = 0; j < n; j++) batch.push(resultFor(estate, w.checks[(sent[k]! + j) % w.checks.length]!, random, now));
        sent[k]! += n;
        w.send({ type: 'results', results: batch });
      }
    });
  }, RESULT_FLUSH_MS);

  await sleep(SETTLE_MS);
  renders.length = 0;
  // Event-loop delay: a histogram per scrape (a re-enabled one would count the pause as a delay), one over the whole flow.
  const duringScrapes: { p99: number; max: number }[] = [];
  const throughout = monitorEventLoopDelay({ resolution: 1 });
  throughout.enable();
  const flowIngestStart = { ms: ingestMs, cpuMs: ingestCpuMs, n: ingested, cpu: process.cpuUsage(), at: performance.now() };
  const scrapeMs: number[] = [];
  let bodyBytes = 0;
  for (let s = 0; s < SCRAPES; s++) {
    const due = performance.now() + SCRAPE_EVERY_MS;
    const { seconds, bytes, loop } = await curlTime(url);
    duringScrapes.push(loop);
    scrapeMs.push(seconds * 1000);
    bodyBytes = bytes;
    log(`scrape ${s + 1}/${SCRAPES}: ${ms(seconds * 1000)}, ${(bytes / 1024 / 1024).toFixed(1)} MiB; render ${ms(renders.at(-1)?.ms ?? Number.NaN)} in ${renders.at(-1)?.slices} slices, longest ${ms(renders.at(-1)?.longestSliceMs ?? Number.NaN)} (slice ${renders.at(-1)?.longestSliceIndex}, CPU ${ms(renders.at(-1)?.longestSliceCpuMs ?? Number.NaN)}), longest GC pause meanwhile ${ms(renders.at(-1)?.gcMs ?? 0)}; prom-client's families ${ms(renders.at(-1)?.headMs ?? Number.NaN)}, practice status ${ms(renders.at(-1)?.practicesMs ?? Number.NaN)}`);
    if (s < SCRAPES - 1) await sleep(Math.max(0, due - performance.now()));
  }
  throughout.disable();
  const flowSeconds = (performance.now() - flowIngestStart.at) / 1000;
  const cpu = process.cpuUsage(flowIngestStart.cpu);
  const flowResults = ingested - flowIngestStart.n;
  const metricsUsPerResult = ((ingestCpuMs - flowIngestStart.cpuMs) * 1000) / Math.max(1, flowResults);
  const metricsWallUsPerResult = ((ingestMs - flowIngestStart.ms) * 1000) / Math.max(1, flowResults);
  clearInterval(flow);
  clearInterval(statsTimer);
  clearInterval(ticker);
  renders.length = Math.min(renders.length, SCRAPES);
  const body = await (await fetch(url)).text();
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const sorted = [...scrapeMs].sort((a, b) => a - b);
  const loop = (h: IntervalHistogram) => ({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
  const during = { p99: Math.max(...duringScrapes.map((d) => d.p99)), max: Math.max(...duringScrapes.map((d) => d.max)) };
  const all = loop(throughout);
  const slices = renders.map((r) => r.longestSliceMs).sort((a, b) => a - b);
  const renderTimes = renders.map((r) => r.ms).sort((a, b) => a - b);
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const verdicts: boolean[] = [];
  const judge = (ok: boolean) => {
    verdicts.push(ok);
    return met(ok);
  };
  const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const rows: [string, string, string, string][] = [
    [`scrape over HTTP, ${scrapeMs.length} scrapes under flow: p50`, ms(percentile(sorted, 50)), `≤ ${TARGETS.scrapeMs} ms`, judge(percentile(sorted, 50) <= TARGETS.scrapeMs)],
    ['  p99', ms(percentile(sorted, 99)), `≤ ${TARGETS.scrapeMs} ms`, judge(percentile(sorted, 99) <= TARGETS.scrapeMs)],
    ['  max', ms(sorted.at(-1)!), `≤ ${TARGETS.scrapeMs} ms`, judge(sorted.at(-1)! <= TARGETS.scrapeMs)],
    ['event-loop delay during scrapes: p99 (worst scrape)', ms(during.p99), `≤ ${TARGETS.loopP99Ms} ms`, judge(during.p99 <= TARGETS.loopP99Ms)],
    ['  max', ms(during.max), '', ''],
    ['event-loop delay throughout the flow: p99', ms(all.p99), `≤ ${TARGETS.loopP99Ms} ms`, met(all.p99 <= TARGETS.loopP99Ms)],
    ['  max', ms(all.max), '', ''],
    ['render: longest synchronous slice (worst scrape)', ms(slices.at(-1) ?? Number.NaN), `≤ ${TARGETS.sliceMs} ms`, judge((slices.at(-1) ?? Infinity) <= TARGETS.sliceMs)],
    ['  its CPU time (the machine may be busy)', ms(renders.reduce((w, r) => (r.longestSliceMs > w.longestSliceMs ? r : w), renders[0] ?? { longestSliceMs: 0, longestSliceCpuMs: null }).longestSliceCpuMs ?? Number.NaN), '', ''],
    ['render: time in process, p50 / max', `${ms(percentile(renderTimes, 50))} / ${ms(renderTimes.at(-1) ?? Number.NaN)}`, '', ''],
    ['metrics ingest cost (metrics.results), CPU', `${metricsUsPerResult.toFixed(2)} µs per result (wall ${metricsWallUsPerResult.toFixed(2)})`, `≤ ${TARGETS.ingestUs} µs`, judge(metricsUsPerResult <= TARGETS.ingestUs)],
    ['body', `${(bodyBytes / 1024 / 1024).toFixed(1)} MiB, ${series.toLocaleString('en-GB')} series`, '', ''],
  ];
  const width = rows.reduce((w, r) => Math.max(w, r[0].length), 0);
  console.log(
    `\nbench:metrics: ${estate.practices.size.toLocaleString('en-GB')} practices × ${CHECKS_PER_PRACTICE} checks + ${estate.services.size} services = ${estate.checks.size.toLocaleString('en-GB')} checks, results flowing at ${(estate.checks.size / (INTERVAL_MS / 1000)).toFixed(0)}/s, scraped every ${SCRAPE_EVERY_MS / 1000} s${QUICK ? ` (QUICK: ${SCRAPES} scrapes, p99 = max; run without --quick for ${12})` : ''}\n`,
  );
  for (const [measure, value, target, result] of rows) console.log(`${measure.padEnd(width)}  ${value.padEnd(26)}  ${target.padEnd(10)}  ${result}`);
  console.log('');
  console.log(`flow: ${flowResults.toLocaleString('en-GB')} results in ${flowSeconds.toFixed(0)} s (${(flowResults / flowSeconds).toFixed(0)}/s), ${late} late flushes; server process CPU ${(((cpu.user + cpu.system) / 1e6 / flowSeconds) * 100).toFixed(0)} % of a core (ingest, ticks, scrapes, and this bench's workers building their JSON)`);
  console.log(`metrics.results: ${((ingestCpuMs - flowIngestStart.cpuMs) / flowSeconds).toFixed(2)} ms of CPU per second of flow (getrusage has a coarse clock: a few µs per call)`);
  console.log(`render slices per scrape: ${renders.map((r) => r.slices).join(', ')}${renders[0]?.rendered !== null ? `; blocks re-rendered: ${renders.map((r) => r.rendered).join(', ')}` : ''}`);
  console.log('HTTP client: curl (a separate process, like Prometheus); time from request to last byte');
  console.log(`Node ${process.version}, ${cpus().length} cores, load average ${loadBefore.toFixed(1)} before / ${loadavg()[0]!.toFixed(1)} after (other work on this machine slows every figure)`);

  pulse.close('bench done');
  await store.close();
  if (verdicts.includes(false)) process.exitCode = 1;
}

/** Seconds from curl's request to its last byte (curl's own clock), the loop's delay watched meanwhile. */
async function curlTime(url: string): Promise<{ seconds: number; bytes: number; loop: { p99: number; max: number } }> {
  const running = execFileAsync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total} %{size_download}', url]);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable(); // after the spawn (synchronous in Node): the bench's cost, not the server's
  try {
    const { stdout } = await running;
    const [code, total, size] = stdout.trim().split(' ');
    if (code !== '200') throw new Error(`/metrics answered ${code}`);
    return { seconds: Number(total), bytes: Number(size), loop: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } };
  } finally {
    loop.disable();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
