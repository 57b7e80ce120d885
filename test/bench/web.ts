// Benchmark for the wall display (`npm run bench:web`, `-- --quick` for about a minute of
// churn instead of ten). Loads /wall in Chromium (1920×1080) over a real Pulse server with a
// 6,300-practice estate; status is driven through the engine's ingest (no real probes), on a
// clock that jumps forward between outages so results stay fresh and flap damping never
// holds a practice. Replays mass outages: EMIS Web fails (every EMIS practice down in one
// tick, well within one second), holds, recovers. Prints:
//   - first render: navigation start → the first frame with counts and the grid drawn;
//   - frames per second and the longest frame during each burst (fault → every EMIS practice
//     shown down → one second more), counted with requestAnimationFrame in the page;
//   - JS heap (after a forced GC) and DOM counters after warm-up and after the churn;
//   - the server's time to answer GET /api/trend over the transitions the churn stored.
// Not a test file (never named *.test.ts); prints figures with targets and PASS/MISS.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import type { CDPSession, Page } from 'playwright-core';
import type { CheckResult } from '../../probes/types';
import { createPulse } from '../../server/app';
import { parseEstate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { generatePractices, serviceCatalogue } from '../../server/simulator/estate';
import { renderEstateYaml } from '../../server/simulator/estate-yaml';
import { SqliteStore } from '../../server/store/sqlite';
import { launchChromium } from '../helpers/browser';

const QUICK = process.argv.includes('--quick');
const CHURN_MS = (QUICK ? 1 : 10) * 60_000;
const PRACTICES = 6_300;
const WARMUP_CYCLES = 2;
const MEASURED_BURSTS = 3;
/** Real time an outage (and a recovery) is held on screen. */
const HOLD_MS = QUICK ? 4_000 : 8_000;
/** Fake time between outages: beyond the 10-minute flapping window's reach. */
const JUMP_MS = 6 * 60_000;
const MIB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const log = (message: string) => process.stderr.write(`[bench:web] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rows: { measure: string; value: string; target: string; result: string }[] = [];
const notes: string[] = [];
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

// ---------------------------------------------------------------------------------------
// The estate and the server.

const specs = generatePractices(PRACTICES, 1);
const yaml = renderEstateYaml(
  serviceCatalogue,
  serviceCatalogue.map((s) => ({ id: s.id, name: s.name, kind: s.kind, url: `http://127.0.0.1:9/${s.id}/health`, tcp: s.check === 'tcp' ? '127.0.0.1:9' : null })),
  specs.map((p) => ({ ...p, gatewayUrl: `http://127.0.0.1:9/gateway/${p.ods}` })),
  { interval: '30s', timeout: '5s' },
);
const estate = parseEstate(yaml, 'bench-web-estate.yaml');
const emis = [...estate.practices.values()].filter((p) => p.system === 'emis-web').length;
const emisCheck = estate.services.get('emis-web')!.checks[0]!;
const checkIds = [...estate.checks.keys()];
log(`estate: ${estate.practices.size} practices (${emis} on EMIS Web), ${estate.checks.size} checks`);

const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-web-'));
const store = new SqliteStore(join(dir, 'data'));
let offset = 0;
const now = () => Date.now() + offset;
const pulse = createPulse({ estate, store, clock: { now }, log: silentLogger, workerToken: 'bench', webDir: join(ROOT, 'dist/web'), heartbeatMs: 2_000 });
await pulse.restore();
const server = await new Promise<Server>((resolve, reject) => {
  const s = serve({ fetch: pulse.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
  s.once('error', reject);
});
server.on('upgrade', (req, socket, head) => pulse.handleUpgrade(req, socket, head));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const tick = setInterval(() => void pulse.tick(), 100);
const heartbeat = setInterval(() => pulse.heartbeat(), 2_000);

const result = (checkId: string, ok: boolean, at: number): CheckResult =>
  ok ? { checkId, at, location: 'bench', ok, latencyMs: 40 } : { checkId, at, location: 'bench', ok, latencyMs: 40, error: 'status', detail: 'status 503, expected 200' };
/** Moves the clock on and gives every check a fresh passing result, in one turn (no tick between). */
function freshRound(): void {
  offset += JUMP_MS;
  const at = now();
  pulse.ingest(checkIds.map((id) => result(id, true, at)));
}
function emisFails(): void {
  const at = now();
  pulse.ingest([result(emisCheck, false, at), result(emisCheck, false, at + 1)]);
}
function emisRecovers(): void {
  pulse.ingest([result(emisCheck, true, now())]);
}

freshRound();
await pulse.tick();
const display = await store.accounts.createToken({ kind: 'display', name: 'bench', icb: null, createdBy: 'bench', now: now() });

// ---------------------------------------------------------------------------------------
// The browser, with a frame counter and a long-task observer in the page (fixed-size rings,
// so measuring does not itself grow the heap).

const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
const page = await context.newPage();
// As text: tsx would wrap named functions in a helper that does not exist in the page.
await page.addInitScript({
  content: `(() => {
    const frames = new Float64Array(16384);
    let n = 0;
    window.__frames = frames;
    window.__frameCount = () => n;
    const loop = (t) => { frames[n % frames.length] = t; n += 1; requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
    const longTasks = [];
    window.__longTasks = longTasks;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        longTasks.push({ start: e.startTime, duration: e.duration });
        if (longTasks.length > 256) longTasks.shift();
      }
    }).observe({ type: 'longtask', buffered: true });
    // When the live feed's socket opened and its first snapshot arrived: where first render goes.
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('open', () => { window.__wsOpenAt ??= performance.now(); });
        this.addEventListener('message', (e) => {
          if (window.__snapshotAt === undefined && typeof e.data === 'string' && e.data.startsWith('{"type":"snapshot"')) {
            window.__snapshotAt = performance.now();
            window.__snapshotBytes = e.data.length;
          }
        });
      }
    };
  })();`,
});
const cdp: CDPSession = await context.newCDPSession(page);

const pageNow = (p: Page) => p.evaluate(() => performance.now());

/** Frames drawn between two page times, and the longest gap between frames (a blocked main thread). */
function framesBetween(p: Page, from: number, to: number) {
  return p.evaluate(
    ([a, b]) => {
      const w = window as unknown as { __frames: Float64Array; __frameCount: () => number; __longTasks: { start: number; duration: number }[] };
      const n = w.__frameCount();
      const times: number[] = [];
      for (let i = Math.max(0, n - w.__frames.length); i < n; i++) {
        const t = w.__frames[i % w.__frames.length]!;
        if (t >= a! && t <= b!) times.push(t);
      }
      times.sort((x, y) => x - y);
      let worst = times.length > 0 ? times[0]! - a! : b! - a!;
      for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i]! - times[i - 1]!);
      const longest = w.__longTasks.filter((t) => t.start >= a! && t.start <= b!).reduce((m, t) => Math.max(m, t.duration), 0);
      return { frames: times.length, fps: (times.length * 1000) / (b! - a!), worstGapMs: worst, longestTaskMs: longest };
    },
    [from, to],
  );
}

const downShown = (n: number) =>
  page.waitForFunction(
    (expected) => document.querySelector('[data-testid="wall-count-down"] .num')?.textContent === expected,
    n.toLocaleString('en-GB'),
    { polling: 16, timeout: 30_000 },
  );

/** One burst: the change, until the wall shows it, then a second more. */
async function burst(change: () => void, expectedDown: number) {
  const start = await pageNow(page);
  const t0 = performance.now();
  change();
  await downShown(expectedDown);
  const shownAfterMs = performance.now() - t0;
  await sleep(1_000);
  const end = await pageNow(page);
  return { ...(await framesBetween(page, start, end)), shownAfterMs };
}

let shot = false;
async function cycle() {
  freshRound();
  const outage = await burst(emisFails, emis);
  if (!shot) {
    // Kept with the test artefacts, to look at: 6,300 practices in a mass outage.
    shot = true;
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'bench-wall-6300-outage.png') });
  }
  await sleep(HOLD_MS);
  const recovery = await burst(emisRecovers, 0);
  await sleep(HOLD_MS);
  return { outage, recovery };
}

