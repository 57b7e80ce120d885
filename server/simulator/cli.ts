// Starts the simulator from the command line for demos and manual testing:
//   node --import tsx server/simulator/cli.ts [--practices N] [--control-port P] [--seed S] [--out FILE]
// Prints the control URL and the estate file it wrote, and stops cleanly on SIGINT or
// SIGTERM. Binds 127.0.0.1 only. Never imported by production code.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SimulatorError, startSimulator } from './index';

const USAGE = 'usage: node --import tsx server/simulator/cli.ts [--practices N] [--control-port P] [--seed S] [--out FILE]';

function wholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new SimulatorError('BAD_OPTIONS', `--${flag}: expected a whole number, got "${text}"`, flag);
  return Number(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      practices: { type: 'string' },
      'control-port': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const sim = await startSimulator({
    practices: wholeNumber('practices', values.practices),
    controlPort: wholeNumber('control-port', values['control-port']),
    seed: wholeNumber('seed', values.seed),
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`simulator: ${signal}, stopping\n`);
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`simulator: could not stop cleanly: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    const out = values.out ? resolve(values.out) : join(await mkdtemp(join(tmpdir(), 'pulse-sim-')), 'estate.yaml');
    await writeFile(out, sim.estateYaml(), 'utf8');
    process.stdout.write(
      [
        `simulator: ${sim.services.length} services, ${sim.practices.length} practices on 127.0.0.1`,
        `control API: ${sim.controlUrl}   (GET /faults, POST /faults, POST /scenarios/<name>, GET /scenarios)`,
        `estate file: ${out}`,
        '',
      ].join('\n'),
    );
  } catch (err) {
    await sim.close();
    throw err;
  }
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`simulator: ${message}\n${USAGE}\n`);
  process.exit(1);
});
