// The /healthz poller of test/bench/national.ts, in its own process so the bench's own work
// (parsing /metrics, the live feed) never delays a poll or inflates its latency. Polls
// GET <url>/healthz every `--every` ms on a fresh connection (as a load balancer does), each
// request bounded by a 10 s timeout, and answers `{ type: 'samples' }` over IPC with every
// sample so far as [epoch ms at start, latency ms, status code (0: no answer)]. Exits when
// its parent goes. Loopback only; not a test file.
import { request } from 'node:http';

const argv = process.argv.slice(2);
const url = new URL(`${argv[argv.indexOf('--url') + 1] ?? ''}/healthz`);
const every = Number(argv[argv.indexOf('--every') + 1] ?? 100);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`the poller only polls loopback, not ${url.hostname}`);

const samples: [number, number, number][] = [];

function poll(): void {
  const at = Date.now();
  const started = performance.now();
  let done = false;
  const finish = (status: number): void => {
    if (done) return;
    done = true;
    samples.push([at, performance.now() - started, status]);
  };
  const req = request(url, { agent: false }, (res) => {
    res.resume();
    res.on('end', () => finish(res.statusCode ?? 0));
    res.on('error', () => finish(0));
  });
  // A wall-clock bound, not socket idleness: a server that stops accepting leaves the connect
  // pending in the kernel's SYN retries for minutes, and the socket timeout never starts.
  const timer = setTimeout(() => req.destroy(), 10_000);
  req.on('close', () => clearTimeout(timer));
  req.on('error', () => finish(0));
  req.end();
}

// A fixed schedule, not "wait for the answer then sleep": a stalled server shows as many slow polls.
setInterval(poll, every);
process.on('message', (message: { type: string }) => {
  if (message.type === 'samples') process.send?.({ type: 'samples', samples });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
