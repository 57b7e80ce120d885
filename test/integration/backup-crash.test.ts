// A Pulse server killed with SIGKILL in the middle of backup mode — after the switch was
// recorded, while one receiver had applied an action but not yet answered, and while another
// receiver was failing — and then restarted, still delivers every action, and each
// receiver applies each idempotency key exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/auth/password';
import { ContinuityReceiver } from '../../server/simulator/continuity';
import { SqliteStore } from '../../server/store/sqlite';
import { waitFor } from '../helpers/wait';

const ODS = 'A81001';
let receiver: ContinuityReceiver;
let receiverServer: Server;
let dir: string;
let child: ChildProcess | null = null;
/** Resolves when the receiver has applied the phone-message action (and is holding its answer). */
let phoneApplied: () => void;
const phoneAppliedOnce = new Promise<void>((resolve) => (phoneApplied = resolve));
let holdPhone = true;

function estate(receiverUrl: string): string {
  return `
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
backup:
  plans:
    - id: standard
      default: true
      actions:
        - { kind: webhook, name: Phone message, url: "${receiverUrl}/continuity/phone-message", secret: { env: PULSE_CRASH_TEST_SECRET }, timeout: 60s }
        - { kind: webhook, name: Website, url: "${receiverUrl}/continuity/website", secret: { env: PULSE_CRASH_TEST_SECRET } }
practices:
  - { ods: ${ODS}, name: Riverside Surgery, pcn: North, icb: QWO, system: emis-web }
`;
}

/** Starts `server/cli.ts` on an ephemeral port; resolves with its URL once it listens. */
function startServer(): Promise<string> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', '--config', join(dir, 'estate.yaml'), '--port', '0'], {
    env: {
      ...process.env,
      PULSE_DATA_DIR: join(dir, 'data'),
      PULSE_WORKERS: '0',
      PULSE_CRASH_TEST_SECRET: receiver.secret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Pulse did not start within 20 s')), 20_000);
    proc.once('exit', (code) => reject(new Error(`Pulse exited early with ${code}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (!line.includes('Pulse is listening')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
}

function kill9(): Promise<void> {
  const proc = child!;
  child = null;
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

async function signIn(url: string) {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ username: 'ops', password: 'long enough password' }),
  });
  expect(res.status).toBe(200);
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  return (path: string, json?: unknown) =>
    fetch(`${url}${path}`, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { cookie, 'x-csrf-token': csrf, origin: url, 'content-type': 'application/json' },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
}

beforeAll(async () => {
  receiver = new ContinuityReceiver();
  receiver.failNext('website', 1_000);
  const app = new Hono();
  app.post('/continuity/:action', async (c) => {
    const response = await receiver.handle(c);
    if (c.req.param('action') === 'phone-message' && holdPhone && response.status === 200) {
      // Applied, but the answer never reaches Pulse: it is killed first.
      phoneApplied();
      return new Promise<Response>(() => {});
    }
    return response;
  });
  receiverServer = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
  });
  dir = mkdtempSync(join(tmpdir(), 'pulse-crash-'));
  writeFileSync(join(dir, 'estate.yaml'), estate(`http://127.0.0.1:${(receiverServer.address() as AddressInfo).port}`));
  const store = new SqliteStore(join(dir, 'data'));
  await store.accounts.createUser({
    username: 'ops', displayName: 'Ops', role: 'ops', icb: null, practices: [],
    passwordHash: await hashPassword('long enough password', { N: 2 ** 10 }), now: Date.now(),
  });
  await store.close();
}, 30_000);

afterAll(async () => {
  if (child) await kill9();
  receiverServer?.closeAllConnections();
  await new Promise((r) => receiverServer?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 in the middle of backup mode', () => {
  it('loses no action and applies none twice', async () => {
    const first = await signIn(await startServer());
    const res = await first(`/api/practices/${ODS}/backup/enter`, { reasonCode: 'clinical-system-down', reason: 'EMIS Web down' });
    expect(res.status).toBe(200);
    await phoneAppliedOnce;
    await kill9();

    // On disk: the decision, and both actions still owed.
    const store = new SqliteStore(join(dir, 'data'));
    const [transition] = await store.backup.transitionsOf(ODS, 1);
    expect(transition).toMatchObject({ from: 'normal', to: 'entering', by: 'ops' });
    const owed = await store.backup.outbox.actionsOf(ODS);
    expect(owed).toHaveLength(2);
    expect(owed.every((a) => a.state === 'pending' || a.state === 'retrying')).toBe(true);
    await store.close();

    holdPhone = false;
    receiver.failNext('website', 0);
    const second = await signIn(await startServer());
    await waitFor('backup mode reached after the restart', async () => {
      const detail = (await (await second(`/api/practices/${ODS}/backup`)).json()) as { mode: string };
      return detail.mode === 'backup';
    }, 30_000);

    const { applied, rejected } = receiver.deliveries();
    expect(rejected).toBe(0);
    expect(applied.map((d) => d.action).sort()).toEqual(['phone-message', 'website']);
    // The phone system heard the same key twice (before and after the crash) and applied it once.
    expect(applied.find((d) => d.action === 'phone-message')!.received).toBe(2);
    expect(applied.find((d) => d.action === 'website')!.received).toBe(1);
    const detail = (await (await second(`/api/practices/${ODS}/backup`)).json()) as { actions: { state: string }[] };
    expect(detail.actions.map((a) => a.state)).toEqual(['done', 'done']);
    await kill9();
    const after = new SqliteStore(join(dir, 'data'));
    expect(await after.accounts.verifyAudit()).toMatchObject({ ok: true });
    await after.close();
  }, 90_000);
});
