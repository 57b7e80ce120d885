// Start time and idle memory of Pulse run as TypeScript (tsx) and compiled (dist/, from
// scripts/build.mjs), side by side, alternating, so a busy machine weighs on both alike:
//
//   node scripts/build.mjs && node scripts/measure-start.mjs [--runs 5] [--idle-ms 8000]
//
// Each start: a config estate of 8 TCP checks against a port this script listens on, two local
// workers (PULSE_WORKERS=2), a fresh data folder; timed from spawn to "Pulse is running" and to
// both workers' "assigned N check(s)"; then RSS of the server and each worker from
// /proc/<pid>/status after the idle wait. Then each entry point loaded and exited (a bad flag,
// after every module is loaded). Prints medians. A measurement, not a test (Linux only: /proc).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'idle-ms': { type: 'string', default: '8000' } } });
const runs = Number(values.runs);
const idleMs = Number(values['idle-ms']);

const rssMiB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const childrenOf = (pid) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const modes = {
  tsx: { server: ['--import', 'tsx', 'server/cli.ts'], worker: ['--import', 'tsx', 'probes/worker.ts'] },
  compiled: { server: ['dist/server/cli.js'], worker: ['dist/probes/worker.js'] },
};

const target = createServer((socket) => socket.end());
await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
const port = target.address().port;
const checks = Array.from({ length: 8 }, (_, k) => `{ id: A8100${k}-gw, kind: tcp, target: "127.0.0.1:${port}" }`).join(', ');
const estate = `defaults: { interval: 5s, timeout: 1s }\nservices:\n  - { id: emis-web, name: EMIS Web, kind: clinical-system }\npractices:\n  - { ods: A81001, name: R, pcn: P1, system: emis-web, checks: [${checks}] }\n`;

async function start(args) {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-measure-'));
  writeFileSync(join(dir, 'estate.yaml'), estate);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, '--config', join(dir, 'estate.yaml'), '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, PULSE_DATA_DIR: join(dir, 'data'), PULSE_WORKERS: '2', PULSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let listenMs;
  let workersMs;
  await new Promise((resolve, reject) => {
    const look = () => {
      listenMs ??= /Pulse is running at/.test(out) ? performance.now() - t0 : undefined;
      workersMs ??= (err.match(/assigned \d+ check/g) ?? []).length >= 2 ? performance.now() - t0 : undefined;
      if (listenMs !== undefined && workersMs !== undefined) resolve();
    };
    child.stdout.on('data', (d) => ((out += d), look()));
    child.stderr.on('data', (d) => ((err += d), look()));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const row = { listenMs, workersMs, serverMiB: rssMiB(child.pid), workerMiB: childrenOf(child.pid).map(rssMiB) };
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  return row;
}

function loadAndExit(args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...args, '--no-such-flag'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 2) throw new Error(`${args.join(' ')} --no-such-flag: exit ${r.status}: ${r.stderr}`);
  return performance.now() - t0;
}

const rows = { tsx: [], compiled: [] };
const loads = { tsx: { server: [], worker: [] }, compiled: { server: [], worker: [] } };
process.stdout.write(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (${runs} runs, ${idleMs} ms idle)\n`);
for (let i = 0; i < runs; i++) {
  for (const [mode, { server, worker }] of Object.entries(modes)) {
    rows[mode].push(await start(server));
    loads[mode].server.push(loadAndExit(server));
    loads[mode].worker.push(loadAndExit(worker));
  }
}
for (const [mode, list] of Object.entries(rows)) {
  const f = (xs) => Math.round(median(xs));
  process.stdout.write(
    `${mode.padEnd(8)} listening ${f(list.map((r) => r.listenMs))} ms, both workers assigned ${f(list.map((r) => r.workersMs))} ms, ` +
      `idle RSS server ${f(list.map((r) => r.serverMiB))} MiB, worker ${f(list.flatMap((r) => r.workerMiB))} MiB; ` +
      `load and exit: server ${f(loads[mode].server)} ms, worker ${f(loads[mode].worker)} ms\n`,
  );
}
process.stdout.write(`load average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
target.close();
