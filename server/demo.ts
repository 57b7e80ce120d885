// The demo: with no estate file, Pulse watches a simulated estate served on loopback by the
// simulator, including workstation agents that beat to Pulse once it listens. Loaded only
// by cli.ts when no configuration is given; production never is.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEstateFile, type Estate } from './config/estate';
import type { Logger } from './log';
import { startSimulator } from './simulator';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The environment variable the demo estate names as every simulated fleet's token. */
export const DEMO_FLEET_TOKEN_ENV = 'PULSE_DEMO_FLEET_TOKEN';
const FLEET_INTERVAL = '15s';
const FLEET_INTERVAL_MS = 15_000;

export async function prepareDemo(opts: { host: string; port: number; dataDir: string; log: Logger }): Promise<{
  estate: Estate;
  host: string;
  /** Called with Pulse's URL once it listens: starts the simulated workstation agents. */
  afterStart: (url: string) => void;
  stop: () => Promise<void>;
}> {
  if (!LOOPBACK.has(opts.host)) {
    throw new Error(`the simulated demo listens on loopback only; HOST=${opts.host} needs a real estate (--config FILE)`);
  }
  // A fixed, documented control port (PORT + 1) when free; any free port otherwise.
  const wanted = Number(process.env.PULSE_SIM_PORT ?? (opts.port === 0 ? 0 : opts.port + 1));
  const sim = await startSimulator({ controlPort: wanted }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    opts.log('warn', 'demo: simulator control port in use; using any free port', { port: wanted });
    return startSimulator({ controlPort: 0 });
  });
  // A fresh agent token each run, handed to Pulse through the environment (the estate file
  // only names the variable) and to the simulated agents directly. Never logged.
  const fleetToken = randomBytes(32).toString('base64url');
  process.env[DEMO_FLEET_TOKEN_ENV] = fleetToken;

  mkdirSync(opts.dataDir, { recursive: true });
  const file = join(opts.dataDir, 'demo-estate.yaml');
  writeFileSync(
    file,
    sim.estateYaml({ interval: '5s', timeout: '2s', fleet: { tokenEnv: DEMO_FLEET_TOKEN_ENV, interval: FLEET_INTERVAL } }),
  );
  const estate = loadEstateFile(file);
  const fleets = [...estate.practices.values()].filter((p) => p.fleet);
  const workstations = fleets.reduce((sum, p) => sum + (p.fleet?.expectedAgents ?? 0), 0);
  opts.log('info', 'demo: simulated estate running on loopback', {
    practices: sim.practices.length,
    services: sim.services.length,
    fleetPractices: fleets.length,
    workstations,
    estateFile: file,
    simulatorControl: sim.controlUrl,
  });
  const c = sim.controlUrl;
  process.stdout.write(
    [
      '',
      `  Demo mode: ${sim.practices.length} simulated practices (no configuration given).`,
      `  ${workstations} simulated workstations in ${fleets.length} practices send heartbeats every ${FLEET_INTERVAL}.`,
      `  Simulator control: ${c}`,
      `    Play an EMIS Web outage:           curl -X POST ${c}/scenarios/emis-web-outage`,
      `    Play EMIS Web's partial outage:    curl -X POST ${c}/scenarios/emis-web-partial`,
      `    Play a bad endpoint update:        curl -X POST ${c}/scenarios/bad-endpoint-update`,
      `    List scenarios:                    curl ${c}/scenarios`,
      `    Workstation agents:                curl ${c}/agents`,
      `    Heal everything:                   curl -X DELETE ${c}/faults`,
      '',
    ].join('\n'),
  );
  return {
    estate,
    host: opts.host,
    afterStart: (url) => {
      sim.startAgents({ pulseUrl: url, token: fleetToken, intervalMs: FLEET_INTERVAL_MS });
      opts.log('info', 'demo: simulated workstation agents started', { pulseUrl: url, practices: fleets.length, workstations });
    },
    stop: () => sim.close(),
  };
}
