// Production runs compiled JavaScript (issue 14): scripts/build.mjs bundles the server and the
// probe worker, and the compiled server, started with plain node, serves, and runs its local
// workers as plain node processes on the compiled worker: no tsx anywhere in production.
// The build goes into a temporary folder under dist/ (so the bundles resolve node_modules and
// the package root as a real build does) and is removed afterwards.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'production-build-test-token';
let outdir: string;
let dir: string;
let target: Server;
let server: ChildProcess | undefined;
let stdout = '';
let stderr = '';
let build: ReturnType<typeof spawnSync>;

/** A process's arguments from /proc, or null once it is gone. */
function cmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return null;
  }
}

/** The pids whose parent is `pid` (from /proc/<pid>/stat: the field after the state). */
function children(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

beforeAll(async () => {
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  outdir = mkdtempSync(join(ROOT, 'dist', '.test-build-'));
  build = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', outdir], { cwd: ROOT, encoding: 'utf8' });

  // One TCP check against a port this test listens on, so the workers have work and results flow.
  target = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = (target.address() as { port: number }).port;
  dir = mkdtempSync(join(tmpdir(), 'pulse-production-build-'));
  writeFileSync(
    join(dir, 'estate.yaml'),
    `defaults: { interval: 2s, timeout: 1s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
practices:
  - { ods: A81001, name: Riverside, pcn: P1, system: emis-web, checks: [{ id: A81001-gw, kind: tcp, target: "127.0.0.1:${port}" }] }
  - { ods: A81002, name: Oakwood, pcn: P1, system: emis-web, checks: [{ id: A81002-gw, kind: tcp, target: "127.0.0.1:${port}" }] }
`,
  );
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  }
  await new Promise((resolve) => target?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('the production build', () => {
  it('writes the server, the accounts command and the worker as JavaScript with source maps', () => {
    expect(build.status, `build failed: ${String(build.stderr)}`).toBe(0);
    for (const file of ['server/cli.js', 'server/users-cli.js', 'probes/worker.js']) {
      expect(existsSync(join(outdir, file)), file).toBe(true);
      expect(existsSync(join(outdir, `${file}.map`)), `${file}.map`).toBe(true);
    }
    // The server keeps its packages in node_modules (better-sqlite3 is native); the worker carries its own.
    const serverCode = readdirSync(join(outdir, 'server'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(outdir, 'server', file), 'utf8'))
      .join('\n');
    expect(serverCode).toMatch(/from "better-sqlite3"/);
    expect(readFileSync(join(outdir, 'probes/worker.js'), 'utf8')).not.toMatch(/from "(ws|zod)"/);
  });

  it('runs with plain node: serves /healthz, and its local workers are plain node on the compiled worker', async () => {
    expect(build.status).toBe(0);
    server = spawn(process.execPath, [join(outdir, 'server/cli.js'), '--config', join(dir, 'estate.yaml'), '--port', '0'], {
      // Started from elsewhere, as systemd or a container may: nothing may depend on the working folder.
      cwd: dir,
      env: { ...process.env, PULSE_DATA_DIR: join(dir, 'data'), PULSE_WORKERS: '2', PULSE_WORKER_TOKEN: TOKEN, PULSE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d) => (stdout += String(d)));
    server.stderr!.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    const pid = server.pid!;
    expect(cmdline(pid)).toEqual([process.execPath, join(outdir, 'server/cli.js'), '--config', join(dir, 'estate.yaml'), '--port', '0']);

    const url = await waitFor('the compiled server to say where it listens', () => /Pulse is running at (http:\/\/\S+)/.exec(stdout)?.[1] ?? (server!.exitCode !== null ? Promise.reject(new Error(`exited: ${stderr}`)) : null), 30_000);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });

    // Both local workers connected, were assigned the checks, and results flow (/readyz is ready).
    await waitFor('two local workers to connect', () => (stderr.match(/pulse worker: connected to /g) ?? []).length >= 2, 30_000);
    await waitFor('/readyz to be ready', async () => (await fetch(`${url}/readyz`)).status === 200, 30_000);

    const workers = children(pid).map((child) => ({ pid: child, argv: cmdline(child) }));
    expect(workers.map((w) => w.argv)).toEqual([
      [process.execPath, join(outdir, 'probes/worker.js')],
      [process.execPath, join(outdir, 'probes/worker.js')],
    ]);
    for (const argv of [cmdline(pid), ...workers.map((w) => w.argv)]) expect(argv!.join(' ')).not.toMatch(/tsx/);

    // The dashboard is found from the package root, though the bundle sits deeper than the source.
    if (existsSync(join(ROOT, 'dist/web/index.html'))) {
      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
    }

    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitFor('its workers to stop with it', () => workers.every((w) => cmdline(w.pid) === null), 15_000);
    expect(stderr).not.toMatch(/Error|at .*\.js:\d+/);
  }, 90_000);
});
