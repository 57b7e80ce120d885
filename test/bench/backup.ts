// Benchmark for backup mode at scale (`npm run bench:backup`):
// a 6,300-practice estate, every EMIS practice (about 3,650) switched into backup mode in one
// bulk act through the real app and a file-backed SQLite store, each run with two webhooks
// (to a real loopback receiver that answers 200) and an SMS to two contacts (log sender).
// Prints how long the POST takes, then pump() rounds until every run has settled, the
// settling itself, and GET /api/backup with every practice in backup. Not a test file
// (never named *.test.ts): figures only, no assertions on time.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPulse, type Pulse } from '../../server/app';
import { hashPassword } from '../../server/auth/password';
import { parseEstate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { generatePractices, serviceCatalogue } from '../../server/simulator/estate';
import { renderEstateYaml } from '../../server/simulator/estate-yaml';
import { SqliteStore } from '../../server/store/sqlite';

const PRACTICES = 6_300;
const out = (line: string) => process.stdout.write(`${line}\n`);

const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
process.env.PULSE_BENCH_SECRET = 'whsec-bench-secret';

const specs = generatePractices(PRACTICES, 1);
const yaml =
  renderEstateYaml(
    serviceCatalogue,
    serviceCatalogue.map((s) => ({ id: s.id, name: s.name, kind: s.kind, url: `http://127.0.0.1:9/${s.id}/health`, tcp: s.check === 'tcp' ? '127.0.0.1:9' : null })),
    specs.map((p) => ({ ...p, gatewayUrl: `http://127.0.0.1:9/gateway/${p.ods}` })),
    { interval: '30s', timeout: '5s' },
  ) +
  `
backup:
  notify: { sender: log }
  plans:
    - id: standard
      default: true
      actions:
        - { kind: webhook, name: Phone message, on: both, url: "${url}/phone", secret: { env: PULSE_BENCH_SECRET } }
        - { kind: webhook, name: Website banner, on: enter, url: "${url}/website", secret: { env: PULSE_BENCH_SECRET } }
        - { kind: notify, name: Text the manager, channel: sms, to: ["07700 900123", "07700 900456"], template: f33517ff-2a88-4f6e-b855-c550268ce08a }
      checklist:
        - { id: paper, text: Paper templates out }
`;
const estate = parseEstate(yaml, 'bench-backup.yaml');
const emis = [...estate.practices.values()].filter((p) => p.system === 'emis-web').map((p) => p.ods).sort();

const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-backup-'));
const store = new SqliteStore(dir);
let now = Date.now();
const pulse: Pulse = createPulse({ estate, store, clock: { now: () => now }, log: silentLogger, workerToken: 'w' });
await pulse.restore();
pulse.incidents.remember({
  id: 1,
  key: 'service:emis-web',
  kind: 'service',
  title: 'EMIS Web down',
  status: 'resolved',
  severity: 'down',
  openedAt: now - 3_600_000,
  resolvedAt: now,
  affected: emis,
  peakAffected: emis.length,
  subjects: [...emis.map((o) => `practice:${o}` as const), 'service:emis-web'],
  timeline: [],
  references: [],
  finding: null,
} as Parameters<Pulse['incidents']['remember']>[0]);

await store.accounts.createUser({ username: 'ops', displayName: 'Ops', role: 'ops', icb: null, practices: [], passwordHash: await hashPassword('a long enough password', { N: 2 ** 10 }), now });
const login = await pulse.app.request('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ops', password: 'a long enough password' }) });
const cookie = /pulse_session=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
const { csrf } = (await login.json()) as { csrf: string };
const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const result = await fn();
  out(`${label.padEnd(58)} ${(performance.now() - t).toFixed(0).padStart(7)} ms`);
  return result;
}

out(`estate: ${PRACTICES} practices, ${emis.length} on EMIS Web; per run 2 webhooks + 2 SMS (4 outbox rows)`);
const preview = await timed('GET /api/backup/bulk (preview)', async () => (await pulse.app.request('/api/backup/bulk?action=enter&incidentId=1', { headers })).json() as Promise<{ count: number }>);
const res = await timed('POST /api/backup/bulk (enter, one transaction)', async () =>
  pulse.app.request('/api/backup/bulk', {
    method: 'POST',
    headers,
    body: JSON.stringify({ action: 'enter', incidentId: 1, reasonCode: 'clinical-system-down', reason: 'EMIS Web national outage', expectedCount: preview.count }),
  }),
);
const result = (await res.json()) as { switched: string[] };
out(`  → ${res.status}, ${result.switched.length} switched, ${(store.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n} outbox rows`);
// The bulk POST started a pump round of its own (void pump()): let it finish before timing rounds.
await pulse.backup.pump();

await timed('GET /api/backup (every EMIS practice entering)', async () => (await pulse.app.request('/api/backup', { headers })).text());

let rounds = 0;
const tPump = performance.now();
let slowest = 0;
while (pulse.backup.active().some((p) => p.state === 'entering')) {
  const t = performance.now();
  await pulse.backup.pump();
  slowest = Math.max(slowest, performance.now() - t);
  rounds++;
  now += 1_000;
  if (rounds > 500) break;
}
out(`pump() until all settled: ${rounds} rounds, ${(performance.now() - tPump).toFixed(0)} ms in all, slowest round ${slowest.toFixed(0)} ms`);
out(`  → modes: ${JSON.stringify(Object.fromEntries(['entering', 'backup'].map((m) => [m, pulse.backup.active().filter((p) => p.state === m).length])))}`);
await timed('pump() with nothing due (all in backup)', () => pulse.backup.pump());
await timed('GET /api/backup (every EMIS practice in backup)', async () => (await pulse.app.request('/api/backup', { headers })).text());
await timed('GET /api/practices/{ods}/backup (one practice)', async () => (await pulse.app.request(`/api/practices/${emis[0]}/backup`, { headers })).text());

await pulse.backup.close();
await store.close();
receiver.close();
rmSync(dir, { recursive: true, force: true });

// Automatic entry of every EMIS practice at once (a plan with autoEnterAfter, EMIS down long
// enough): one pump round decides them all.
{
  const { BackupService } = await import('../../server/backup/service');
  const autoEstate = parseEstate(yaml.replace('      default: true\n', '      default: true\n      autoEnterAfter: 10m\n'), 'bench-backup-auto.yaml');
  const autoDir = mkdtempSync(join(tmpdir(), 'pulse-bench-backup-auto-'));
  const autoStore = new SqliteStore(autoDir);
  const t0 = Date.now();
  const emisSet = new Set(emis);
  let n = 0;
  const svc = new BackupService({
    estate: autoEstate,
    store: autoStore.backup,
    now: () => t0,
    newId: () => `auto-${++n}`,
    statusOf: (ods) => (emisSet.has(ods) ? { status: 'down', cause: 'upstream: emis-web', since: t0 - 11 * 60_000 } : { status: 'up', cause: null, since: t0 - 3_600_000 }),
    send: async () => ({ ok: true }),
    onModeChange: () => undefined,
    log: silentLogger,
  });
  await svc.load();
  await timed(`pump() auto-entering ${emis.length} practices`, () => svc.pump());
  out(`  → ${svc.active().length} not in normal, ${(autoStore.db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n} audit entries`);
  await svc.close();
  await autoStore.close();
  rmSync(autoDir, { recursive: true, force: true });
}
