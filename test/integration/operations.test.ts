// Running Pulse: readiness with its reasons, and reloading the estate file without a restart
// (a bad file is refused and the running estate carries on).
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let sim: Simulator;
let pulse: RunningPulse;
let stack: Stack;
let session: SignedIn;
let file: string;

beforeAll(async () => {
  stack = await startStack({ seed: 21 });
  ({ sim, pulse, file } = stack);
  session = await signIn(pulse.url, pulse.store.accounts);
}, 40_000);

afterAll(async () => {
  await stack?.stop();
});

describe('operations', () => {
  it('answers /readyz 200 once the store is open, a worker is connected and results flow', async () => {
    const ready = await waitFor('ready', async () => {
      const res = await fetch(`${pulse.url}/readyz`);
      return res.status === 200 ? ((await res.json()) as { ready: boolean }) : null;
    });
    expect(ready.ready).toBe(true);
    expect((await fetch(`${pulse.url}/healthz`)).status).toBe(200);
    const res = await fetch(`${pulse.url}/api/practices`);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a bad new estate file with the reason, and keeps the running estate', async () => {
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace(/system: emis-web/, 'system: emis-webb'));
    const res = await session.fetch('/api/admin/reload', { method: 'POST' });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/practices\[\d+\]\.system: unknown service "emis-webb"/);
    const list = (await session.get<{ total: number }>('/api/practices'));
    expect(list.total).toBe(sim.practices.length);
    writeFileSync(file, good);
  });

  it('reloads a changed estate file without a restart: dashboards reconnect and see the change', async () => {
    const ws = new WebSocket(`${pulse.url.replace('http', 'ws')}/ws`, { headers: { cookie: session.cookie, origin: pulse.url } });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('message', resolve));

    const good = readFileSync(file, 'utf8');
    const [, first] = /\n {2}- ods: ([A-Z]\d{5})\n/.exec(good)!;
    // Drop the first practice from the file.
    const without = good.replace(new RegExp(`\\n {2}- ods: ${first}\\n(?: {4}.*\\n)+`), '\n');
    writeFileSync(file, without);
    const res = await session.fetch('/api/admin/reload', { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { practices: number }).practices).toBe(sim.practices.length - 1);
    expect(await closed).toBe(1001);
    const list = await session.get<{ total: number; practices: { ods: string }[] }>('/api/practices?limit=1000');
    expect(list.total).toBe(sim.practices.length - 1);
    expect(list.practices.some((p) => p.ods === first)).toBe(false);
    // Statuses carried over and the worker took the new assignment: still everything up.
    await waitFor('all up after reload', async () =>
      (await session.get<{ practices: { status: string }[] }>('/api/practices?limit=1000')).practices.every((p) => p.status === 'up'),
    );
    const audit = await session.get<{ entries: { action: string }[] }>('/api/audit?limit=5');
    expect(audit.entries.map((e) => e.action)).toContain('config.reload');
    ws.close();
  });
});
