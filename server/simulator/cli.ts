// Starts the simulator from the command line for demos, manual testing and the chaos tests:
//   node --import tsx server/simulator/cli.ts [--practices N] [--control-port P] [--seed S] [--out FILE]
//     [--interval 5s] [--timeout 2s]
//     [--agents-token-env VAR [--agents-to URL] [--agents-interval 15s] [--agents-per-practice 8-40]
//      [--agents-software on|off] [--agents-concurrency N]]
// With --agents-token-env the estate file gives the practices that run agents a `fleet:` block
// naming VAR; with --agents-to too, those agents beat to the Pulse at URL (loopback) with the
// token in VAR, from the start (whether or not Pulse listens yet: failures are counted).
// Prints the control URL and the estate file it wrote, then one JSON line for programs
// (`{"simulator":"ready",...}`), and stops cleanly on SIGINT or SIGTERM. Binds 127.0.0.1
// only; never prints the token. Never imported by production code.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration';
import { SimulatorError, startSimulator, type AgentsOptions, type EstateFleetOptions } from './index';

const USAGE = [
  'usage: node --import tsx server/simulator/cli.ts [--practices N] [--control-port P] [--seed S] [--out FILE]',
  '         [--interval 5s] [--timeout 2s]',
  '         [--agents-token-env VAR [--agents-to http://127.0.0.1:PORT] [--agents-interval 15s]',
  '          [--agents-per-practice MIN-MAX] [--agents-software on|off] [--agents-concurrency N]]',
].join('\n');

function wholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new SimulatorError('BAD_OPTIONS', `--${flag}: expected a whole number, got "${text}"`, flag);
  return Number(text);
}

function durationMs(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) throw new SimulatorError('BAD_OPTIONS', `--${flag}: expected a duration such as 500ms, 5s or 2m, got "${text}"`, flag);
  return ms;
}

function range(flag: string, text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) throw new SimulatorError('BAD_OPTIONS', `--${flag}: expected MIN-MAX, e.g. 8-40, got "${text}"`, flag);
  return [Number(match[1]), Number(match[2])];
}

function onOff(flag: string, text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  if (text !== 'on' && text !== 'off') throw new SimulatorError('BAD_OPTIONS', `--${flag}: expected on or off, got "${text}"`, flag);
  return text === 'on';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      practices: { type: 'string' },
      'control-port': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      interval: { type: 'string' },
      timeout: { type: 'string' },
      'agents-to': { type: 'string' },
      'agents-token-env': { type: 'string' },
      'agents-interval': { type: 'string' },
      'agents-per-practice': { type: 'string' },
      'agents-software': { type: 'string' },
      'agents-concurrency': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  // Everything is checked before anything listens.
  const tokenEnv = values['agents-token-env'];
  const agentsTo = values['agents-to'];
  const agentsIntervalMs = durationMs('agents-interval', values['agents-interval']);
  const agentsPerPractice = range('agents-per-practice', values['agents-per-practice']);
  const software = onOff('agents-software', values['agents-software']);
  const concurrency = wholeNumber('agents-concurrency', values['agents-concurrency']);
  if (tokenEnv === undefined && (agentsTo ?? values['agents-interval'] ?? values['agents-per-practice'] ?? values['agents-software'] ?? values['agents-concurrency']) !== undefined) {
    throw new SimulatorError('BAD_OPTIONS', '--agents-token-env: needed with any other --agents-… option (the variable holding the practices\u2019 agent token)', 'agents-token-env');
  }
  let token: string | undefined;
  if (agentsTo !== undefined) {
    token = process.env[tokenEnv!];
    if (!token) throw new SimulatorError('BAD_OPTIONS', `--agents-token-env: environment variable ${tokenEnv} is not set`, 'agents-token-env');
  }
  durationMs('interval', values.interval);
  durationMs('timeout', values.timeout);

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
    const fleet: EstateFleetOptions | undefined = tokenEnv
      ? { tokenEnv, ...(values['agents-interval'] ? { interval: values['agents-interval'] } : {}), ...(agentsPerPractice ? { agentsPerPractice } : {}) }
      : undefined;
    const out = values.out ? resolve(values.out) : join(await mkdtemp(join(tmpdir(), 'pulse-sim-')), 'estate.yaml');
    await writeFile(out, sim.estateYaml({ interval: values.interval, timeout: values.timeout, fleet }), 'utf8');
    let agents: AgentsOptions | undefined;
    if (agentsTo !== undefined) {
      agents = {
        pulseUrl: agentsTo,
        token: token!,
        ...(agentsIntervalMs !== undefined ? { intervalMs: agentsIntervalMs } : {}),
        ...(agentsPerPractice ? { agentsPerPractice } : {}),
        ...(software !== undefined ? { software } : {}),
        ...(concurrency !== undefined ? { concurrency } : {}),
      };
      sim.startAgents(agents);
    }
    const report = sim.agents();
    process.stdout.write(
      [
        `simulator: ${sim.services.length} services, ${sim.practices.length} practices on 127.0.0.1`,
        `control API: ${sim.controlUrl}   (GET /faults, POST /faults, POST /scenarios/<name>, GET /scenarios, GET /agents)`,
        `estate file: ${out}`,
        ...(agents ? [`workstation agents: ${report.totals.agents} in ${report.practices.length} practices, beating to ${agents.pulseUrl}`] : []),
        JSON.stringify({
          simulator: 'ready',
          pid: process.pid,
          controlUrl: sim.controlUrl,
          estateFile: out,
          practices: sim.practices.length,
          services: sim.services.length,
          agents: agents ? { pulseUrl: report.pulseUrl, intervalMs: report.intervalMs, practices: report.practices.length, workstations: report.totals.agents } : null,
        }),
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
