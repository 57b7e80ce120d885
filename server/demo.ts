// The demo: with no estate file, Pulse watches a simulated estate served on loopback by the
// simulator, including workstation agents that beat to Pulse once it listens. Loaded only
// by cli.ts when no configuration is given; production never is.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ensureDataDir } from './store/sqlite/db';
import { join } from 'node:path';
import { hashPassword } from './auth/password';
import type { AccountStore, Role } from './auth/types';
import { loadEstateFile, type Estate } from './config/estate';
import type { Logger } from './log';
import { startSimulator } from './simulator';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The environment variable the demo estate names as every simulated fleet's token. */
export const DEMO_FLEET_TOKEN_ENV = 'PULSE_DEMO_FLEET_TOKEN';
export const DEMO_WEBHOOK_SECRET_ENV = 'PULSE_DEMO_WEBHOOK_SECRET';
const FLEET_INTERVAL = '15s';
const FLEET_INTERVAL_MS = 15_000;

export async function prepareDemo(opts: { host: string; port: number; dataDir: string; log: Logger }): Promise<{
  estate: Estate;
  host: string;
  /** Called with Pulse's URL once it listens: starts the simulated workstation agents. */
  afterStart: (url: string, accounts: AccountStore) => Promise<void>;
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
  // The simulated phone systems' webhook secret, the same way (Pulse signs with it).
  process.env[DEMO_WEBHOOK_SECRET_ENV] = sim.continuity.secret;

  ensureDataDir(opts.dataDir);
  const file = join(opts.dataDir, 'demo-estate.yaml');
  writeFileSync(
    file,
    sim.estateYaml({ interval: '5s', timeout: '2s', fleet: { tokenEnv: DEMO_FLEET_TOKEN_ENV, interval: FLEET_INTERVAL }, backup: { secretEnv: DEMO_WEBHOOK_SECRET_ENV } }),
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
    afterStart: async (url, accounts) => {
      sim.startAgents({ pulseUrl: url, token: fleetToken, intervalMs: FLEET_INTERVAL_MS });
      opts.log('info', 'demo: simulated workstation agents started', { pulseUrl: url, practices: fleets.length, workstations });
      await demoAccounts(url, accounts, estate);
    },
    stop: () => sim.close(),
  };
}

/**
 * The demo's accounts — the only place Pulse ever has credentials it did not get from a
 * person. New random passwords on every start (printed here, stored hashed) and a wall
 * display link. Loopback only: prepareDemo refuses any other HOST.
 */
async function demoAccounts(url: string, accounts: AccountStore, estate: Estate): Promise<void> {
  const practice = [...estate.practices.values()].find((p) => p.system === 'emis-web')!;
  const icb = practice.icb;
  const people: { username: string; displayName: string; role: Role; icb: string | null; practices: string[]; what: string }[] = [
    { username: 'ops', displayName: 'Demo ICB operations', role: 'ops', icb: null, practices: [], what: 'every practice, maintenance, tokens' },
    { username: 'manager', displayName: `Demo manager, ${practice.name}`, role: 'manager', icb: null, practices: [practice.ods], what: `${practice.name} (${practice.ods}) only` },
    { username: 'viewer', displayName: `Demo viewer, ICB ${icb}`, role: 'viewer', icb, practices: [], what: `read-only, ICB ${icb}` },
  ];
  const lines = ['', '  Demo accounts (new passwords every start; demo only):'];
  for (const p of people) {
    const password = randomBytes(12).toString('base64url');
    const passwordHash = await hashPassword(password);
    const existing = await accounts.userForSignIn(p.username);
    if (existing) {
      await accounts.updateUser(existing.user.id, { passwordHash, role: p.role, icb: p.icb, practices: p.practices, disabled: false });
    } else {
      await accounts.createUser({ ...p, passwordHash, now: Date.now() });
    }
    lines.push(`    ${p.username.padEnd(8)} ${password}   ${p.what}`);
  }
  for (const old of await accounts.listTokens()) {
    if (old.name === 'Demo wall display' && old.revokedAt === null) await accounts.revokeToken(old.id, Date.now());
  }
  const wall = await accounts.createToken({ kind: 'display', name: 'Demo wall display', icb: null, createdBy: 'demo', now: Date.now() });
  lines.push(
    '',
    `  Wall display link (read-only, no sign-in): ${url}/wall?display=${wall.secret}`,
    `  The manager's practice page:               ${url}/practice/${practice.ods}`,
    `  What its patients see:                     ${url}/status/${practice.ods}`,
    '',
  );
  process.stdout.write(lines.join('\n') + '\n');
}
