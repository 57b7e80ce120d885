// The attacks of issue 5, each tried against a running Pulse over real sockets (a browser's
// requests, a WebSocket client, raw HTTP for paths a client library would tidy up, and real
// Chromium for script injection). Each test names the attack and what Pulse must answer.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createPulse } from '../../../server/app';
import { realPulses } from '../../helpers/real-pulse';
import { hashPassword } from '../../../server/auth/password';
import { parseEstate } from '../../../server/config/estate';
import { parseTrustedProxies } from '../../../server/http/client-address';
import type { LiveServerMessage } from '../../../server/live/protocol';
import { silentLogger } from '../../../server/log';
import { type RunningPulse } from '../../../server/main';
import { SqliteStore } from '../../../server/store/sqlite';
import { launchChromium } from '../../helpers/browser';
import { signIn, type SignedIn } from '../../helpers/session';
import { waitFor } from '../../helpers/wait';

const SCRIPT_NAME = '<script>alert(1)</script>';
const IMG_NAME = '<img src=x onerror=alert(2)>';
const NOTE = '<img src=x onerror=alert(1)>';
// A lone practice's incident opens at once (no group wait): these tests are about other things.
const ESTATE = `incidents: { groupWait: 0s }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: "${SCRIPT_NAME}", pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: A00002, name: "${IMG_NAME}", pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw2, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Moorside Health Centre, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
`;
const WORKER_SECRET = 'shared-worker-secret-for-the-attack-tests';
const PASSWORD = 'a long and correct password';
const WRONG = 'a long but wrong password';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A real Pulse on a free loopback port with no probe workers, over a temporary data folder. */
const start = realPulses('attacks', ESTATE, WORKER_SECRET);

async function user(running: RunningPulse, username: string, role: 'ops' | 'manager' | 'viewer' = 'viewer', icb: string | null = null) {
  return running.store.accounts.createUser({
    username,
    displayName: username,
    role,
    icb,
    practices: [],
    passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }),
    now: Date.now(),
  });
}

function login(url: string, username: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url, ...headers },
    body: JSON.stringify({ username, password }),
  });
}

const sessionCookie = (res: Response) => /pulse_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1];

