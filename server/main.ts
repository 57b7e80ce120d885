// Runs a Pulse server: opens the store, listens, ticks the engine, sends heartbeats and
// keeps the local probe workers (child processes) running. The production entry point's
// engine room; it never imports the simulator.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { createPulse, type Pulse } from './app';
import { ConfigError, loadEstateFile, type Estate } from './config/estate';
import { FleetConfigError } from './fleet';
import type { TrustedProxies } from './http/client-address';
import { hostPolicy } from './http/host-check';
import type { Logger } from './log';
import { SqliteStore } from './store/sqlite';
import { ServerObserver } from './self/observer';

/**
 * This module's file: server/main.ts when run as TypeScript (tsx, vitest), or the bundle it was
 * compiled into (dist/server/cli.js, by scripts/build.mjs), a folder deeper than the source.
 */
const HERE = fileURLToPath(import.meta.url);
const COMPILED = !/\.[cm]?ts$/.test(HERE);

/**
 * The package root: the nearest folder above this file holding package.json (the same from source
 * or a build); with none, the folder above server/ (source) or above dist/server/ (a build).
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return COMPILED ? dirname(dirname(from)) : dirname(from);
  }
}
const ROOT = packageRoot(dirname(HERE));

/**
 * What a local probe worker runs: the compiled worker beside this build (../probes/worker.js) on
 * plain node when the server is compiled; the TypeScript worker through tsx when the server
 * itself runs as TypeScript (tests, development).
 */
const LOCAL_WORKER = COMPILED
  ? { file: fileURLToPath(new URL('../probes/worker.js', import.meta.url)), nodeArgs: [] as string[] }
  : { file: fileURLToPath(new URL('../probes/worker.ts', import.meta.url)), nodeArgs: ['--import', 'tsx'] };

export interface StartOptions {
  estate: Estate;
  dataDir: string;
  host: string;
  port: number;
  log: Logger;
  /** Local probe worker processes to run (0: only remote workers report). */
  localWorkers: number;
  /** Token remote workers must present; a random one is made when absent. */
  workerToken?: string;
  tickMs?: number;
  heartbeatMs?: number;
  /** How often backup mode sends due actions and settles runs. */
  backupPumpMs?: number;
  /** Wait before retrying a failed backup-mode action (tests shorten it). */
  backupBackoff?: (attempt: number) => number;
  /** How often the engine's state is saved for a restart (it is also saved on stop). */
  saveStateMs?: number;
  /**
   * The address people reach Pulse at, when that is not where it listens (behind a TLS
   * reverse proxy: `https://pulse.example.nhs.uk`). Its origin may make state-changing requests
   * and open /ws; an https address makes the session cookie Secure.
   */
  publicUrl?: string;
  /** Bearer token Prometheus must present to scrape /metrics (PULSE_METRICS_TOKEN); none: open. */
  metricsToken?: string;
  /** Reverse proxies whose forwarded headers are believed (PULSE_TRUSTED_PROXIES); none: no one's. */
  trustedProxies?: TrustedProxies;
  /** Host names answered besides PULSE_PUBLIC_URL's (PULSE_ALLOWED_HOSTS); others get 421. */
  allowedHosts?: string[];
  /** Distinct probe locations per worker credential and in all (PULSE_WORKER_MAX_LOCATIONS_PER_TOKEN, PULSE_WORKER_MAX_LOCATIONS). */
  workerLocations?: { perToken?: number; estate?: number };
  /** Dashboard WebSocket connections one client address may hold (PULSE_LIVE_CONNECTIONS_PER_ADDRESS); default 200. */
  liveConnectionsPerAddress?: number;
}

export type ReloadResult = { ok: true; practices: number; checks: number } | { ok: false; error: string };

