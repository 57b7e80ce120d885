// Issue 13 (8), against a real Pulse over real sockets: forwarded headers are believed only
// from configured proxies (so a client cannot name itself a fresh address round the sign-in
// lock), and a request addressed to a host Pulse does not answer to (DNS rebinding) gets 421.
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../../server/auth/password';
import { parseTrustedProxies } from '../../../server/http/client-address';
import { type RunningPulse } from '../../../server/main';
import { realPulses } from '../../helpers/real-pulse';

const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
`;
const PASSWORD = 'a long and correct password';
const WRONG = 'a long but wrong password';
const start = realPulses('edge', ESTATE, 'edge-test-worker-secret');

async function user(running: RunningPulse, username: string) {
  await running.store.accounts.createUser({
    username,
    displayName: username,
    role: 'viewer',
    icb: null,
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

/** One raw HTTP/1.1 request with exactly the headers given (fetch would set Host itself). */
function raw(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (d) => (text += String(d)));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n') }));
    socket.on('error', reject);
  });
}

describe('forwarded headers (PULSE_TRUSTED_PROXIES)', () => {
  it('without configured proxies, a login flood naming a fresh X-Real-IP / X-Forwarded-For each time is still locked by its real address', async () => {
    const running = await start();
    const names = ['f1', 'f2', 'f3', 'f4', 'f5'];
    for (const name of [...names, 'colleague']) await user(running, name);
    let n = 0;
    for (const name of names) {
      for (let i = 0; i < 4; i++) {
        n++;
        const forged: Record<string, string> = n % 2 ? { 'x-real-ip': `203.0.113.${n}` } : { 'x-forwarded-for': `198.51.100.${n}` };
        expect((await login(running.url, name, `${WRONG} ${i}`, forged)).status).toBe(401);
      }
    }
    // Twenty failures from 127.0.0.1, whatever the headers said: the address is locked.
    const res = await login(running.url, 'colleague', PASSWORD, { 'x-real-ip': '192.0.2.77' });
    expect(res.status).toBe(429);
    const failed = (await running.store.accounts.auditEntries(1000, 0)).filter((e) => e.action === 'auth.signin.failed');
    expect(new Set(failed.map((e) => (e.detail as { address?: string }).address))).toEqual(new Set(['127.0.0.1']));
  });

  it('from a configured proxy, throttles the client address it reports, so one client cannot lock everyone out', async () => {
    const running = await start({ trustedProxies: parseTrustedProxies('127.0.0.1') });
    const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
    for (const name of [...names, 'colleague']) await user(running, name);
    const attacker = { 'x-forwarded-for': '192.0.2.1, 203.0.113.7' };
    for (const name of names) {
      for (let i = 0; i < 4; i++) expect((await login(running.url, name, `${WRONG} ${i}`, attacker)).status).toBe(401);
    }
    // The right-most hop is what the proxy saw: the attacker's own left-hand entries change nothing.
    expect((await login(running.url, 'colleague', PASSWORD, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' })).status).toBe(429);
    expect((await login(running.url, 'colleague', PASSWORD, { 'x-real-ip': '198.51.100.9' })).status).toBe(200);
    const failed = (await running.store.accounts.auditEntries(1000, 0)).filter((e) => e.action === 'auth.signin.failed');
    expect(new Set(failed.map((e) => (e.detail as { address?: string }).address))).toEqual(new Set(['203.0.113.7']));
  });
});

describe('Host check (DNS rebinding)', () => {
  it('answers loopback names on any port and IP addresses, and refuses a DNS name nobody configured with 421 naming it', async () => {
    const running = await start();
    for (const host of [`127.0.0.1:${running.port}`, `localhost:${running.port}`, `[::1]:${running.port}`, 'LOCALHOST', '10.1.2.3:8080']) {
      expect((await raw(running.port, `GET /healthz HTTP/1.1\r\nHost: ${host}`)).status, host).toBe(200);
    }
    const refused = await raw(running.port, 'GET /healthz HTTP/1.1\r\nHost: rebind.evil.example:8080');
    expect(refused.status).toBe(421);
    const body = JSON.parse(refused.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('MISDIRECTED_REQUEST');
    expect(body.error.message).toContain('rebind.evil.example');
    expect((await raw(running.port, 'POST /api/auth/login HTTP/1.1\r\nHost: rebind.evil.example\r\nContent-Length: 0')).status).toBe(421);
  });

  it('with PULSE_PUBLIC_URL and PULSE_ALLOWED_HOSTS, answers those names and loopback only', async () => {
    const running = await start({ publicUrl: 'https://pulse.example.nhs.uk', allowedHosts: ['pulse-internal.example.nhs.uk'] });
    for (const host of ['pulse.example.nhs.uk', 'Pulse.Example.NHS.uk:443', 'pulse-internal.example.nhs.uk:8080', `localhost:${running.port}`, '127.0.0.1']) {
      expect((await raw(running.port, `GET /healthz HTTP/1.1\r\nHost: ${host}`)).status, host).toBe(200);
    }
    for (const host of ['evil.example', '10.1.2.3', 'pulse.example.nhs.uk.evil.example']) {
      expect((await raw(running.port, `GET /healthz HTTP/1.1\r\nHost: ${host}`)).status, host).toBe(421);
    }
  });

  it('refuses a WebSocket upgrade to /ws or /workers addressed to a foreign host with 421', async () => {
    const running = await start();
    const upgradeHead = (path: string, host: string) =>
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer edge-test-worker-secret`;
    for (const path of ['/ws', '/workers']) {
      const refused = await raw(running.port, upgradeHead(path, 'rebind.evil.example'));
      expect(refused.status, path).toBe(421);
      expect(refused.body).toContain('rebind.evil.example');
    }
    // The same upgrade addressed to loopback gets past the Host check (to its usual answers).
    expect((await raw(running.port, upgradeHead('/ws', `127.0.0.1:${running.port}`))).status).toBe(401);
  });
});
