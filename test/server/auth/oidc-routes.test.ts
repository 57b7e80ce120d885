// Signing in through an OpenID Connect provider (CIS2-style claims), end to end: Pulse's
// start and callback routes against a real provider on loopback, as a browser follows them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEstateFile } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { startPulse, type RunningPulse } from '../../../server/main';
import { startOidcProvider, type TestOidcProvider } from '../../helpers/oidc-provider';

let provider: TestOidcProvider;
let pulse: RunningPulse;
let dir: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const cookieOf = (res: Response, name: string) => new RegExp(`${name}=[^;]+`).exec(res.headers.get('set-cookie') ?? '')?.[0];

/** Follows the sign-in as a browser would; returns the session cookie, or the error shown. */
async function signInThroughProvider(): Promise<{ session?: string; error?: string }> {
  const start = await fetch(`${pulse.url}/auth/oidc/start`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const pending = cookieOf(start, 'pulse_oidc')!;
  const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const callback = await fetch(atProvider.headers.get('location')!, { redirect: 'manual', headers: { cookie: pending } });
  expect(callback.status).toBe(302);
  const location = new URL(callback.headers.get('location')!, pulse.url);
  return { session: cookieOf(callback, 'pulse_session'), error: location.searchParams.get('signin_error') ?? undefined };
}

beforeAll(async () => {
  const port = await freePort();
  const redirect = `http://127.0.0.1:${port}/auth/oidc/callback`;
  provider = await startOidcProvider({
    redirectUri: redirect,
    user: {
      sub: '555123456789',
      name: 'Jane Smith',
      nhsid_nrbac_roles: [{ person_roleid: 'r1', org_code: 'A00001', role_name: 'Practice Manager', role_code: 'S8000:G8000:R8000' }],
    },
  });
  process.env.PULSE_TEST_OIDC_SECRET = provider.clientSecret;
  dir = mkdtempSync(join(tmpdir(), 'pulse-oidc-'));
  writeFileSync(
    join(dir, 'estate.yaml'),
    `auth:
  oidc:
    issuer: ${provider.issuer}
    clientId: ${provider.clientId}
    clientSecret: { env: PULSE_TEST_OIDC_SECRET }
    redirectUrl: ${redirect}
    mapping: { managerRoleCodes: [R8000], icbOps: [QWO] }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web }
  - { ods: A00002, name: Oakwood, pcn: North, icb: QWO, system: emis-web }
`,
  );
  pulse = await startPulse({
    estate: loadEstateFile(join(dir, 'estate.yaml')),
    dataDir: join(dir, 'data'),
    host: '127.0.0.1',
    port,
    log: silentLogger,
    localWorkers: 0,
  });
});

afterAll(async () => {
  await pulse?.stop();
  await provider?.stop();
  delete process.env.PULSE_TEST_OIDC_SECRET;
  rmSync(dir, { recursive: true, force: true });
});

describe('OpenID Connect sign-in', () => {
  it('signs a CIS2 practice manager in as manager of their practice only, and audits it', async () => {
    const { session, error } = await signInThroughProvider();
    expect(error).toBeUndefined();
    const me = await fetch(`${pulse.url}/api/auth/me`, { headers: { cookie: session! } });
    expect(me.status).toBe(200);
    const body = (await me.json()) as { user: { username: string; role: string; practices: string[]; displayName: string } };
    expect(body.user).toMatchObject({ username: 'oidc:555123456789', role: 'manager', practices: ['A00001'], displayName: 'Jane Smith' });
    const list = (await (await fetch(`${pulse.url}/api/practices`, { headers: { cookie: session! } })).json()) as { practices: { ods: string }[] };
    expect(list.practices.map((p) => p.ods)).toEqual(['A00001']);
    const entries = await pulse.store.accounts.auditEntries(10, 0);
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['auth.signin', 'user.create']));
  });

  it('updates the role at the next sign-in when it changed at the provider', async () => {
    provider.user = { ...provider.user, nhsid_nrbac_roles: [{ person_roleid: 'r2', org_code: 'QWO', role_name: 'ICB analyst', role_code: 'R0001' }] };
    const { session } = await signInThroughProvider();
    const me = (await (await fetch(`${pulse.url}/api/auth/me`, { headers: { cookie: session! } })).json()) as { user: { role: string; icb: string } };
    expect(me.user).toMatchObject({ role: 'ops', icb: 'QWO' });
  });

  it('refuses someone whose roles match no practice or ICB, with the reason', async () => {
    provider.user = { sub: '999', name: 'X', nhsid_nrbac_roles: [{ person_roleid: 'r3', org_code: 'Z99999', role_name: 'Receptionist', role_code: 'R1' }] };
    const { session, error } = await signInThroughProvider();
    expect(session).toBeUndefined();
    expect(error).toBeTruthy();
  });

  it('refuses a callback without the pending cookie (a forged or replayed sign-in)', async () => {
    const res = await fetch(`${pulse.url}/auth/oidc/callback?code=abc&state=def`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(cookieOf(res, 'pulse_session')).toBeUndefined();
  });
});