export interface RunningPulse {
  /** The Pulse serving now (a reload replaces it). */
  readonly pulse: Pulse;
  /** Loads the estate file again; a bad file is refused and the running estate carries on. */
  reload(): Promise<ReloadResult>;
  store: SqliteStore;
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startPulse(opts: StartOptions): Promise<RunningPulse> {
  // A build with its server but not its worker (or a worker file removed since) would only restart-loop.
  if (opts.localWorkers > 0 && !existsSync(LOCAL_WORKER.file)) {
    throw new Error(`the probe worker ${LOCAL_WORKER.file} is missing: run npm run build (or set PULSE_WORKERS=0)`);
  }
  const store = new SqliteStore(opts.dataDir);
  const workerToken = opts.workerToken ?? randomBytes(24).toString('base64url');
  // One per process: it outlives a reload, and its view of stalls is the process's own.
  const hosts = hostPolicy([...(opts.publicUrl ? [new URL(opts.publicUrl).hostname] : []), ...(opts.allowedHosts ?? [])]);
  if (hosts.names.length === 0 && !['127.0.0.1', '::1', 'localhost'].includes(opts.host)) {
    opts.log('warn', 'no PULSE_PUBLIC_URL or PULSE_ALLOWED_HOSTS: Pulse answers requests addressed to an IP address or localhost, and refuses every host name with 421', { host: opts.host });
  }
  const observer = new ServerObserver({ tickMs: opts.tickMs ?? 250 });
  const build = (estate: Estate) =>
    createPulse({
      selfObserver: observer,
      estate,
      store,
      auditAnchorDir: opts.dataDir,
      clock: { now: () => Date.now() },
      log: opts.log,
      workerToken,
      webDir: join(ROOT, 'dist', 'web'),
      heartbeatMs: opts.heartbeatMs ?? 5_000,
      auth: opts.publicUrl
        ? { trustedOrigins: [new URL(opts.publicUrl).origin], secureCookies: new URL(opts.publicUrl).protocol === 'https:' }
        : undefined,
      reload: () => reload(),
      metricsToken: opts.metricsToken,
      ...(opts.workerLocations ? { workerLocations: opts.workerLocations } : {}),
      ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
      ...(opts.liveConnectionsPerAddress !== undefined ? { liveConnectionsPerAddress: opts.liveConnectionsPerAddress } : {}),
      hosts,
      ...(opts.backupBackoff ? { backupBackoff: opts.backupBackoff } : {}),
    });
  let pulse = build(opts.estate);
  await pulse.restore();

  let reloading: Promise<ReloadResult> | null = null;
  /**
   * Reload without a restart: the new file is validated in full first; only then is a new
   * Pulse built over the same store, handed the engine's state, and swapped in. Dashboards
   * and workers are disconnected with a reason and reconnect to it at once.
   */
  const reload = (): Promise<ReloadResult> => {
    // One reload at a time; cleared asynchronously, after the promise is stored.
    reloading ??= reloadOnce().finally(() => {
      reloading = null;
    });
    return reloading;
  };
  const reloadOnce = async (): Promise<ReloadResult> => {
    const source = pulse.estate.source;
    let next: Pulse;
    try {
      next = build(loadEstateFile(source));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (!(err instanceof ConfigError) && !(err instanceof FleetConfigError)) throw err;
      opts.log('error', 'configuration reload refused; the running estate carries on', { error });
      return { ok: false, error };
    }
    await pulse.saveState();
    await pulse.flushHistory();
    // One drainer at a time over the outbox: the old one finishes its round first.
    await pulse.backup.close();
    try {
      await next.restore();
    } catch (err) {
      // The running Pulse carries on, backup mode included.
      await pulse.backup.reopen();
      next.close('configuration reload failed');
      const error = `the new configuration could not be started: ${err instanceof Error ? err.message : String(err)}`;
      opts.log('error', 'configuration reload failed; the running estate carries on', { error });
      return { ok: false, error };
    }
    const old = pulse;
    pulse = next;
    next.acceptingHeartbeats(Date.now());
    old.close('configuration reloaded; reconnect');
    opts.log('info', 'configuration reloaded', { estate: source, practices: next.estate.practices.size, checks: next.estate.checks.size });
    return { ok: true, practices: next.estate.practices.size, checks: next.estate.checks.size };
  };

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: (req, env) => pulse.app.fetch(req, env), hostname: opts.host, port: opts.port }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  server.on('upgrade', (req, socket, head) => pulse.handleUpgrade(req, socket, head));
  // Only now can workstations be heard: their fleets' grace period starts here, not at build.
  pulse.acceptingHeartbeats(Date.now());
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  const url = `http://${hostForUrl}:${port}`;

