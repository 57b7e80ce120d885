// Benchmark for issue 13 item 6 (`npm run bench:live`). The whole real server (simulated
// estate, one local probe worker) runs in a child process; this process opens a burst of
// 2,000 live-feed sockets at once with a display link, from ten loopback addresses (the
// per-address limit is 200), while polling /healthz every 20 ms. Figures: /healthz p99 during
// the burst (target ≤ 200 ms) and sockets served their snapshot (target: all 2,000).
// Loopback only, bounded in count and time (60 s at most), stops by itself.
// Not a test file (never named *.test.ts).
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const SOCKETS = 2_000;
const ADDRESSES = 10;
const TARGET_P99_MS = 200;
const DEADLINE_MS = 60_000;
const log = (message: string) => process.stderr.write(`[bench:live] ${message}\n`);

if (process.argv.includes('--serve')) {
  // The server side: started here, told to stop by stdin closing.
  const { startStack } = await import('../helpers/stack');
  const stack = await startStack({ seed: 7, interval: '1s', timeout: '800ms' });
  const { secret } = await stack.pulse.store.accounts.createToken({ kind: 'display', name: 'bench', icb: null, createdBy: 'bench', now: Date.now() });
  process.stdout.write(`${JSON.stringify({ url: stack.pulse.url, secret, practices: stack.pulse.pulse.estate.practices.size })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void stack.stop().then(() => process.exit(0)));
} else if (process.argv.includes('--poll')) {
  // The /healthz poller, in its own process so the burst's client work never delays it.
  const base = process.argv[process.argv.indexOf('--poll') + 1]!;
  let polling = true;
  const latencies: number[] = [];
  process.stdin.resume();
  process.stdin.on('end', () => (polling = false));
  process.stdout.write('ready\n');
  while (polling) {
    latencies.push(await healthz(base));
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(`${JSON.stringify(latencies)}\n`);
  process.exit(0);
} else {
  await main();
}

function healthz(base: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = get(`${base}/healthz`, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
    });
    req.setTimeout(20_000, () => req.destroy());
    req.on('error', () => resolve(performance.now() - started));
  });
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stopAll = setTimeout(() => {
    log('deadline passed; stopping');
    child.kill('SIGKILL');
    process.exit(2);
  }, DEADLINE_MS + 60_000);
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const { url, secret, practices } = JSON.parse(line) as { url: string; secret: string; practices: number };
  log(`server at ${url}, ${practices} practices`);

  const poller = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--poll', url], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pollerOut = createInterface({ input: poller.stdout! });
  const pollerLines: string[] = [];
  pollerOut.on('line', (l) => pollerLines.push(l));
  while (pollerLines.length === 0) await new Promise((r) => setTimeout(r, 50));

  const wsUrl = `${url.replace(/^http/, 'ws')}/ws?display=${secret}`;
  let served = 0;
  let failed = 0;
  const started = performance.now();
  let lastServedAt = started;
  const sockets: WebSocket[] = [];
  const done = new Promise<void>((resolve) => {
    const settle = () => {
      if (served + failed === SOCKETS) resolve();
    };
    for (let i = 0; i < SOCKETS; i++) {
      const ws = new WebSocket(wsUrl, { localAddress: `127.0.0.${1 + (i % ADDRESSES)}`, handshakeTimeout: DEADLINE_MS });
      let got = false;
      ws.on('message', (data) => {
        if (got) return;
        if ((JSON.parse(String(data)) as { type: string }).type === 'snapshot') {
          got = true;
          served++;
          lastServedAt = performance.now();
          settle();
        }
      });
      ws.on('error', () => {
        if (got) return;
        got = true;
        failed++;
        settle();
      });
      sockets.push(ws);
    }
  });
  await Promise.race([done, new Promise((r) => setTimeout(r, DEADLINE_MS))]);
  const burstMs = lastServedAt - started;
  await new Promise((r) => setTimeout(r, 500));
  poller.stdin!.end();
  await new Promise((r) => poller.once('exit', r));
  const during = (JSON.parse(pollerLines[1] ?? '[]') as number[]).sort((a, b) => a - b);
  const p = (q: number) => during[Math.min(during.length - 1, Math.floor(q * during.length))] ?? NaN;
  for (const ws of sockets) ws.terminate();
  child.stdin!.end();
  await new Promise((r) => child.once('exit', r));
  clearTimeout(stopAll);

  const p99 = p(0.99);
  const rows = [
    ['/healthz p99 during the burst', `${p99.toFixed(1)} ms`, `≤ ${TARGET_P99_MS} ms`, p99 <= TARGET_P99_MS],
    ['sockets served their snapshot', `${served} of ${SOCKETS} (${failed} failed)`, `${SOCKETS}`, served === SOCKETS],
  ] as const;
  console.log(`live feed burst: ${SOCKETS} sockets from ${ADDRESSES} loopback addresses, ${practices} practices; all served in ${burstMs.toFixed(0)} ms`);
  console.log(`/healthz during the burst: ${during.length} requests, p50 ${p(0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(during.at(-1) ?? NaN).toFixed(1)} ms`);
  for (const [what, figure, target, met] of rows) console.log(`${what.padEnd(34)} ${figure.padEnd(28)} target ${target.padEnd(10)} ${met ? 'met' : 'NOT met'}`);
  process.exit(rows.every((r) => r[3]) ? 0 : 1);
}
