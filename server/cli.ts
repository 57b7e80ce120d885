// `npm start`: reads the command line and environment, loads the estate (or, with none
// given, runs the simulated demo estate), starts Pulse and stops it cleanly on a signal.
// A bad configuration ends here with one line naming file, line and field: no stack trace.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadEstateFile } from './config/estate';
import type { AccountStore } from './auth/types';
import { parseTrustedProxies } from './http/client-address';
import { parseAllowedHosts } from './http/host-check';
import { jsonLogger } from './log';
import { startPulse, type StartOptions } from './main';

const USAGE = 'usage: npm start [-- --config FILE] [--port N] [--host ADDRESS]';

function fail(message: string): never {
  process.stderr.write(`pulse: ${message}\n`);
  process.exit(2);
}

function readOptions() {
  let values: { config?: string; port?: string; host?: string };
  try {
    ({ values } = parseArgs({
      options: { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const portText = values.port ?? process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT: "${portText}" is not a port number (0-65535)`);
  // One local probe worker per core by default.
  const workersText = process.env.PULSE_WORKERS ?? String(availableParallelism());
  const localWorkers = Number(workersText);
  if (!Number.isInteger(localWorkers) || localWorkers < 0 || localWorkers > 64) {
    fail(`PULSE_WORKERS: "${workersText}" is not a number of workers (0-64)`);
  }
  // Distinct probe locations one worker credential, and the estate, may claim (issue 13).
  const count = (name: string, fallback: number, max: number): number => {
    const text = process.env[name] ?? String(fallback);
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max) fail(`${name}: "${text}" is not a number of locations (1-${max})`);
    return n;
  };
  const workerLocations = { perToken: count('PULSE_WORKER_MAX_LOCATIONS_PER_TOKEN', 4, 1_000), estate: count('PULSE_WORKER_MAX_LOCATIONS', 64, 1_000) };
  // Dashboard WebSocket connections one client address may hold open (issue 13).
  const perAddressText = process.env.PULSE_LIVE_CONNECTIONS_PER_ADDRESS ?? '200';
  const liveConnectionsPerAddress = Number(perAddressText);
  if (!Number.isInteger(liveConnectionsPerAddress) || liveConnectionsPerAddress < 1 || liveConnectionsPerAddress > 100_000) {
    fail(`PULSE_LIVE_CONNECTIONS_PER_ADDRESS: "${perAddressText}" is not a number of connections (1-100000)`);
  }
  // Behind a TLS reverse proxy: the address people use, so their browsers' Origin is accepted.
  const publicUrl = process.env.PULSE_PUBLIC_URL || undefined;
  if (publicUrl !== undefined && !/^https?:\/\/[^/?#\s]+\/?$/.test(publicUrl)) {
    fail(`PULSE_PUBLIC_URL: "${publicUrl}" is not an address such as https://pulse.example.nhs.uk`);
  }
  // Reverse proxies whose X-Forwarded-For / X-Real-IP are believed; from anyone else they are ignored.
  let trustedProxies, allowedHosts;
  try {
    trustedProxies = parseTrustedProxies(process.env.PULSE_TRUSTED_PROXIES);
    // Host names answered besides PULSE_PUBLIC_URL's (the DNS-rebinding check).
    allowedHosts = parseAllowedHosts(process.env.PULSE_ALLOWED_HOSTS);
  } catch (err) {
    fail((err as Error).message);
  }
  return {
    config: values.config ?? process.env.PULSE_CONFIG,
    port,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    dataDir: resolve(process.env.PULSE_DATA_DIR ?? './data'),
    localWorkers,
    workerToken: process.env.PULSE_WORKER_TOKEN || undefined,
    workerLocations,
    liveConnectionsPerAddress,
    publicUrl,
    metricsToken: process.env.PULSE_METRICS_TOKEN || undefined,
    trustedProxies,
    allowedHosts,
  };
}

async function main(): Promise<void> {
  const options = readOptions();
  const log = jsonLogger(process.stdout, (process.env.PULSE_LOG_LEVEL as 'info' | undefined) ?? 'info');
  let stopDemo: () => Promise<void> = async () => {};
  let afterStart: (url: string, accounts: AccountStore) => Promise<void> = async () => {};
  let start: StartOptions;

  if (options.config) {
    try {
      start = { ...options, estate: loadEstateFile(options.config), log };
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message);
      throw err;
    }
  } else {
    // Only the demo path loads the simulator; a configured Pulse never does.
    const { prepareDemo } = await import('./demo');
    const demo = await prepareDemo({ ...options, log }).catch((err: Error) => fail(err.message));
    stopDemo = demo.stop;
    afterStart = demo.afterStart;
    start = { ...options, host: demo.host, estate: demo.estate, log };
  }

  let running;
  try {
    running = await startPulse(start);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    await stopDemo();
    if (e.code === 'EADDRINUSE') fail(`port ${options.port} on ${start.host} is already in use; set PORT to another port`);
    if (e.code === 'EACCES') fail(`not allowed to listen on ${start.host}:${options.port}`);
    fail(`could not start: ${e.message}`);
  }
  await afterStart(running.url, running.store.accounts);
  process.stdout.write(`\n  Pulse is running at ${running.url}\n\n`);

  const shutdown = (signal: string) => {
    log('info', 'shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    void running
      .stop()
      .then(stopDemo)
      .then(() => process.exit(0));
  };
  // SIGHUP: load the estate file again (systemd's ExecReload sends it).
  process.on('SIGHUP', () => {
    void running.reload().then((r) => log(r.ok ? 'info' : 'error', r.ok ? 'reloaded on SIGHUP' : 'reload on SIGHUP refused', r.ok ? { practices: r.practices } : { error: r.error }));
  });
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => fail(`unexpected error: ${err instanceof Error ? err.message : String(err)}`));