async function me(url: string, cookie: string): Promise<number> {
  return (await fetch(`${url}/api/auth/me`, { headers: { cookie } })).status;
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

type Upgrade = { status: number } | { ws: WebSocket; messages: LiveServerMessage[] };

/** Opens a WebSocket; resolves with the HTTP status when the upgrade is refused. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: LiveServerMessage[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveServerMessage));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', (err) => reject(err));
  });
}

/** The close code of a socket once it closes; 0 when it is still open after `withinMs`. */
function closeCode(ws: WebSocket, withinMs = 5_000): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), withinMs);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** GET with the path exactly as written: fetch and URL would resolve `..` before sending. */
function rawGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.setEncoding('latin1');
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to GET ${path}`)));
    socket.on('data', (chunk) => (text += chunk));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    socket.on('error', reject);
  });
}

/** Makes A00002 down (two failures in a row) so an incident opens; returns its id. */
async function openIncident(running: RunningPulse): Promise<number> {
  for (const at of [Date.now(), Date.now() + 1]) {
    running.pulse.ingest([{ ok: false, checkId: 'gw2', at, location: 'local', latencyMs: 1, error: 'refused', detail: 'connection refused' }]);
    await running.pulse.tick();
  }
  return (await waitFor('an open incident', () => running.pulse.incidents.open()[0])).id;
}

const report = JSON.stringify({ state: 'up', by: 'attack test' });

// ---------------------------------------------------------------------------------------

describe('attacks on a running Pulse', () => {
  let running: RunningPulse;
  let url: string;
  let ops: SignedIn;

  beforeAll(async () => {
    running = await start();
    url = running.url;
    ops = await signIn(url, running.store.accounts, { role: 'ops', icb: null });
  });

  describe('cross-site request forgery', () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/api/practices/A00001/reports`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: report });

    it('refuses a state change that carries the session cookie but not the CSRF token (403)', async () => {
      const res = await post({ cookie: ops.cookie, origin: url });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('CSRF');
      const forged = await post({ cookie: ops.cookie, origin: url, 'x-csrf-token': 'guessed' });
      expect(forged.status).toBe(403);
      // Sign-out is a state change too: another site cannot sign people out.
      const logout = await fetch(`${url}/api/auth/logout`, { method: 'POST', headers: { cookie: ops.cookie, origin: url } });
      expect(logout.status).toBe(403);
      expect(await me(url, ops.cookie)).toBe(200);
    });

    it('refuses a state change from a foreign Origin even with the right token (403)', async () => {
      const res = await post({ cookie: ops.cookie, origin: 'https://evil.example', 'x-csrf-token': ops.csrf });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).message).toContain('https://evil.example');
    });

    it('refuses a state change the browser marks Sec-Fetch-Site: cross-site (403)', async () => {
      const res = await post({ cookie: ops.cookie, origin: url, 'x-csrf-token': ops.csrf, 'sec-fetch-site': 'cross-site' });
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('CSRF');
    });

    it('lets the same request through from the page itself (so the refusals above are about the attack)', async () => {
      const res = await post({ cookie: ops.cookie, origin: url, 'x-csrf-token': ops.csrf, 'sec-fetch-site': 'same-origin' });
      expect(res.status).toBe(200);
    });

    it('takes no sign-in from a cross-site form: only JSON, which a form cannot send without CORS', async () => {
      await user(running, 'formvictim');
      for (const [type, body] of [
        ['text/plain', JSON.stringify({ username: 'formvictim', password: PASSWORD })],
        ['application/x-www-form-urlencoded', `username=formvictim&password=${encodeURIComponent(PASSWORD)}`],
      ] as const) {
        const res = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': type, origin: 'https://evil.example' }, body });
        expect(res.status).toBe(415);
        expect(res.headers.get('set-cookie')).toBeNull();
      }
    });
  });

  describe('the live feed (/ws)', () => {
    const live = () => `${url.replace(/^http/, 'ws')}/ws`;

    it('refuses a foreign Origin even with a valid session cookie (403 on upgrade)', async () => {
      expect(await upgrade(live(), { origin: 'https://evil.example', cookie: ops.cookie })).toEqual({ status: 403 });
    });

    it('refuses a connection without any credentials (401)', async () => {
      expect(await upgrade(live(), { origin: url })).toEqual({ status: 401 });
      expect(await upgrade(`${live()}?display=made-up-secret`, { origin: url })).toEqual({ status: 401 });
      expect(await upgrade(live(), { origin: url, cookie: 'pulse_session=made-up' })).toEqual({ status: 401 });
    });

    it('refuses a display link once it is revoked (401)', async () => {
      const created = await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'display', name: 'reception wall', icb: 'QWO' } });
      expect(created.status).toBe(201);
      const { token, secret } = (await created.json()) as { token: { id: number }; secret: string };
      const before = await upgrade(`${live()}?display=${secret}`, { origin: url });
      expect('ws' in before).toBe(true);
      if ('ws' in before) before.ws.close();
      expect((await ops.fetch(`/api/tokens/${token.id}/revoke`, { method: 'POST' })).status).toBe(200);
      expect(await upgrade(`${live()}?display=${secret}`, { origin: url })).toEqual({ status: 401 });
    });

    it('ends a feed already open when its link is revoked or its session signs out (close 4401 at the next heartbeat)', async () => {
      const created = (await (await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'display', name: 'stolen wall link', icb: null } })).json()) as {
        token: { id: number };
        secret: string;
      };
      const thief = await upgrade(`${live()}?display=${created.secret}`, { origin: url });
      const person = await signIn(url, running.store.accounts, { role: 'viewer', icb: 'QWO' });
      const watching = await upgrade(live(), { origin: url, cookie: person.cookie });
      const bystander = await upgrade(live(), { origin: url, cookie: ops.cookie });
      if (!('ws' in thief) || !('ws' in watching) || !('ws' in bystander)) throw new Error('a feed was refused');
      const thiefClosed = closeCode(thief.ws);
      const watchingClosed = closeCode(watching.ws);
      expect((await ops.fetch(`/api/tokens/${created.token.id}/revoke`, { method: 'POST' })).status).toBe(200);
      expect((await person.fetch('/api/auth/logout', { method: 'POST' })).status).toBe(200);
      running.pulse.heartbeat();
      expect(await thiefClosed).toBe(4401);
      expect(await watchingClosed).toBe(4401);
      expect(bystander.ws.readyState).toBe(WebSocket.OPEN); // a live session's feed stays open
      bystander.ws.close();
    });

    it("sends a valid display link hello and a snapshot of its ICB's practices only", async () => {
      const { secret } = await running.store.accounts.createToken({ kind: 'display', name: 'QWO wall', icb: 'QWO', createdBy: 'test', now: Date.now() });
      const opened = await upgrade(`${live()}?display=${secret}`, { origin: url });
      if (!('ws' in opened)) throw new Error(`refused: ${opened.status}`);
      await waitFor('hello and snapshot', () => opened.messages.length >= 2, 5_000);
      opened.ws.close();
      const [hello, snapshot] = opened.messages;
      expect(hello?.type).toBe('hello');
      if (snapshot?.type !== 'snapshot') throw new Error(`expected a snapshot, got ${snapshot?.type}`);
      expect(snapshot.practices.map((p) => p.ods).sort()).toEqual(['A00001', 'A00002']);
      expect(snapshot.counts.total).toBe(2);
      expect(JSON.stringify(snapshot)).not.toMatch(/B00003|Moorside/);
    });
  });

  describe('session fixation', () => {
    it('never takes a session id chosen before sign-in: a fresh secret is issued and the planted one stays worthless', async () => {
      await user(running, 'fixated');
      const planted = 'pulse_session=attacker-chosen-value-0123456789abcdefghijklmno';
      expect(await me(url, planted)).toBe(401);
      const res = await login(url, 'fixated', PASSWORD, { cookie: planted });
      expect(res.status).toBe(200);
      const issued = sessionCookie(res);
      expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(`pulse_session=${issued}`).not.toBe(planted);
      expect(await me(url, planted)).toBe(401);
      expect(await me(url, `pulse_session=${issued}`)).toBe(200);
    });
  });

  describe('stolen-cookie replay', () => {
    it('refuses a copied cookie after its owner signs out (401)', async () => {
      const victim = await signIn(url, running.store.accounts, { role: 'viewer', icb: 'QWO' });
      const stolen = victim.cookie;
      expect(await me(url, stolen)).toBe(200);
      expect((await victim.fetch('/api/auth/logout', { method: 'POST' })).status).toBe(200);
      expect(await me(url, stolen)).toBe(401);
      expect((await fetch(`${url}/api/practices`, { headers: { cookie: stolen } })).status).toBe(401);
    });

    it('refuses every session of the user after "sign out everywhere" (401)', async () => {
      await user(running, 'twodevices');
      const laptop = `pulse_session=${sessionCookie(await login(url, 'twodevices', PASSWORD))}`;
      const phone = await login(url, 'twodevices', PASSWORD);
      const phoneCookie = `pulse_session=${sessionCookie(phone)}`;
      const { csrf } = (await phone.json()) as { csrf: string };
      const other = await signIn(url, running.store.accounts, { role: 'viewer', icb: 'QWO' });
      const res = await fetch(`${url}/api/auth/logout-everywhere`, { method: 'POST', headers: { cookie: phoneCookie, 'x-csrf-token': csrf, origin: url } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { signedOut: number }).signedOut).toBe(2);
      expect(await me(url, laptop)).toBe(401);
      expect(await me(url, phoneCookie)).toBe(401);
      expect(await me(url, other.cookie)).toBe(200); // someone else's session is untouched
    });

    it('refuses the sessions of a user once the account is disabled (401)', async () => {
      const victim = await signIn(url, running.store.accounts, { role: 'manager', practices: ['A00001'], username: 'leaver' });
      expect(await me(url, victim.cookie)).toBe(200);
      const found = await running.store.accounts.userForSignIn('leaver');
      await running.store.accounts.updateUser(found!.user.id, { disabled: true });
      expect(await me(url, victim.cookie)).toBe(401);
      expect((await victim.fetch('/api/practices/A00001/reports', { method: 'POST', body: report })).status).toBe(401);
      const upgraded = await upgrade(`${url.replace(/^http/, 'ws')}/ws`, { origin: url, cookie: victim.cookie });
      expect(upgraded).toEqual({ status: 401 });
    });
  });

  describe('hostile request bodies', () => {
    const post = (body: BodyInit, type = 'application/json', extra: RequestInit = {}) =>
      ops.fetch('/api/practices/A00001/reports', { method: 'POST', body, headers: { 'content-type': type }, ...extra });

    it('refuses a body over 64 KiB (413), with or without a Content-Length', async () => {
      const big = JSON.stringify({ state: 'up', by: 'x', note: 'n'.repeat(70 * 1024) });
      const res = await post(big);
      expect(res.status).toBe(413);
      expect((await errorOf(res)).code).toBe('TOO_LARGE');
      const chunk = new TextEncoder().encode('x'.repeat(8 * 1024));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const streamed = await post(stream, 'application/json', { duplex: 'half' } as RequestInit);
      expect(streamed.status).toBe(413);
      const anonymous = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
      expect(anonymous.status).toBe(413);
    });

    it('answers malformed JSON with 400 and a JSON error body', async () => {
      for (const body of ['{"state":', '{state: up}', '', '\u0000']) {
        const res = await post(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect((await errorOf(res)).code).toBe('BAD_REQUEST');
      }
    });

    it('answers a wrong content type with a 4xx JSON error, not a 500', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', '']) {
        const res = await post(report, type);
        expect(res.status, type).toBeGreaterThanOrEqual(400);
        expect(res.status, type).toBeLessThan(500);
        await errorOf(res);
      }
    });

    it('answers deeply nested JSON with a 4xx, not a crash', async () => {
      const arrays = '['.repeat(30_000) + ']'.repeat(30_000);
      const objects = `{"state":"up","by":"x","note":${'{"a":'.repeat(6_000)}1${'}'.repeat(6_000)}}`;
      for (const body of [arrays, objects]) {
        const res = await post(body);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        await errorOf(res);
      }
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    });
  });

  describe('script injection', () => {
    it('returns a practice name and an incident note holding markup as JSON data, under a CSP allowing only its own scripts', async () => {
      const id = await openIncident(running);
      const noted = await ops.fetch(`/api/incidents/${id}/notes`, { method: 'POST', json: { by: 'ops', text: NOTE } });
      expect(noted.status).toBe(200);

      const practice = await ops.fetch('/api/practices/A00001');
      expect(practice.headers.get('content-type')).toMatch(/^application\/json/);
      expect(practice.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(practice.headers.get('x-content-type-options')).toBe('nosniff');
      expect(((await practice.json()) as { name: string }).name).toBe(SCRIPT_NAME);

      const incident = await ops.fetch(`/api/incidents/${id}`);
      expect(incident.headers.get('content-type')).toMatch(/^application\/json/);
      expect(incident.headers.get('content-security-policy')).toContain("script-src 'self'");
      const detail = (await incident.json()) as { title: string; timeline: { type: string; text: string }[] };
      expect(detail.timeline.filter((e) => e.type === 'note').map((e) => e.text)).toContain(NOTE);
      expect(detail.title).toContain(IMG_NAME);
    });
  });

  describe('what a display link and a worker token may do', () => {
    const postRoutes = () => {
      const seen = new Map<string, string>();
      for (const r of running.pulse.app.routes) {
        const permission = (r.handler as { permission?: string }).permission;
        if (r.method === 'POST' && permission && !seen.has(r.path)) seen.set(r.path, permission);
      }
      return [...seen];
    };
    const fill = (path: string) => path.replace(':ods', 'A00001').replace(':id', '1');

    it('a display link cannot change anything: every POST route that needs an account answers 403', async () => {
      const { secret } = await running.store.accounts.createToken({ kind: 'display', name: 'wall', icb: null, createdBy: 'test', now: Date.now() });
      const routes = postRoutes();
      // The enumeration found the state-changing routes (so the loop below can fail).
      expect(routes.map(([p]) => p)).toEqual(expect.arrayContaining(['/api/practices/:ods/reports', '/api/maintenance', '/api/tokens', '/api/incidents/:id/notes']));
      for (const [path, permission] of routes) {
        const res = await fetch(`${url}${fill(path)}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', origin: url },
          body: JSON.stringify({ state: 'down', by: 'wall', text: 'x', kind: 'display', name: 'x', subject: 'service:emis-web' }),
        });
        if (permission === 'public') {
          // Sign-in and workstation heartbeats need their own credentials: the link is not one.
          expect(res.status, `POST ${path}`).toBeGreaterThanOrEqual(400);
        } else {
          expect(res.status, `POST ${path}`).toBe(403);
        }
      }
      expect(running.pulse.views.practices.get('A00001')?.mode).toBe('normal');
    });

    it('a worker token (shared or issued) opens /workers but is nobody on the REST API (401)', async () => {
      const created = await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'worker', name: 'probe host 2' } });
      expect(created.status).toBe(201);
      const { secret } = (await created.json()) as { secret: string };
      const workers = `${url.replace(/^http/, 'ws')}/workers`;
      for (const token of [WORKER_SECRET, secret]) {
        const opened = await upgrade(workers, { authorization: `Bearer ${token}` });
        expect('ws' in opened).toBe(true);
        if ('ws' in opened) opened.ws.close();
        for (const path of ['/api/practices', '/api/practices/A00001', '/api/incidents', '/api/audit', '/api/tokens', '/api/auth/me']) {
          expect((await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status, path).toBe(401);
        }
        const res = await fetch(`${url}/api/practices/A00001/reports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: report });
        expect(res.status).toBe(401);
        // Nor does it open the dashboards' feed.
        expect(await upgrade(`${url.replace(/^http/, 'ws')}/ws?display=${token}`, { origin: url })).toEqual({ status: 401 });
      }
      // Revoking an issued worker token also disconnects a worker already connected with it.
      const issued = (await (await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'worker', name: 'compromised host' } })).json()) as { token: { id: number }; secret: string };
      const compromised = await upgrade(workers, { authorization: `Bearer ${issued.secret}` });
      if (!('ws' in compromised)) throw new Error(`refused: ${compromised.status}`);
      const closed = closeCode(compromised.ws);
      expect((await ops.fetch(`/api/tokens/${issued.token.id}/revoke`, { method: 'POST' })).status).toBe(200);
      running.pulse.heartbeat();
      expect(await closed).toBe(4401);
      // And a display link does not open the workers' socket.
      const display = await running.store.accounts.createToken({ kind: 'display', name: 'wall 2', icb: null, createdBy: 'test', now: Date.now() });
      expect(await upgrade(workers, { authorization: `Bearer ${display.secret}` })).toEqual({ status: 401 });
    });

    it("one ICB's operations staff cannot mint a worker token, nor end another ICB's links or the workers", async () => {
      const icbOps = await signIn(url, running.store.accounts, { role: 'ops', icb: 'QWO' });
      const worker = await icbOps.fetch('/api/tokens', { method: 'POST', json: { kind: 'worker', name: 'my probe' } });
      expect(worker.status).toBe(403);
      // A display link they make is their own ICB's, whatever they ask for.
      const own = await icbOps.fetch('/api/tokens', { method: 'POST', json: { kind: 'display', name: 'QWO wall', icb: 'QHM' } });
      expect(own.status).toBe(201);
      const ownLink = (await own.json()) as { token: { id: number; icb: string } };
      expect(ownLink.token.icb).toBe('QWO');
      const theirs = (await (await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'display', name: 'QHM wall', icb: 'QHM' } })).json()) as { token: { id: number } };
      const probes = (await (await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'worker', name: 'national probes' } })).json()) as { token: { id: number } };
      expect((await icbOps.fetch(`/api/tokens/${theirs.token.id}/revoke`, { method: 'POST' })).status).toBe(403);
      expect((await icbOps.fetch(`/api/tokens/${probes.token.id}/revoke`, { method: 'POST' })).status).toBe(403);
      expect((await icbOps.fetch(`/api/tokens/${ownLink.token.id}/revoke`, { method: 'POST' })).status).toBe(200);
      expect((await ops.fetch(`/api/tokens/${theirs.token.id}/revoke`, { method: 'POST' })).status).toBe(200);
    });
  });
});

