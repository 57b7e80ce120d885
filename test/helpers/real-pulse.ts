// A real Pulse on a free loopback port with no probe workers, over a temporary data folder,
// for tests that talk to it over real sockets. Every Pulse started through it is stopped and
// its folder removed after the file's tests (afterAll is registered when this is called).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { loadEstateFile } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse, type StartOptions } from '../../server/main';

/** Returns `start(extra)`: a Pulse over `estate` (YAML), with `workerToken` and any options in `extra`. */
export function realPulses(name: string, estate: string, workerToken: string): (extra?: Partial<StartOptions>) => Promise<RunningPulse> {
  const dirs: string[] = [];
  const servers: RunningPulse[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return async (extra = {}) => {
    const dir = mkdtempSync(join(tmpdir(), `pulse-${name}-`));
    dirs.push(dir);
    writeFileSync(join(dir, 'estate.yaml'), estate);
    const running = await startPulse({
      estate: loadEstateFile(join(dir, 'estate.yaml')),
      dataDir: join(dir, 'data'),
      host: '127.0.0.1',
      port: 0,
      log: silentLogger,
      localWorkers: 0,
      workerToken,
      tickMs: 50,
      heartbeatMs: 1_000,
      ...extra,
    });
    servers.push(running);
    return running;
  };
}
