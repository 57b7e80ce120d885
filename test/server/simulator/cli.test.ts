// The simulator's command line as the chaos harness drives it: one JSON "ready" line with the
// control URL and estate file, a fleet block naming the token's variable, agents beating to
// the Pulse URL given (with their software), and bad flags refused by name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waitFor } from '../../helpers/wait';

const TOKEN = 'sim-cli-agent-token-0123456789';
let child: ChildProcess | undefined;
let receiver: Server | undefined;

afterAll(async () => {
  child?.kill('SIGKILL');
  receiver?.closeAllConnections();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

describe('simulator command line', () => {
  it('prints a ready line, writes a fleet estate and runs agents against the Pulse URL given', async () => {
    const beats: { url: string; authorization: string | undefined; body: Record<string, unknown> }[] = [];
    receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += String(chunk)));
      req.on('end', () => {
        beats.push({ url: req.url ?? '', authorization: req.headers.authorization, body: JSON.parse(text) as Record<string, unknown> });
        res.writeHead(202).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
    const pulseUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'server/simulator/cli.ts', '--practices', '8', '--seed', '3', '--interval', '7s',
        '--agents-token-env', 'SIM_CLI_TOKEN', '--agents-to', pulseUrl, '--agents-interval', '300ms', '--agents-per-practice', '2-3'],
      { env: { ...process.env, SIM_CLI_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let stdout = '';
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        stdout += `${line}\n`;
        if (line.startsWith('{')) resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
    expect(ready).toMatchObject({ simulator: 'ready', pid: proc.pid, practices: 8, agents: { pulseUrl, intervalMs: 300, practices: 4 } });
    expect(String(ready.controlUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stdout).not.toContain(TOKEN);

    const estate = parse(readFileSync(String(ready.estateFile), 'utf8')) as {
      defaults: { interval: string };
      practices: { ods: string; fleet?: { token: { env: string }; interval: string; expectedAgents: number } }[];
    };
    expect(estate.defaults.interval).toBe('7s');
    const fleets = estate.practices.filter((p) => p.fleet);
    expect(fleets).toHaveLength(4);
    for (const p of fleets) expect(p.fleet).toMatchObject({ token: { env: 'SIM_CLI_TOKEN' }, interval: '300ms' });
    const workstations = fleets.reduce((sum, p) => sum + p.fleet!.expectedAgents, 0);
    expect((ready.agents as { workstations: number }).workstations).toBe(workstations);

    await waitFor('a beat from every agent', () => new Set(beats.map((b) => b.body.agent)).size === workstations);
    for (const beat of beats) {
      expect(beat.authorization).toBe(`Bearer ${TOKEN}`);
      expect(beat.body.software).toMatchObject({ 'channel-file': expect.any(String) });
      expect(fleets.map((p) => `/api/heartbeats/${p.ods}`)).toContain(beat.url);
    }

    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    child = undefined;
  });

  it('refuses a bad flag by name before anything listens', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'server/simulator/cli.ts', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
    const noVar = run(['--agents-token-env', 'SIM_CLI_UNSET_VAR', '--agents-to', 'http://127.0.0.1:1']);
    expect(noVar.status).toBe(1);
    expect(noVar.stderr).toContain('--agents-token-env: environment variable SIM_CLI_UNSET_VAR is not set');
    const range = run(['--agents-token-env', 'X', '--agents-per-practice', 'many']);
    expect(range.stderr).toContain('--agents-per-practice: expected MIN-MAX');
    const orphan = run(['--agents-to', 'http://127.0.0.1:1']);
    expect(orphan.stderr).toContain('--agents-token-env: needed');
    const notLoopback = run(['--agents-token-env', 'T', '--agents-to', 'http://10.0.0.1:8080'], { T: TOKEN });
    expect(notLoopback.stderr).toContain('pulseUrl');
    expect(notLoopback.stdout).toBe('');
  });
});
