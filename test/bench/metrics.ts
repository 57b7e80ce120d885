// Benchmark for issue 8 (`npm run bench:metrics`, `-- --quick` for a short smoke run).
// Measures the cost of one scrape of /metrics for a national estate: 6,300 practices × 8
// checks (plus the 9 shared services), every check with a fresh result from one of two
// locations, through the real app (createPulse over an in-memory SQLite store, a fake clock)
// served by @hono/node-server on loopback and scraped like Prometheus does (time to the last
// byte); also the render alone, and what the metrics add to ingesting a round of results.
// Not a test file (never named *.test.ts); prints a table with the target and PASS/MISS.
import { execFile, execFileSync } from 'node:child_process';
import { get, type Server } from 'node:http';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { serve } from '@hono/node-server';
import type { CheckResult } from '../../probes/types';
import { createPulse } from '../../server/app';
import { parseEstate, type Estate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { generatePractices, seededRandom, serviceCatalogue } from '../../server/simulator/estate';
import { SqliteStore } from '../../server/store/sqlite';

const QUICK = process.argv.includes('--quick');
const PRACTICES = 6_300;
const CHECKS_PER_PRACTICE = 8;
const SCRAPES = QUICK ? 5 : 30;
const RENDERS = QUICK ? 3 : 10;
const ROUNDS = 4;
const TARGET_MS = 250;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const DAY_MS = 86_400_000;

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

/** One round of results: ~2 % failing, certificates on https and tls checks. */
function roundOfResults(estate: Estate, at: number): CheckResult[] {
  const random = seededRandom(7);
  return [...estate.checks.values()].map((check, i): CheckResult => {
    const base = { checkId: check.id, at: at + (i % 1_000), location: i % 2 === 0 ? 'leeds' : 'london', latencyMs: 20 + random() * 300 };
    const cert = check.kind === 'tls' || check.target.startsWith('https://') ? { certExpiresAt: at + (10 + Math.floor(random() * 300)) * DAY_MS } : {};
    return random() < 0.02
      ? { ...base, ...cert, ok: false, error: 'timeout', detail: `no answer within 5000 ms` }
      : { ...base, ...cert, ok: true };
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  let started = performance.now();
  const estate = buildEstate();
  log(`estate: ${estate.practices.size} practices, ${estate.checks.size} checks, loaded in ${ms(performance.now() - started)}`);

  const store = new SqliteStore(':memory:');
  let now = T0;
  const pulse = createPulse({ estate, store, clock: { now: () => now }, log: silentLogger, workerToken: 'bench-token' });

  // Rounds of results, as workers would send them (in batches of 500), 30 s apart.
  let results: CheckResult[] = [];
  const batches = () => Array.from({ length: Math.ceil(results.length / 500) }, (_, i) => results.slice(i * 500, i * 500 + 500));
  for (let round = 0; round < ROUNDS; round++) {
    results = roundOfResults(estate, now);
    now += 2_000;
    for (const batch of batches()) pulse.metrics.results(batch);
    pulse.engine.ingest(results);
    started = performance.now();
    await pulse.tick();
    log(`round ${round + 1} of ${results.length} results: tick in ${ms(performance.now() - started)}`);
    now += 28_000;
  }

  // What the metrics add to ingest, warm: the last round again (same times: updates in place).
  const prepared = batches();
  const bookkeeping: number[] = [];
  for (let i = 0; i < 7; i++) {
    started = performance.now();
    for (const batch of prepared) pulse.metrics.results(batch);
    bookkeeping.push(performance.now() - started);
  }
  const ingestCost = summary(bookkeeping);

  // In-process: prom-client's families plus the per-check and per-practice text.
  const render: number[] = [];
  for (let i = 0; i < RENDERS + 1; i++) {
    started = performance.now();
    await pulse.metrics.scrape();
    if (i > 0) render.push(performance.now() - started); // the first is a warm-up
  }
  started = performance.now();
  for (let i = 0; i < 3; i++) await pulse.metrics.registry.metrics();
  const promClientMs = (performance.now() - started) / 3;

  // Over HTTP, as Prometheus scrapes: request sent → last byte received, through a real socket.
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: pulse.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/metrics`;
  const client = hasCurl() ? 'curl (a separate process, like Prometheus)' : 'node:http in this process';
  const times: number[] = [];
  for (let i = 0; i < SCRAPES + 1; i++) {
    const seconds = hasCurl() ? await curlTime(url) : await inProcessTime(url);
    if (i > 0) times.push(seconds * 1000); // the first is a warm-up
  }
  const body = Buffer.from(await (await fetch(url)).arrayBuffer());
  await new Promise<void>((resolve) => server.close(() => resolve()));

  const http = summary(times);
  const inProcess = summary(render);
  const text = body.toString('utf8');
  const lines = text.split('\n');
  const series = lines.filter((l) => l !== '' && !l.startsWith('#')).length;
  const families = lines.filter((l) => l.startsWith('# TYPE ')).length;
  const perFamily = new Map<string, number>();
  for (const l of lines) {
    if (l === '' || l.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0];
    perFamily.set(name, (perFamily.get(name) ?? 0) + 1);
  }
  const verdict = (v: number) => (v < TARGET_MS ? 'PASS' : 'MISS');
  const rows: [string, string, string, string][] = [
    [`scrape over HTTP, ${SCRAPES} runs: median`, ms(http.median), `< ${TARGET_MS} ms`, verdict(http.median)],
    ['  p95', ms(http.p95), `< ${TARGET_MS} ms`, verdict(http.p95)],
    ['  max', ms(http.max), '', ''],
    [`render in process, ${RENDERS} runs: median`, `${ms(inProcess.median)} (p95 ${ms(inProcess.p95)})`, '', ''],
    ['body size', `${(body.length / 1024 / 1024).toFixed(1)} MiB (${body.length.toLocaleString('en-GB')} B)`, '', ''],
    ['series', series.toLocaleString('en-GB'), '', ''],
    ['families', String(families), '', ''],
  ];
  const width = rows.reduce((w, r) => Math.max(w, r[0].length), 0);
  console.log(`\nbench:metrics: ${estate.practices.size.toLocaleString('en-GB')} practices × ${CHECKS_PER_PRACTICE} checks + ${estate.services.size} services, ${estate.checks.size.toLocaleString('en-GB')} checks${QUICK ? ' (quick)' : ''}\n`);
  for (const [measure, value, target, result] of rows) console.log(`${measure.padEnd(width)}  ${value.padEnd(30)}  ${target.padEnd(10)}  ${result}`);
  console.log('');
  console.log(`HTTP client: ${client}; time from request to last byte`);
  console.log(`of which prom-client's families (process, Node.js, the small pulse_* ones): ${ms(promClientMs)}`);
  console.log(
    `metrics bookkeeping for a round of ${results.length.toLocaleString('en-GB')} results (batches of 500): median ${ms(ingestCost.median)} (max ${ms(ingestCost.max)}, 7 runs)`,
  );
  console.log('largest families:');
  for (const [name, n] of [...perFamily].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  ${name.padEnd(50)} ${n.toLocaleString('en-GB')}`);
  console.log(`Node ${process.version}, ${cpus().length} cores, load average ${loadBefore.toFixed(1)} before / ${loadavg()[0]!.toFixed(1)} after (other work on this machine slows every figure)`);

  pulse.close('bench done');
  await store.close();
  if (http.median >= TARGET_MS) process.exitCode = 1;
}

let curl: boolean | undefined;
function hasCurl(): boolean {
  if (curl === undefined) {
    try {
      execFileSync('curl', ['--version'], { stdio: 'ignore' });
      curl = true;
    } catch {
      curl = false;
    }
  }
  return curl;
}

/** Seconds from curl's request to its last byte (curl's own clock, without its start-up). */
async function curlTime(url: string): Promise<number> {
  const { stdout } = await execFileAsync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', url]);
  const [code, total] = stdout.trim().split(' ');
  if (code !== '200') throw new Error(`/metrics answered ${code}`);
  return Number(total);
}

async function inProcessTime(url: string): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    get(url, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`/metrics answered ${res.statusCode}`))));
    }).on('error', reject);
  });
  return (performance.now() - t) / 1000;
}

function summary(samples: number[]): { median: number; p95: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1]! };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