async function heap() {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const dom = await cdp.send('Memory.getDOMCounters');
  return { usedSize, ...dom };
}

try {
  // First render.
  await page.goto(`${url}/wall?display=${display.secret}`);
  const firstRender = await page.waitForFunction(
    () => {
      const grid = document.querySelector('[data-testid="wall-grid"] [data-testid="wall-group"], [data-testid="wall-grid"] [data-testid="wall-tile"]');
      const up = document.querySelector('[data-testid="wall-count-up"] .num')?.textContent;
      return grid && up && up !== '—' ? performance.now() : false;
    },
    null,
    { polling: 'raf', timeout: 30_000 },
  );
  const firstRenderMs = (await firstRender.jsonValue()) as number;
  const phases = await page.evaluate(() => {
    const w = window as unknown as { __wsOpenAt?: number; __snapshotAt?: number; __snapshotBytes?: number };
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    return { dcl: nav?.domContentLoadedEventEnd ?? NaN, open: w.__wsOpenAt ?? NaN, snapshot: w.__snapshotAt ?? NaN, bytes: w.__snapshotBytes ?? 0 };
  });
  notes.push(
    `First render, in the page: DOM ready ${phases.dcl.toFixed(0)} ms, socket open ${phases.open.toFixed(0)} ms, ` +
      `snapshot (${(phases.bytes / 1024).toFixed(0)} KiB) in ${phases.snapshot.toFixed(0)} ms, drawn ${firstRenderMs.toFixed(0)} ms.`,
  );
  const mode = await page.locator('[data-testid="wall-grid"]').getAttribute('data-mode');
  const groupTiles = await page.locator('[data-testid="wall-group"]').count();
  rows.push({ measure: `first render (${PRACTICES.toLocaleString('en-GB')} practices, navigation → counts and grid drawn)`, value: `${firstRenderMs.toFixed(0)} ms`, target: '≤ 1500 ms', result: verdict(firstRenderMs <= 1_500) });
  notes.push(`Grid mode at 1920×1080: ${mode}, ${groupTiles} group tiles (PCNs, worst first; the rest folded into one).`);

  // Warm-up, then the measured bursts.
  for (let i = 0; i < WARMUP_CYCLES; i++) await cycle();
  const warm = await heap();
  log(`warm: heap ${(warm.usedSize / MIB).toFixed(1)} MiB, ${warm.nodes} DOM nodes, ${warm.jsEventListeners} listeners`);

  const bursts: Awaited<ReturnType<typeof burst>>[] = [];
  const churnStarted = Date.now();
  let cycles = 0;
  while (Date.now() - churnStarted < CHURN_MS || cycles < MEASURED_BURSTS) {
    const { outage, recovery } = await cycle();
    cycles += 1;
    if (bursts.length < 2 * MEASURED_BURSTS) bursts.push(outage, recovery);
    if (cycles % 5 === 0) log(`churn: ${cycles} cycles, ${((Date.now() - churnStarted) / 1000).toFixed(0)} s`);
  }
  const after = await heap();

  const minFps = Math.min(...bursts.map((b) => b.fps));
  const worstGap = Math.max(...bursts.map((b) => b.worstGapMs));
  const longestTask = Math.max(...bursts.map((b) => b.longestTaskMs));
  const shown = Math.max(...bursts.map((b) => b.shownAfterMs));
  rows.push({
    measure: `frames/s during the burst (${emis.toLocaleString('en-GB')} EMIS practices down, then up; worst of ${bursts.length})`,
    value: `${minFps.toFixed(1)} fps (median ${median(bursts.map((b) => b.fps)).toFixed(1)})`,
    target: '≥ 30 fps',
    result: verdict(minFps >= 30),
  });
  notes.push(
    `Bursts: longest gap between frames ${worstGap.toFixed(0)} ms, longest task ${longestTask.toFixed(0)} ms; ` +
      `the wall showed the change at most ${shown.toFixed(0)} ms after ingest (server tick every 100 ms included).`,
  );
  const growth = after.usedSize - warm.usedSize;
  const churnMin = (Date.now() - churnStarted) / 60_000;
  rows.push({
    measure: `JS heap after ${churnMin.toFixed(1)} min of churn (${cycles} outages) vs after warm-up`,
    value: `${(warm.usedSize / MIB).toFixed(1)} → ${(after.usedSize / MIB).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${(growth / MIB).toFixed(2)} MiB)`,
    target: 'no growth (≤ +1 MiB)',
    result: verdict(growth <= MIB),
  });
  notes.push(
    `DOM after warm-up → after churn: nodes ${warm.nodes} → ${after.nodes}, listeners ${warm.jsEventListeners} → ${after.jsEventListeners}, documents ${warm.documents} → ${after.documents}.`,
  );

  // The trend endpoint over everything the churn stored.
  const transitions = await store.countTransitions();
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const res = await pulse.app.request('/api/trend?window=24h', { headers: { authorization: `Bearer ${display.secret}` } });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  notes.push(`GET /api/trend?window=24h over ${transitions.toLocaleString('en-GB')} stored transitions: median ${median(times).toFixed(0)} ms (server side).`);
} finally {
  clearInterval(tick);
  clearInterval(heartbeat);
  await browser.close();
  pulse.close('bench done');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections?.();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const width = Math.max(...rows.map((r) => r.measure.length));
console.log(`\nbench:web${QUICK ? ' (quick)' : ''} — wall display in Chromium 1920×1080, load ${loadavg()[0]!.toFixed(2)}\n`);
for (const r of rows) console.log(`${r.measure.padEnd(width)}  ${r.value.padEnd(34)} ${r.target.padEnd(22)} ${r.result}`);
console.log('');
for (const n of notes) console.log(`  ${n}`);