// ---------------------------------------------------------------------------------------

describe('password guessing', () => {
  // A fresh server for each test: the throttle counts per client address, and every
  // request here comes from 127.0.0.1.
  it('locks one account after repeated wrong passwords: 429 with Retry-After, the right password refused too, every failure audited', async () => {
    const running = await start();
    const auditor = await signIn(running.url, running.store.accounts, { role: 'ops', icb: null });
    await user(running, 'victim');
    for (let i = 0; i < 5; i++) expect((await login(running.url, 'victim', `${WRONG} ${i}`)).status).toBe(401);
    const locked = await login(running.url, 'victim', WRONG);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3_600);
    expect((await errorOf(locked)).code).toBe('THROTTLED');
    const right = await login(running.url, 'VICTIM', PASSWORD); // usernames are case-insensitive: no way round
    expect(right.status).toBe(429);
    expect(right.headers.get('set-cookie')).toBeNull();

    type Audit = { intact: boolean; entries: { action: string; subject: string | null; actor: string; detail: { address?: string } }[] };
    const audit = await auditor.get<Audit>('/api/audit?limit=1000');
    const failed = audit.entries.filter((e) => e.action === 'auth.signin.failed' && e.subject === 'user:victim');
    expect(failed).toHaveLength(5);
    for (const e of failed) {
      expect(e.actor).toMatch(/^anonymous@/);
      expect(e.detail.address).toMatch(/127\.0\.0\.1/);
    }
    expect(audit.intact).toBe(true);
    // Hammering a locked account is refused cheaply and does not grow the audit log.
    for (let i = 0; i < 20; i++) expect((await login(running.url, 'victim', WRONG)).status).toBe(429);
    expect((await auditor.get<Audit>('/api/audit?limit=1000')).entries.length).toBe(audit.entries.length);
  });

  it('throttles one address spraying passwords across many usernames, known or not', async () => {
    const running = await start();
    const auditor = await signIn(running.url, running.store.accounts, { role: 'ops', icb: null });
    const names = ['spray1', 'spray2', 'spray3', 'spray4'];
    for (const name of [...names, 'untouched']) await user(running, name);
    // Four each (under the per-account limit of five), over four real accounts and one that does not exist.
    for (const name of [...names, 'no-such-user']) {
      for (let i = 0; i < 4; i++) expect((await login(running.url, name, `${WRONG} ${i}`)).status, name).toBe(401);
    }
    const blocked = await login(running.url, 'untouched', PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    const audit = await auditor.get<{ entries: { action: string; subject: string | null }[] }>('/api/audit?limit=1000');
    const failed = audit.entries.filter((e) => e.action === 'auth.signin.failed');
    expect(failed).toHaveLength(20);
    expect(new Set(failed.map((e) => e.subject))).toEqual(new Set([...names, 'no-such-user'].map((n) => `user:${n}`)));
  });

  it('behind a configured proxy on the same host, throttles the client address it reports (X-Real-IP), so one client cannot lock everyone out', async () => {
    const running = await start({ trustedProxies: parseTrustedProxies('127.0.0.1') });
    const auditor = await signIn(running.url, running.store.accounts, { role: 'ops', icb: null });
    const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
    for (const name of [...names, 'colleague']) await user(running, name);
    const attacker = { 'x-real-ip': '203.0.113.7' };
    for (const name of names) {
      for (let i = 0; i < 4; i++) expect((await login(running.url, name, `${WRONG} ${i}`, attacker)).status).toBe(401);
    }
    expect((await login(running.url, 'colleague', PASSWORD, attacker)).status).toBe(429);
    // Someone else behind the same proxy still signs in; so does a request with no proxy header.
    expect((await login(running.url, 'colleague', PASSWORD, { 'x-real-ip': '198.51.100.9' })).status).toBe(200);
    expect((await login(running.url, 'colleague', PASSWORD, { 'x-real-ip': 'not an address' })).status).toBe(200);
    const audit = await auditor.get<{ entries: { action: string; detail: { address?: string } }[] }>('/api/audit?limit=1000');
    const failed = audit.entries.filter((e) => e.action === 'auth.signin.failed');
    expect(failed).toHaveLength(20);
    expect(new Set(failed.map((e) => e.detail.address))).toEqual(new Set(['203.0.113.7']));
  });
});

