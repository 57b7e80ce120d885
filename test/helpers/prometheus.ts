// A real Prometheus for tests: makes sure Debian's `prometheus` package (server and
// promtool) is installed, runs promtool, and starts a server on a loopback port with a
// throwaway TSDB, then talks to its HTTP API. Installs only when a binary is missing, and
// fails with a message saying what to do when it cannot (tests that need it must not skip:
// CI installs the package).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to completion, killing it after timeoutMs. Never throws for a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function describe(what: string, r: RunResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`;
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
  return `${what} ${how}${tail ? `:\n${tail}` : ''}`;
}

let installing: Promise<void> | null = null;

/**
 * Installs Debian's `prometheus` package when /usr/bin/prometheus or /usr/bin/promtool is
 * missing. apt does not start services here (and the tests never use the packaged one: they
 * start their own on a free loopback port). Throws a message naming the fix when it cannot.
 */
export function ensurePrometheus(opts: { updateTimeoutMs?: number; installTimeoutMs?: number } = {}): Promise<void> {
  if (existsSync(PROMETHEUS) && existsSync(PROMTOOL)) return Promise.resolve();
  return (installing ??= install(opts).finally(() => (installing = null)));
}

async function install({ updateTimeoutMs = 120_000, installTimeoutMs = 240_000 }): Promise<void> {
  const manual = 'Install it first: apt-get update && apt-get install -y --no-install-recommends prometheus';
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`${PROMETHEUS} or ${PROMTOOL} is missing and this is not a Debian machine with apt-get. ${manual}`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${PROMETHEUS} or ${PROMTOOL} is missing and the tests are not running as root, so they cannot install it. ${manual}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
  const update = await run('apt-get', ['update', '-qq'], { timeoutMs: updateTimeoutMs, env });
  if (update.code !== 0) throw new Error(`${describe('apt-get update', update)}\n${manual}`);
  const inst = await run(
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', 'prometheus'],
    { timeoutMs: installTimeoutMs, env },
  );
  if (inst.code !== 0) throw new Error(`${describe('apt-get install prometheus', inst)}\n${manual}`);
  if (!existsSync(PROMETHEUS) || !existsSync(PROMTOOL)) {
    throw new Error(`apt-get installed prometheus but ${PROMETHEUS} or ${PROMTOOL} is still missing. ${manual}`);
  }
}

/** Runs promtool with the given arguments (e.g. `check`, `rules`, file). */
export function promtool(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(PROMTOOL, args, { timeoutMs });
}

/** A loopback TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
  value: string;
}

export interface RunningPrometheus {
  url: string;
  /** Instant query; throws on an API error. */
  query(promql: string): Promise<Sample[]>;
  /** Active alerts (pending and firing). */
  alerts(): Promise<PromAlert[]>;
  /** What it printed, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as ApiResponse<T>;
  if (body.status !== 'success') throw new Error(`Prometheus API ${url}: ${res.status} ${body.error ?? ''}`);
  return body.data;
}

/**
 * Starts `prometheus` on 127.0.0.1 with the given config and a fresh TSDB in a temporary
 * folder, and waits until /-/ready answers. The caller must call stop().
 */
export async function startPrometheus(configFile: string, opts: { readyTimeoutMs?: number } = {}): Promise<RunningPrometheus> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-prom-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let spawnError: Error | null = null;
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running = false;
      resolve();
    });
    // A binary that cannot start gives 'error' and no 'exit'.
    child.once('error', (err) => {
      spawnError = err;
      running = false;
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const died = exited.then(() => {
      throw spawnError ?? new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    });
    died.catch(() => {}); // stop() later makes it reject too; only the race below cares
    await Promise.race([
      died,
      waitFor(
        `Prometheus to be ready on ${url}`,
        async () => {
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
          return res.status === 200;
        },
        opts.readyTimeoutMs ?? 20_000,
        100,
      ),
    ]);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nprometheus output:\n${output}`);
  }

  return {
    url,
    async query(promql) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(promql)}`,
      );
      if (data.resultType !== 'vector') throw new Error(`expected a vector from ${promql}, got ${data.resultType}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts;
    },
    log: () => output,
    stop,
  };
}
