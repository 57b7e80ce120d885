// Backup-mode actions against a real loopback webhook receiver (the simulator's continuity
// receiver: it verifies every Pulse-Signature and applies each Idempotency-Key once), with
// the clock injected so retries and backoff are driven, never waited for.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../server/app';
import { hashPassword } from '../../server/auth/password';
import { parseEstate } from '../../server/config/estate';
import { silentLogger } from '../../server/log';
import { ContinuityReceiver } from '../../server/simulator/continuity';
import { SqliteStore } from '../../server/store/sqlite';

const PRACTICES = 200;
const ods = (i: number) => `P${String(10000 + i).padStart(5, '0')}`;

function estateYaml(receiverUrl: string): string {
  const practices = Array.from({ length: PRACTICES }, (_, i) =>
    `  - { ods: ${ods(i)}, name: "Practice ${i}", pcn: "PCN ${i % 10}", icb: QWO, system: emis-web${i === 0 ? ', backupPlan: broken' : ''} }`,
  ).join('\n');
  return `
services:
  - id: emis-web
    name: EMIS Web
    kind: clinical-system
    checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }]
backup:
  notify: { sender: log }
  maxAttempts: 4
  plans:
    - id: standard
      default: true
      actions:
        - { kind: webhook, name: Phone message, on: both, url: "${receiverUrl}/continuity/phone-message", secret: { env: PULSE_DELIVERY_TEST_SECRET } }
        - { kind: webhook, name: Website banner, on: enter, url: "${receiverUrl}/continuity/website", secret: { env: PULSE_DELIVERY_TEST_SECRET } }
        - { kind: notify, name: Text the manager, channel: sms, to: ["07700 900123", "07700 900456"], template: f33517ff-2a88-4f6e-b855-c550268ce08a }
      checklist:
        - { id: paper, text: Paper templates out }
    - id: broken
      actions:
        - { kind: webhook, name: Wrong secret, url: "${receiverUrl}/continuity/phone-message", secret: { env: PULSE_DELIVERY_TEST_WRONG_SECRET } }
practices:
${practices}
`;
}

let receiver: ContinuityReceiver;
let server: Server;
let dir: string;
let store: SqliteStore;
let pulse: ReturnType<typeof createPulse>;
let now = Date.now();
let headers: Record<string, string>;
const notifications: Record<string, unknown>[] = [];

async function request(path: string, init: { method?: string; json?: unknown } = {}) {
  const res = await pulse.app.request(path, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...headers },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Pumps the outbox, moving the clock past each backoff, until nothing is pending or retrying. */
async function drain(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await pulse.backup.pump();
    const due = await store.backup.outbox.due(Number.MAX_SAFE_INTEGER, 1);
    if (due.length === 0) return;
    now += 1_000;
  }
  throw new Error('the outbox did not drain');
}

beforeAll(async () => {
  receiver = new ContinuityReceiver();
  process.env.PULSE_DELIVERY_TEST_SECRET = receiver.secret;
  process.env.PULSE_DELIVERY_TEST_WRONG_SECRET = 'not-the-receivers-secret';
  const app = new Hono();
  app.post('/continuity/:action', (c) => receiver.handle(c));
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'pulse-delivery-'));
  store = new SqliteStore(join(dir, 'data'));
  pulse = createPulse({
    estate: parseEstate(estateYaml(url), 'delivery.yaml'),
    store,
    clock: { now: () => now },
    log: (_level, message, fields) => {
      if (message.includes('notification')) notifications.push(fields ?? {});
    },
    workerToken: 'w',
    backupBackoff: () => 1_000,
  });
  await pulse.restore();
  await store.accounts.createUser({
    username: 'ops', displayName: 'Ops', role: 'ops', icb: null, practices: [],
    passwordHash: await hashPassword('long enough password', { N: 2 ** 10 }), now,
  });
  const login = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ops', password: 'long enough password' }),
  });
  const { csrf } = (await login.json()) as { csrf: string };
  headers = { cookie: /pulse_session=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0], 'x-csrf-token': csrf, origin: 'http://localhost' };
}, 30_000);

afterAll(async () => {
  pulse?.close('test over');
  await pulse?.backup.close();
  await store?.close();
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
  void silentLogger;
});