// ---------------------------------------------------------------------------------------

describe('the audit log', () => {
  it('records sign-ins, failed sign-ins, token creation and revocation in an intact chain, and shows tampering with the file', async () => {
    const running = await start();
    const ops = await signIn(running.url, running.store.accounts, { role: 'ops', icb: null, username: 'auditops' });
    expect((await login(running.url, 'auditops', WRONG)).status).toBe(401);
    const created = (await (await ops.fetch('/api/tokens', { method: 'POST', json: { kind: 'display', name: 'wall' } })).json()) as { token: { id: number } };
    expect((await ops.fetch(`/api/tokens/${created.token.id}/revoke`, { method: 'POST' })).status).toBe(200);

    type Audit = { intact: boolean; entries: { seq: number; action: string; subject: string | null; actor: string }[] };
    const audit = await ops.get<Audit>('/api/audit');
    expect(audit.intact).toBe(true);
    const actions = audit.entries.map((e) => `${e.action} ${e.subject}`);
    expect(actions).toEqual(
      expect.arrayContaining(['auth.signin user:auditops', 'auth.signin.failed user:auditops', `token.create token:${created.token.id}`, `token.revoke token:${created.token.id}`]),
    );

    // Through SQL the log only grows...
    const db = running.store.db;
    const failed = audit.entries.find((e) => e.action === 'auth.signin.failed')!;
    expect(() => db.prepare('UPDATE audit SET actor = ? WHERE seq = ?').run('someone-else', failed.seq)).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit WHERE seq = ?').run(failed.seq)).toThrow(/append-only/);
    // ...but someone with the file can drop the triggers; the hash chain shows what they did.
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare('UPDATE audit SET actor = ? WHERE seq = ?').run('someone-else', failed.seq);
    expect((await ops.get<Audit>('/api/audit')).intact).toBe(false);
    db.prepare('UPDATE audit SET actor = ? WHERE seq = ?').run(failed.actor, failed.seq);
    expect((await ops.get<Audit>('/api/audit')).intact).toBe(true);
    db.exec('DROP TRIGGER audit_no_delete');
    db.prepare('DELETE FROM audit WHERE seq = ?').run(failed.seq);
    expect((await ops.get<Audit>('/api/audit')).intact).toBe(false);
    expect(await running.store.accounts.verifyAudit()).toMatchObject({ ok: false, seq: failed.seq + 1 });
  });
});

