// The command line as an operator meets it: a broken estate file stops start-up with one
// line naming file, line and field, and a non-zero exit; the production entry point never
// loads the simulator.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'pulse-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, PULSE_DATA_DIR: join(dir, 'data'), PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('pulse command line', () => {
  it('rejects a broken estate file with one line naming file, line and field, and exit code 2', () => {
    const file = join(dir, 'estate.yaml');
    writeFileSync(
      file,
      'services:\n  - id: emis-web\n    name: EMIS Web\n    kind: clinical-system\npractices:\n  - ods: A81001\n    name: X\n    pcn: P\n    system: emis-webb\n',
    );
    const result = start(['--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`pulse: ${file}:9: practices[0].system: unknown service "emis-webb" (known: emis-web)\n`);
    expect(result.stdout).toBe('');
  });

  it('takes the estate file from PULSE_CONFIG too', () => {
    const result = start([], { PULSE_CONFIG: join(dir, 'missing.yaml') });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`pulse: ${join(dir, 'missing.yaml')}: file not found\n`);
  });

  it('rejects an unknown flag and a bad port with a usage line', () => {
    const flag = start(['--confg', 'x']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/^pulse: Unknown option '--confg'/);
    expect(flag.stderr).toContain('usage: npm start');
    const port = start([], { PORT: 'eighty' });
    expect(port.status).toBe(2);
    expect(port.stderr).toBe('pulse: PORT: "eighty" is not a port number (0-65535)\n');
  });

  it('rejects a bad per-address live connection limit naming the variable', () => {
    const result = start([], { PULSE_LIVE_CONNECTIONS_PER_ADDRESS: 'lots' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('pulse: PULSE_LIVE_CONNECTIONS_PER_ADDRESS: "lots" is not a number of connections (1-100000)\n');
  });

  it('refuses to serve the simulated demo beyond loopback', () => {
    const result = start([], { HOST: '0.0.0.0' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('the simulated demo listens on loopback only');
  });
});

describe('module boundaries', () => {
  it('loads the simulator only from the demo launcher, never from production code', () => {
    const offenders: string[] = [];
    const walk = (folder: string) => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'simulator') walk(path);
        } else if (/\.(ts|svelte)$/.test(entry.name) && !path.endsWith(join('server', 'demo.ts'))) {
          if (/(from|import\()\s*['"][^'"]*simulator/.test(readFileSync(path, 'utf8'))) offenders.push(relative(process.cwd(), path));
        }
      }
    };
    for (const folder of ['server', 'probes', 'web']) walk(join(process.cwd(), folder));
    expect(offenders).toEqual([]);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM closes live connections with a reason, saves its state and exits 0 within the bound', async () => {
    const { spawn } = await import('node:child_process');
    const { default: WebSocket } = await import('ws');
    const file = join(dir, 'shutdown.yaml');
    writeFileSync(file, 'services:\n  - { id: emis-web, name: EMIS Web, kind: clinical-system }\npractices:\n  - { ods: A81001, name: X, pcn: P, system: emis-web }\n');
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', '--config', file], {
      cwd: process.cwd(),
      env: { ...process.env, PULSE_DATA_DIR: join(dir, 'shutdown-data'), PORT: '0', PULSE_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 20_000);
      child.stdout.on('data', () => {
        const m = /Pulse is running at (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    // A read-only display link from the same data folder, so a live connection can be opened.
    const { SqliteStore } = await import('../../server/store/sqlite');
    const store = new SqliteStore(join(dir, 'shutdown-data'));
    const { secret } = await store.accounts.createToken({ kind: 'display', name: 't', icb: null, createdBy: 'test', now: Date.now() });
    await store.close();
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?display=${secret}`);
    await new Promise((resolve, reject) => ws.once('message', resolve).once('error', reject));
    const closed = new Promise<[number, string]>((resolve) => ws.on('close', (code, reason) => resolve([code, String(reason)])));
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await closed).toEqual([1001, 'server shutting down']);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(out).toContain('"message":"shutting down"');
  });
});
