// A full disk (and a read-only one) under a real server: SQLite's max_page_count makes the
// database really full (SQLITE_FULL) and query_only makes it really refuse writes
// (SQLITE_READONLY), both without root and on the server's own connection. Writes and sign-in
// answer 503 STORE_UNAVAILABLE, /readyz says why, the metric shows it, the engine carries on
// in memory (API and live feed), and history catches up once space returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hashPassword } from '../../server/auth/password';
import type { LiveServerMessage, PracticeView } from '../../server/live/protocol';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let sim: Simulator;
let pulse: RunningPulse;
let stack: Stack;
let session: SignedIn;
const PASSWORD = 'correct horse battery staple full';

async function practices(): Promise<PracticeView[]> {
  const res = await session.fetch('/api/practices');
  expect(res.status).toBe(200);
  return ((await res.json()) as { practices: PracticeView[] }).practices;
}

async function login(username: string): Promise<Response> {
  return fetch(`${pulse.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: pulse.url },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
}

async function readyz(): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const res = await fetch(`${pulse.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reasons: string[] } };
}

/** Fills the database file to its limit: no new page can be allocated (SQLITE_FULL). */
function fillDatabase(): void {
  const db = pulse.store.db;
  db.exec('CREATE TABLE IF NOT EXISTS test_filler (pad BLOB)');
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const filler = db.prepare('INSERT INTO test_filler VALUES (randomblob(?))');
  // The free room left in status_events' own pages too, with rows no practice or service reads.
  const events = db.prepare("INSERT INTO status_events (subject, from_status, to_status, cause, at) VALUES ('test:filler', 'up', 'up', hex(randomblob(?)), 0)");
  for (const insert of [filler, events]) {
    for (const size of [3_000, 500, 50, 1]) {
      for (;;) {
        try {
          insert.run(size);
        } catch (err) {
          expect((err as { code?: string }).code).toBe('SQLITE_FULL');
          break;
        }
      }
    }
  }
}

function liftLimit(): void {
  pulse.store.db.pragma('max_page_count = 1073741823');
}

beforeAll(async () => {
  stack = await startStack({ seed: 31 });
  ({ sim, pulse } = stack);
  session = await signIn(pulse.url, pulse.store.accounts);
  await waitFor('every practice up', async () => (await practices()).every((p) => p.status === 'up'));
  await waitFor('ready', async () => (await readyz()).status === 200);
}, 40_000);

afterAll(async () => {
  await stack?.stop();
});

describe('the store cannot take writes', () => {
  it('on a full disk: 503 STORE_UNAVAILABLE, not ready, counted; status carries on in memory; history catches up', async () => {
    const users = Array.from({ length: 80 }, (_, i) => `full-${i}`);
    const hash = await hashPassword(PASSWORD, { N: 2 ** 10 });
    for (const username of users) {
      await pulse.store.accounts.createUser({ username, displayName: username, role: 'viewer', icb: null, practices: [], passwordHash: hash, now: Date.now() });
    }
    const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/ws`, { headers: { cookie: session.cookie, origin: pulse.url } });
    const messages: LiveServerMessage[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveServerMessage));
    await waitFor('a snapshot', () => messages.some((m) => m.type === 'snapshot'));

    let before = 0;
    fillDatabase();
    try {
    const emis = sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods);
    before = await pulse.store.countTransitions();
    sim.play('emis-web-outage', { durationMs: 60_000 });

    // The engine keeps serving status from memory: the API and the live feed.
    await waitFor('EMIS practices down', async () => (await practices()).filter((p) => p.status === 'down').length === emis.length);
    await waitFor('the live feed to say so', () =>
      messages.some((m) => m.type === 'delta' && m.practices.some((p) => p.ods === emis[0] && p.status === 'down')),
    );

    // Not ready, with the reason; the metric says the store is unavailable.
    const notReady = await waitFor('not ready', async () => {
      const r = await readyz();
      return r.status === 503 ? r : null;
    });
    expect(notReady.body.ready).toBe(false);
    expect(notReady.body.reasons[0]).toMatch(/^database: disk full/);
    const metrics = await (await session.fetch('/metrics')).text();
    expect(metrics).toMatch(/^pulse_store_available 0$/m);
    expect(metrics).toMatch(/^pulse_store_failures_total\{reason="disk-full"\} [1-9]/m);
    expect(metrics).toMatch(/^pulse_history_transitions_pending [1-9]/m);
    expect(await pulse.store.countTransitions()).toBe(before);

    // Sign-in needs a session row: at some point there is no room, and the answer is a clear 503.
    let refused: Response | null = null;
    for (const username of users) {
      const res = await login(username);
      if (res.status !== 200) {
        refused = res;
        break;
      }
    }
    expect(refused?.status).toBe(503);
    expect(await refused!.json()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'database: disk full' } });
    } finally {
      // Space returns: the transitions made while full are written, Pulse is ready again.
      liftLimit();
    }
    const emis = sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods);
    await waitFor('ready again', async () => (await readyz()).status === 200);
    const history = await pulse.store.transitionsOf(`practice:${emis[0]}`, 10);
    expect(history.some((t) => t.to === 'down')).toBe(true);
    expect(await pulse.store.countTransitions()).toBeGreaterThanOrEqual(before + emis.length);
    const after = await (await session.fetch('/metrics')).text();
    expect(after).toMatch(/^pulse_store_available 1$/m);
    expect(after).toMatch(/^pulse_history_transitions_pending 0$/m);
    ws.close();
  }, 60_000);

  it('on a read-only database: writes 503 "database: read-only", reads still served', async () => {
    pulse.store.db.pragma('query_only = ON');
    try {
      const res = await login('full-79');
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'database: read-only' } });
      // Signed-in reads still answer (last-seen is best effort).
      expect((await practices()).length).toBeGreaterThan(0);
      const r = await waitFor('not ready', async () => {
        const x = await readyz();
        return x.status === 503 ? x : null;
      });
      expect(r.body.reasons[0]).toMatch(/^database: read-only/);
    } finally {
      pulse.store.db.pragma('query_only = OFF');
    }
    await waitFor('ready again', async () => (await readyz()).status === 200);
  }, 30_000);

  it('stops cleanly on a full disk: the state it cannot save is logged, the store still closed', async () => {
    fillDatabase();
    await pulse.stop();
    expect(pulse.store.db.open).toBe(false);
  }, 30_000);
});