// ---------------------------------------------------------------------------------------

describe('behind a TLS reverse proxy (publicUrl)', () => {
  it('marks the session cookie Secure and accepts the public origin, and only it', async () => {
    const publicUrl = 'https://pulse.example.nhs.uk';
    const running = await start({ publicUrl });
    await user(running, 'proxied', 'ops');
    const res = await login(running.url, 'proxied', PASSWORD, { origin: publicUrl });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/;\s*Secure/i);
    expect(res.headers.get('set-cookie')).toMatch(/;\s*HttpOnly/i);
    const cookie = `pulse_session=${sessionCookie(res)}`;
    const { csrf } = (await res.json()) as { csrf: string };
    const post = (origin: string) =>
      fetch(`${running.url}/api/practices/A00001/reports`, { method: 'POST', headers: { cookie, origin, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: report });
    expect((await post(publicUrl)).status).toBe(200);
    expect((await post('https://evil.example')).status).toBe(403);
    const ws = `${running.url.replace(/^http/, 'ws')}/ws`;
    const opened = await upgrade(ws, { origin: publicUrl, cookie });
    expect('ws' in opened).toBe(true);
    if ('ws' in opened) opened.ws.close();
    expect(await upgrade(ws, { origin: 'https://evil.example', cookie })).toEqual({ status: 403 });
  });

  it('leaves the cookie without Secure when served over plain HTTP on loopback', async () => {
    const running = await start();
    await user(running, 'plainhttp');
    const res = await login(running.url, 'plainhttp', PASSWORD);
    expect(res.headers.get('set-cookie')).not.toMatch(/;\s*Secure/i);
  });
});

