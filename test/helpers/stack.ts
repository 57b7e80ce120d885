// Starts the whole of Pulse for an integration or browser test: the simulator, an estate file
// written from it, and a real server with real probe workers, in a temporary folder that
// stop() removes. Short intervals, so an outage is confirmed in about a second.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEstateFile } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { startPulse, type RunningPulse, type StartOptions } from '../../server/main';
import { startSimulator, type Simulator } from '../../server/simulator';

export const STACK_WEBHOOK_SECRET_ENV = 'PULSE_TEST_WEBHOOK_SECRET';

export interface Stack {
  sim: Simulator;
  pulse: RunningPulse;
  dir: string;
  /** The estate file Pulse loaded (tests may rewrite it and reload). */
  file: string;
  options: StartOptions;
  stop(): Promise<void>;
}

export async function startStack(opts: {
  seed: number;
  interval?: string;
  timeout?: string;
  localWorkers?: number;
  /** Changes the generated estate text before Pulse loads it. */
  editEstate?: (yaml: string) => string;
}): Promise<Stack> {
  const sim = await startSimulator({ seed: opts.seed });
  const dir = mkdtempSync(join(tmpdir(), 'pulse-test-'));
  const file = join(dir, 'estate.yaml');
  // Backup-mode webhooks go to the simulator's continuity receiver, signed with its secret.
  process.env[STACK_WEBHOOK_SECRET_ENV] = sim.continuity.secret;
  const yaml = sim.estateYaml({
    interval: opts.interval ?? '500ms',
    timeout: opts.timeout ?? '400ms',
    backup: { secretEnv: STACK_WEBHOOK_SECRET_ENV, suggestLeaveAfter: '2s' },
  });
  writeFileSync(file, opts.editEstate ? opts.editEstate(yaml) : yaml);
  const options: StartOptions = {
    estate: loadEstateFile(file),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    localWorkers: opts.localWorkers ?? 1,
    tickMs: 100,
    heartbeatMs: 1_000,
    backupPumpMs: 100,
    backupBackoff: () => 100,
  };
  const pulse = await startPulse(options);
  return {
    sim,
    pulse,
    dir,
    file,
    options,
    stop: async () => {
      await pulse.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