  const tick = setInterval(() => void pulse.tick(), opts.tickMs ?? 250);
  const heartbeat = setInterval(() => pulse.heartbeat(), opts.heartbeatMs ?? 5_000);
  // Backup mode: send due actions, settle finished runs, apply automatic-entry policies.
  const backupPump = setInterval(() => void pulse.backup.pump(), opts.backupPumpMs ?? 1_000);
  const save = setInterval(() => {
    pulse.saveState().catch((err: unknown) => opts.log('error', 'could not save the engine state', { error: String(err) }));
  }, opts.saveStateMs ?? 30_000);

  const fleetTokenVars = [...opts.estate.practices.values()].flatMap((p) => (p.fleet && 'env' in p.fleet.token ? [p.fleet.token.env] : []));
  const workers = new LocalWorkers(
    opts.localWorkers,
    url.replace(/^http/, 'ws'),
    workerToken,
    opts.log,
    new Set(['PULSE_WORKER_TOKEN', 'PULSE_DEMO_FLEET_TOKEN', ...fleetTokenVars]),
  );
  workers.start();
  opts.log('info', 'Pulse is listening', {
    url,
    practices: opts.estate.practices.size,
    services: opts.estate.services.size,
    checks: opts.estate.checks.size,
    estate: opts.estate.source,
  });

  let stopping: Promise<void> | null = null;
  return {
    get pulse() {
      return pulse;
    },
    reload,
    store,
    url,
    port,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(tick);
        clearInterval(heartbeat);
        clearInterval(backupPump);
        await pulse.backup.close();
        clearInterval(save);
        await workers.stop();
        pulse.close('server shutting down');
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections?.();
        });
        await pulse.tick();
        // On a full or read-only disk the last state cannot be saved: say so, and still close the store.
        await pulse.saveState().catch((err: unknown) => opts.log('error', 'could not save the engine state at shutdown', { error: String(err) }));
        await pulse.flushHistory().catch((err: unknown) => opts.log('error', 'could not store the last check minutes at shutdown', { error: String(err) }));
        await store.close();
        observer.close();
      })()),
  };
}

/** Keeps N local worker processes running, restarting any that exit, with backoff. */
class LocalWorkers {
  private readonly children = new Set<ChildProcess>();
  private stopped = false;
  private restarts = 0;

  constructor(
    private readonly count: number,
    private readonly serverUrl: string,
    private readonly token: string,
    private readonly log: Logger,
    private readonly withhold: Set<string>,
  ) {}

  start(): void {
    for (let i = 0; i < this.count; i++) this.spawnOne(i);
  }

  private spawnOne(index: number): void {
    if (this.stopped) return;
    const child = spawn(process.execPath, [...LOCAL_WORKER.nodeArgs, LOCAL_WORKER.file], {
      cwd: ROOT,
      // The token goes by environment, not argv, so it does not show in `ps`. Secrets only the
      // server needs (fleet agent tokens) are withheld; probe secrets (API keys) pass through.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !this.withhold.has(name))),
        PULSE_SERVER_URL: this.serverUrl,
        PULSE_WORKER_TOKEN: this.token,
        PULSE_LOCATION: 'local',
      },
      // The IPC channel carries nothing; it closes when this process dies, however it dies,
      // and the worker stops then (no orphans probing with a dead token).
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.children.add(child);
    child.once('exit', (code, signal) => {
      this.children.delete(child);
      if (this.stopped) return;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts++, 6));
      this.log('warn', 'local probe worker exited; restarting', { index, code, signal, inMs: delay });
      setTimeout(() => this.spawnOne(index), delay).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