describe('webhook delivery', () => {
  it('a receiver that fails twice then succeeds gets the action once, after three attempts', async () => {
    const practice = ods(1);
    receiver.failNext('phone-message', 2);
    const res = await request(`/api/practices/${practice}/backup/enter`, { json: { reasonCode: 'planned', reason: 'drill' } });
    expect(res.status).toBe(200);
    expect(res.body.mode).toBe('entering');
    await drain();
    const detail = await request(`/api/practices/${practice}/backup`);
    const actions = detail.body.actions as { name: string; state: string; attempts: number; lastError: string | null }[];
    expect(actions.find((a) => a.name === 'Phone message')).toMatchObject({ state: 'done', attempts: 3, lastError: null });
    expect(actions.find((a) => a.name === 'Website banner')).toMatchObject({ state: 'done', attempts: 1 });
    expect(actions.filter((a) => a.name === 'Text the manager')).toHaveLength(2);
    expect(detail.body.mode).toBe('backup');
    const applied = receiver.deliveries().applied.filter((d) => (d.body as { ods: string }).ods === practice);
    expect(applied.map((d) => [d.action, d.received]).sort()).toEqual([['phone-message', 1], ['website', 1]]);
    expect(receiver.deliveries().rejected).toBe(0);
    // The log sender masked the numbers it "sent" to.
    expect(JSON.stringify(notifications)).not.toContain('900123');
  });

  it('a receiver that refuses the signature fails the action at once with the reason, and the run still settles', async () => {
    const practice = ods(0);
    expect((await request(`/api/practices/${practice}/backup/enter`, { json: { reasonCode: 'planned', reason: 'drill' } })).status).toBe(200);
    await drain();
    const detail = await request(`/api/practices/${practice}/backup`);
    const [action] = detail.body.actions as { state: string; attempts: number; lastError: string }[];
    expect(action).toMatchObject({ state: 'failed', attempts: 1 });
    expect(action!.lastError).toMatch(/401/);
    expect(action!.lastError).not.toContain('not-the-receivers-secret');
    expect(detail.body.mode).toBe('backup');
  });

  it(`a bulk switch of ${PRACTICES} practices runs every action, once, under one audit entry`, async () => {
    // EMIS Web fails twice in a row: every practice is down behind it, one incident.
    for (let i = 0; i < 2; i++) {
      now += 1_000;
      pulse.ingest([{ ok: false, checkId: 'emis-api', at: now, location: 'l', latencyMs: 1, error: 'refused', detail: 'connection refused' }]);
      await pulse.tick();
    }
    const incident = pulse.incidents.open().find((i) => i.key === 'service:emis-web')!;
    expect(incident.affected).toHaveLength(PRACTICES);
    const preview = await request(`/api/backup/bulk?action=enter&incidentId=${incident.id}`);
    // Practices 0 and 1 are already in backup mode.
    expect(preview.body.count).toBe(PRACTICES - 2);
    const res = await request('/api/backup/bulk', {
      json: { action: 'enter', incidentId: incident.id, reasonCode: 'clinical-system-down', reason: 'EMIS Web down', expectedCount: PRACTICES - 2 },
    });
    expect(res.status).toBe(200);
    expect(res.body.switched).toHaveLength(PRACTICES - 2);
    const before = receiver.deliveries().applied.length;
    await drain(50);
    const applied = receiver.deliveries().applied.slice(before);
    expect(applied).toHaveLength((PRACTICES - 2) * 2);
    expect(applied.every((d) => d.received === 1)).toBe(true);
    expect(new Set(applied.map((d) => d.key)).size).toBe(applied.length);
    const outbox = (await Promise.all((res.body.switched as string[]).map((o) => store.backup.outbox.actionsOf(o)))).flat();
    expect(outbox).toHaveLength((PRACTICES - 2) * 4);
    expect(outbox.every((a) => a.state === 'done')).toBe(true);
    expect([...pulse.views.practices.values()].every((p) => p.mode === 'backup')).toBe(true);
    const audit = await store.accounts.auditEntries(10, 0);
    const bulk = audit.filter((e) => e.action === 'backup.enter.bulk');
    expect(bulk).toHaveLength(1);
    expect((bulk[0]!.detail.practices as string[]).length).toBe(PRACTICES - 2);
    expect(await store.accounts.verifyAudit()).toMatchObject({ ok: true });
    // The incident's timeline says what was done about it.
    const timeline = pulse.incidents.get(incident.id)!.timeline;
    expect(timeline.at(-1)).toMatchObject({ type: 'note', by: 'ops', text: `${PRACTICES - 2} practices switched into backup mode (clinical-system-down): EMIS Web down` });
    // Prometheus sees the practices in backup mode and every attempt.
    const metrics = await (await pulse.app.request('/metrics')).text();
    expect(metrics).toContain(`pulse_practices_in_backup_mode ${PRACTICES}`);
    const webhooksOk = Number(/pulse_backup_actions_total\{kind="webhook",result="ok"\} (\d+)/.exec(metrics)![1]);
    expect(webhooksOk).toBe(receiver.deliveries().applied.length);
    expect(metrics).toMatch(/pulse_backup_actions_total\{kind="webhook",result="failed"\} 3\b/);
  }, 60_000);
});
