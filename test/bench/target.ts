// The bench's stand-in for the estate: a minimal HTTP server answering 200 "ok" on
// many loopback addresses (127.0.0.2, 127.0.0.3, … one per simulated practice
// host), all on one port. Run as a child process by test/bench/probes.ts, which
// talks to it over IPC: it reports "ready" with its port, and answers "counters"
// with how many connections and requests it has seen (so the bench can prove
// every probe opened a fresh connection). test/bench/national.ts also tells it to fail a
// set of hosts (refuse connections, or answer 503) and to recover them, for a mass failure.
// It must never listen beyond loopback and never outlive its parent.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { hostAddress, type TargetMessage, type TargetRequest } from './estate';

function reply(message: TargetMessage): void {
  process.send?.(message);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string): number => {
    const i = argv.indexOf(`--${name}`);
    const value = i >= 0 ? Number(argv[i + 1]) : NaN;
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} needs a whole number`);
    return value;
  };
  const hosts = flag('hosts');
  // This process serves hosts first, first+stride, first+2·stride… (several processes split the estate).
  const first = flag('first');
  const stride = Math.max(1, flag('stride'));
  let port = flag('port');

  let connections = 0;
  let requests = 0;
  let keepAliveRequests = 0;
  let reusedRequests = 0;
  const served = new WeakSet<object>();
  /** Local addresses answering 503 (the `503` failure mode). */
  const failing = new Set<string>();
  const http = createHttpServer((req, res) => {
    requests++;
    if (failing.size > 0 && failing.has(req.socket.localAddress ?? '')) {
      res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '4', connection: 'close' });
      res.end('down');
      return;
    }
    if (req.headers.connection?.toLowerCase() !== 'close') keepAliveRequests++;
    if (served.has(req.socket)) reusedRequests++;
    else served.add(req.socket);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
  const onConnection = (socket: Socket): void => {
    connections++;
    http.emit('connection', socket);
  };

  const servers: Server[] = [];
  /** The listener of each host this process serves, by host index. */
  const byHost = new Map<number, Server>();
  const indexes: number[] = [];
  for (let i = first; i < hosts; i += stride) indexes.push(i);
  const firstIndex = indexes.shift();
  if (firstIndex === undefined) throw new Error('no hosts to serve');
  const head = createNetServer(onConnection);
  port = await listen(head, port, hostAddress(firstIndex));
  servers.push(head);
  byHost.set(firstIndex, head);
  for (let i = 0; i < indexes.length; i += 256) {
    await Promise.all(
      indexes.slice(i, i + 256).map((index) => {
        const server = createNetServer(onConnection);
        servers.push(server);
        byHost.set(index, server);
        return listen(server, port, hostAddress(index));
      }),
    );
  }

  /** Hosts whose listener is closed now (the `refuse` failure mode). */
  const refused = new Set<number>();
  const fail = async (hosts: number[], mode: 'refuse' | '503'): Promise<number> => {
    let n = 0;
    for (const index of hosts) {
      const server = byHost.get(index);
      if (!server) continue;
      n++;
      if (mode === '503') failing.add(hostAddress(index));
      else if (!refused.has(index)) {
        refused.add(index);
        // Stops accepting at once (the listening socket is closed); open connections finish.
        server.close();
      }
    }
    return n;
  };
  const recover = async (hosts: number[]): Promise<number> => {
    let n = 0;
    const relisten: number[] = [];
    for (const index of hosts) {
      if (!byHost.has(index)) continue;
      n++;
      failing.delete(hostAddress(index));
      if (refused.delete(index)) relisten.push(index);
    }
    for (let i = 0; i < relisten.length; i += 256) {
      await Promise.all(
        relisten.slice(i, i + 256).map((index) => {
          const server = createNetServer(onConnection);
          byHost.set(index, server);
          return listen(server, port, hostAddress(index));
        }),
      );
    }
    return n;
  };
  process.on('message', (message: TargetRequest) => {
    if (message.type === 'counters') reply({ type: 'counters', connections, requests, keepAliveRequests, reusedRequests });
    else if (message.type === 'fail') {
      fail(message.hosts, message.mode).then(
        (n) => reply({ type: 'failed', hosts: n }),
        (err: unknown) => reply({ type: 'error', message: `fail: ${String(err)}` }),
      );
    } else if (message.type === 'recover') {
      recover(message.hosts).then(
        (n) => reply({ type: 'recovered', hosts: n }),
        (err: unknown) => reply({ type: 'error', message: `recover: ${String(err)}` }),
      );
    }
  });
  // Never outlive the bench.
  process.on('disconnect', () => process.exit(0));
  reply({ type: 'ready', port, hosts: servers.length });
}

main().catch((err: unknown) => {
  reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