// ---------------------------------------------------------------------------------------

describe('path traversal in static files', () => {
  // A dashboard folder of its own, with marked files where an escape from it would land.
  let root: string;
  let server: Server;
  let port: number;
  let store: SqliteStore;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'pulse-traversal-'));
    const web = join(root, 'dist', 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>Pulse</title>');
    writeFileSync(join(web, 'assets', 'app-1234.js'), 'console.log("the dashboard")');
    writeFileSync(join(web, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    for (const dir of [root, join(root, 'dist')]) {
      mkdirSync(join(dir, 'server'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{"name":"SENTINEL-package"}');
      writeFileSync(join(dir, 'server', 'app.ts'), 'SENTINEL-source');
    }
    store = new SqliteStore(':memory:');
    const pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store, clock: { now: () => Date.now() }, log: silentLogger, workerToken: WORKER_SECRET, webDir: web });
    server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: pulse.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
    });
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await store?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('serves the dashboard files (so the refusals below are about the paths)', async () => {
    const asset = await rawGet(port, '/assets/app-1234.js');
    expect(asset.status).toBe(200);
    expect(asset.text).toContain('the dashboard');
  });

  for (const path of [
    '/assets/../../package.json',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/assets/..%2f..%2fpackage.json',
    '/favicon.svg/../../server/app.ts',
    '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    '/assets/..%2f..%2f..%2fpackage.json',
    '/assets/%252e%252e/%252e%252e/package.json',
    '/assets/..%5c..%5cpackage.json',
    '/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/package.json',
    '/assets/app-1234.js/../../../package.json',
    '/assets/..%00/package.json',
    '//package.json',
    '/assets//../../server/app.ts',
  ]) {
    it(`never returns a file outside the dashboard for ${path}`, async () => {
      const res = await rawGet(port, path);
      expect(res.text).not.toContain('SENTINEL');
      expect(res.status).not.toBe(200);
      expect(res.status).toBeLessThan(500);
    });
  }
});

