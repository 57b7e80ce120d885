// The demo: with no estate file, Pulse watches a simulated estate served on loopback by the
// simulator. Loaded only by cli.ts when no configuration is given; production never is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEstateFile, type Estate } from './config/estate';
import type { Logger } from './log';
import { startSimulator } from './simulator';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function prepareDemo(opts: { host: string; port: number; dataDir: string; log: Logger }): Promise<{
  estate: Estate;
  host: string;
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
  mkdirSync(opts.dataDir, { recursive: true });
  const file = join(opts.dataDir, 'demo-estate.yaml');
  writeFileSync(file, sim.estateYaml({ interval: '5s', timeout: '2s' }));
  const estate = loadEstateFile(file);
  opts.log('info', 'demo: simulated estate running on loopback', {
    practices: sim.practices.length,
    services: sim.services.length,
    estateFile: file,
    simulatorControl: sim.controlUrl,
  });
  process.stdout.write(
    [
      '',
      `  Demo mode: ${sim.practices.length} simulated practices (no configuration given).`,
      `  Simulator control: ${sim.controlUrl}`,
      `    Play an EMIS Web outage:  curl -X POST ${sim.controlUrl}/scenarios/emis-web-outage`,
      `    List scenarios:           curl ${sim.controlUrl}/scenarios`,
      `    Heal everything:          curl -X DELETE ${sim.controlUrl}/faults`,
      '',
    ].join('\n'),
  );
  return { estate, host: opts.host, stop: () => sim.close() };
}