// ---------------------------------------------------------------------------------------

describe('script injection in real Chromium', () => {
  let running: RunningPulse;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) {
      execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
    }
    running = await start();
    await openIncident(running);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders a practice named <script>… and one named <img onerror>… as text: no dialog, the markup shown literally', async () => {
    const context = await browser.newContext();
    const session = await signIn(running.url, running.store.accounts, { role: 'ops', icb: null });
    const [name, value] = session.cookie.split('=') as [string, string];
    await context.addCookies([{ name, value, url: running.url, httpOnly: true, sameSite: 'Lax' }]);
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const response = await page.goto(running.url);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

    const scriptTile = page.locator('[data-testid="practice-tile"][data-ods="A00001"]');
    const imgTile = page.locator('[data-testid="practice-tile"][data-ods="A00002"]');
    await scriptTile.waitFor({ timeout: 15_000 });
    await imgTile.waitFor({ timeout: 15_000 });
    expect(await scriptTile.textContent()).toContain(SCRIPT_NAME);
    expect(await imgTile.textContent()).toContain(IMG_NAME);
    // The incident about A00002 is titled with its name: rendered as text as well.
    await page.locator('[data-testid="incident"]').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="incidents"]').textContent()).toContain(IMG_NAME);

    // Nothing the names hold became an element, and nothing ran.
    const injected = await page.evaluate(() => ({
      images: document.querySelectorAll('img[src="x"]').length,
      scripts: [...document.querySelectorAll('script')].filter((s) => s.textContent?.includes('alert')).length,
    }));
    expect(injected).toEqual({ images: 0, scripts: 0 });
    // Give an image error handler, had one been created, time to fire.
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
    await context.close();
  });
});
