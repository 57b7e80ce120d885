// The relying party against a real (test) OpenID Connect provider on loopback: the whole
// authorization code flow, and each way a provider's answer or a callback can be wrong.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mapClaims } from '../../../server/auth/claims';
import { createOidcClient, OidcError, type OidcClient, type OidcClientDeps, type OidcErrorCode } from '../../../server/auth/oidc';
import { DEFAULT_SCOPES, oidcSchema, readSecretRef, type OidcConfig } from '../../../server/auth/oidc-config';
import type { Estate, Practice } from '../../../server/config/estate';
import { startOidcProvider, type Misbehaviour, type ProviderOptions, type TestOidcProvider } from '../../helpers/oidc-provider';

const REDIRECT = 'http://127.0.0.1:9/auth/oidc/callback';
const SECRET_ENV = 'PULSE_TEST_OIDC_SECRET';

const cis2User = {
  sub: '910000000001',
  name: 'Dr Asha Patel',
  given_name: 'Asha',
  family_name: 'Patel',
  selected_roleid: '555000000002',
  nhsid_user_orgs: [{ org_code: 'A81001', org_name: 'THE DENSHAM SURGERY' }],
  nhsid_nrbac_roles: [
    { person_roleid: '555000000001', org_code: 'A81002', role_code: 'S8000:G8000:R8008', role_name: '"Admin":"Admin":"Receptionist"' },
    { person_roleid: '555000000002', org_code: 'A81001', role_code: 'S8000:G8000:R8000', role_name: '"Clinical":"Clinical Provision":"GP"' },
  ],
};

const practice = (ods: string, icb: string): Practice => ({
  ods, name: ods, pcn: 'pcn', icb, system: 'emis-web', dependsOn: [], checks: [], fleet: null, backupPlan: null,
});
const estate: Pick<Estate, 'practices'> = {
  practices: new Map([practice('A81001', 'QHM'), practice('A81002', 'QHM')].map((p) => [p.ods, p])),
};

function configFor(provider: TestOidcProvider, overrides: Record<string, unknown> = {}): OidcConfig {
  return oidcSchema.parse({
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: { env: SECRET_ENV },
    redirectUrl: REDIRECT,
    mapping: { managerRoleCodes: ['R8000'] },
    ...overrides,
  });
}

function depsFor(provider: TestOidcProvider, extra: Partial<OidcClientDeps> = {}): OidcClientDeps {
  // An explicit environment, so the test never reads or changes the process's own.
  return { readSecret: (ref) => readSecretRef(ref, { [SECRET_ENV]: provider.clientSecret }), timeoutMs: 5_000, ...extra };
}

/** Follows the sign-in redirect the way a browser would, without a UI: returns the callback's query. */
async function visit(url: string): Promise<URLSearchParams> {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  expect(res.status, await res.clone().text()).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  return location.searchParams;
}

async function signIn(oidc: OidcClient) {
  const start = await oidc.authorizationUrl();
  const params = await visit(start.url);
  return oidc.callback(params, start);
}

async function failure(promise: Promise<unknown>): Promise<OidcError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OidcError);
  return err as OidcError;
}

const providers: TestOidcProvider[] = [];
async function provider(options: Partial<ProviderOptions> = {}): Promise<TestOidcProvider> {
  const p = await startOidcProvider({ redirectUri: REDIRECT, user: cis2User, ...options });
  providers.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(providers.map((p) => p.stop()));
});

describe('the authorization code flow', () => {
  let op: TestOidcProvider;
  let oidc: OidcClient;
  beforeAll(async () => {
    op = await provider();
    oidc = createOidcClient(configFor(op), depsFor(op));
  });
  afterEach(() => {
    op.misbehave = null;
  });

  it('signs a CIS2 user in and yields claims that map to their selected role', async () => {
    const claims = await signIn(oidc);
    expect(claims).toMatchObject({ sub: cis2User.sub, iss: op.issuer, aud: op.clientId, name: 'Dr Asha Patel' });
    expect(claims.nhsid_nrbac_roles).toEqual(cis2User.nhsid_nrbac_roles);
    const config = configFor(op);
    expect(mapClaims(claims, config.mapping, estate)).toMatchObject({
      ok: true, role: 'manager', icb: null, practices: ['A81001'], displayName: 'Dr Asha Patel', subject: cis2User.sub,
    });
  });

  it('sends PKCE S256, state, nonce and the CIS2 scopes to the provider', async () => {
    const start = await oidc.authorizationUrl();
    const url = new URL(start.url);
    expect(url.origin + url.pathname).toBe(`${op.issuer}/authorize`);
    expect(url.searchParams.get('client_id')).toBe(op.clientId);
    expect(url.searchParams.get('redirect_uri')).toBe(REDIRECT);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('scope')).toBe(DEFAULT_SCOPES.join(' '));
    expect(url.searchParams.get('state')).toBe(start.state);
    expect(url.searchParams.get('nonce')).toBe(start.nonce);
    expect(url.searchParams.get('code_challenge')).not.toBe(start.codeVerifier);
    const again = await oidc.authorizationUrl();
    expect([again.state, again.nonce, again.codeVerifier]).not.toContain(start.state);
    expect(again.nonce).not.toBe(start.nonce);
    expect(again.codeVerifier).not.toBe(start.codeVerifier);
  });

  it('discovers the provider once and reuses it', async () => {
    const fresh = createOidcClient(configFor(op), depsFor(op));
    const before = op.requests.discovery;
    await signIn(fresh);
    await signIn(fresh);
    expect(op.requests.discovery - before).toBe(1);
  });

  it('authenticates with client_secret_basic when the provider offers it', async () => {
    await signIn(oidc);
    expect(op.tokenAuth.at(-1)).toBe('client_secret_basic');
  });

  it.each<[Misbehaviour, OidcErrorCode]>([
    ['wrong-issuer', 'id_token_issuer'],
    ['expired-id-token', 'id_token_expired'],
    ['bad-signature', 'id_token_signature'],
    ['unknown-key', 'id_token_signature'],
    ['alg-none', 'id_token_signature'],
    ['wrong-nonce', 'nonce_mismatch'],
    ['wrong-audience', 'id_token_audience'],
    ['userinfo-wrong-subject', 'userinfo_failed'],
    ['deny', 'provider_error'],
  ])('refuses a provider that misbehaves: %s → %s', async (misbehaviour, code) => {
    op.misbehave = misbehaviour;
    const err = await failure(signIn(oidc));
    expect(err.code).toBe(code);
    // Neither the user-facing message nor the log detail carries a code or token.
    for (const secret of [...op.issued, op.clientSecret]) {
      expect(err.message).not.toContain(secret);
      expect(err.detail).not.toContain(secret);
    }
    expect(`${err.message} ${err.detail}`).not.toMatch(/eyJ/);
  });

  it('names the issuer it expected and the one it got, for the log', async () => {
    op.misbehave = 'wrong-issuer';
    const err = await failure(signIn(oidc));
    expect(err.detail).toContain(`expected ${op.issuer}, got ${op.issuer}/elsewhere`);
  });

  it('refuses a callback whose state is not the one this browser started with, before any token request', async () => {
    const start = await oidc.authorizationUrl();
    const params = await visit(start.url);
    const tokenRequests = op.requests.token;
    const other = await oidc.authorizationUrl();
    const err = await failure(oidc.callback(params, { ...start, state: other.state }));
    expect(err.code).toBe('state_mismatch');
    expect(op.requests.token).toBe(tokenRequests);
  });

  it('refuses a callback with no state, or when the browser kept none', async () => {
    const start = await oidc.authorizationUrl();
    const params = await visit(start.url);
    const noState = new URLSearchParams(params);
    noState.delete('state');
    expect((await failure(oidc.callback(noState, start))).code).toBe('state_mismatch');
    expect((await failure(oidc.callback(params, { ...start, state: '' }))).code).toBe('state_mismatch');
  });

  it('refuses a callback without a code', async () => {
    const start = await oidc.authorizationUrl();
    const err = await failure(oidc.callback(new URLSearchParams({ state: start.state }), start));
    expect(err.code).toBe('invalid_callback');
  });

  it('has the provider refuse a PKCE verifier that does not match the challenge', async () => {
    const start = await oidc.authorizationUrl();
    const params = await visit(start.url);
    const wrong = (await oidc.authorizationUrl()).codeVerifier;
    const err = await failure(oidc.callback(params, { ...start, codeVerifier: wrong }));
    expect(err.code).toBe('token_rejected');
    expect(err.detail).toContain('invalid_grant');
  });

  it('cannot use a code twice', async () => {
    const start = await oidc.authorizationUrl();
    const params = await visit(start.url);
    await oidc.callback(params, start);
    const err = await failure(oidc.callback(params, start));
    expect(err.code).toBe('token_rejected');
  });

  it('has the provider refuse a wrong client secret', async () => {
    const wrong = createOidcClient(configFor(op), { readSecret: () => 'not-the-secret', timeoutMs: 5_000 });
    const err = await failure(signIn(wrong));
    expect(err.code).toBe('token_rejected');
    expect(err.detail).toContain('invalid_client');
    expect(err.detail).not.toContain('not-the-secret');
  });

  it('sends every request through the injected fetch', async () => {
    const seen: string[] = [];
    const counting: typeof fetch = (input, init) => {
      seen.push(new URL(input instanceof Request ? input.url : input).pathname);
      return fetch(input, init);
    };
    await signIn(createOidcClient(configFor(op), depsFor(op, { fetch: counting })));
    expect(seen).toEqual(['/.well-known/openid-configuration', '/token', '/jwks', '/userinfo']);
  });
});

describe('providers that differ', () => {
  it('uses client_secret_post when that is all the provider takes', async () => {
    const op = await provider({ authMethods: ['client_secret_post'] });
    await signIn(createOidcClient(configFor(op), depsFor(op)));
    expect(op.tokenAuth).toEqual(['client_secret_post']);
  });

  it('takes the claims from the ID token when the provider has no userinfo endpoint', async () => {
    const op = await provider({ userinfo: false });
    const claims = await signIn(createOidcClient(configFor(op), depsFor(op)));
    expect(op.requests.userinfo).toBe(0);
    expect(claims).toMatchObject({ sub: cis2User.sub, name: 'Dr Asha Patel', selected_roleid: '555000000002' });
  });

  it('does not let userinfo override the ID token’s protocol claims', async () => {
    const op = await provider({ user: { ...cis2User, iss: 'https://evil.example', aud: 'other', nonce: 'x' } });
    const claims = await signIn(createOidcClient(configFor(op), depsFor(op)));
    expect(claims).toMatchObject({ iss: op.issuer, aud: op.clientId });
    expect(claims.nonce).not.toBe('x');
  });

  it('gives up on a provider that does not answer, within the timeout', async () => {
    const op = await provider();
    op.misbehave = 'token-hangs';
    const oidc = createOidcClient(configFor(op), depsFor(op, { timeoutMs: 1_000 }));
    const started = Date.now();
    const err = await failure(signIn(oidc));
    expect(err.code).toBe('provider_unreachable');
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe('discovery', () => {
  it('does not touch the provider until the first sign-in', async () => {
    const op = await provider();
    createOidcClient(configFor(op), depsFor(op));
    expect(op.requests.discovery).toBe(0);
  });

  it('reports an unreachable provider, and tries again on the next sign-in', async () => {
    const op = await provider();
    let failNext = true;
    const flaky: typeof fetch = (input, init) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new TypeError('fetch failed'));
      }
      return fetch(input, init);
    };
    const oidc = createOidcClient(configFor(op), depsFor(op, { fetch: flaky }));
    expect((await failure(oidc.authorizationUrl())).code).toBe('discovery_failed');
    await expect(signIn(oidc)).resolves.toMatchObject({ sub: cis2User.sub });
  });

  it('refuses a discovery document for a different issuer', async () => {
    const op = await provider();
    op.misbehave = 'discovery-wrong-issuer';
    const err = await failure(createOidcClient(configFor(op), depsFor(op)).authorizationUrl());
    expect(err.code).toBe('discovery_failed');
  });

  it('rediscovers after the cache lifetime', async () => {
    const op = await provider();
    let now = 1_000_000;
    const oidc = createOidcClient(configFor(op), depsFor(op, { now: () => now, discoveryTtlMs: 60_000 }));
    await oidc.authorizationUrl();
    now += 59_999;
    await oidc.authorizationUrl();
    expect(op.requests.discovery).toBe(1);
    now += 1;
    await oidc.authorizationUrl();
    expect(op.requests.discovery).toBe(2);
  });
});

describe('the client secret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pulse-oidc-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is read from the named environment variable', async () => {
    const op = await provider();
    await expect(signIn(createOidcClient(configFor(op), depsFor(op)))).resolves.toMatchObject({ sub: cis2User.sub });
  });

  it('is read from a file, without its trailing newline', async () => {
    const op = await provider();
    const file = join(dir, 'secret');
    await writeFile(file, `${op.clientSecret}\n`, { mode: 0o600 });
    const config = configFor(op, { clientSecret: { file } });
    const oidc = createOidcClient(config, { readSecret: (ref) => readSecretRef(ref, {}), timeoutMs: 5_000 });
    await expect(signIn(oidc)).resolves.toMatchObject({ sub: cis2User.sub });
  });

  it('reports a missing environment variable by name, before contacting the provider', async () => {
    const op = await provider();
    const oidc = createOidcClient(configFor(op), { readSecret: (ref) => readSecretRef(ref, {}) });
    const err = await failure(oidc.authorizationUrl());
    expect(err.code).toBe('secret_unavailable');
    expect(err.detail).toContain(SECRET_ENV);
    expect(op.requests.discovery).toBe(0);
  });

  it('reports a missing or empty file by path', async () => {
    await expect(readSecretRef({ file: join(dir, 'absent') })).rejects.toThrow(/absent \(ENOENT\)/);
    await writeFile(join(dir, 'empty'), '\n');
    await expect(readSecretRef({ file: join(dir, 'empty') })).rejects.toThrow(/is empty/);
    await expect(readSecretRef({ env: 'X' }, { X: '' })).rejects.toThrow(/X .* not set or empty/);
  });
});

describe('the auth.oidc schema', () => {
  const base = {
    issuer: 'https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare',
    clientId: 'pulse',
    clientSecret: { env: 'PULSE_OIDC_CLIENT_SECRET' },
    redirectUrl: 'https://pulse.example.nhs.uk/auth/oidc/callback',
  };
  const issues = (input: Record<string, unknown>) => {
    const r = oidcSchema.safeParse({ ...base, ...input });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('fills the CIS2 scopes, an empty mapping and allowUnmapped: false by default', () => {
    expect(oidcSchema.parse(base)).toEqual({
      ...base,
      scopes: DEFAULT_SCOPES,
      mapping: { icbOps: [], managerRoleCodes: [] },
      allowUnmapped: false,
    });
  });

  it('refuses a client secret written into the file, saying why', () => {
    expect(issues({ clientSecret: 's3cret' })).toEqual([expect.stringMatching(/^clientSecret: the client secret must not be written in the estate file/)]);
  });

  it('takes a secret by env or absolute file, exactly one', () => {
    expect(issues({ clientSecret: { file: '/run/secrets/pulse' } })).toEqual([]);
    expect(issues({ clientSecret: { file: 'secrets/pulse' } })).toEqual([expect.stringContaining('absolute path')]);
    expect(issues({ clientSecret: { env: 'lower' } })).toEqual([expect.stringContaining('environment variable name')]);
    expect(issues({ clientSecret: { env: 'A', file: '/a' } })).toEqual([expect.stringContaining('exactly one of env or file')]);
    expect(issues({ clientSecret: 42 })).toEqual([expect.stringContaining('expected { env: NAME } or { file: /absolute/path }')]);
  });

  it('needs https, except on loopback', () => {
    expect(issues({ issuer: 'http://idp.example.nhs.uk' })).toEqual([expect.stringContaining('must use https')]);
    expect(issues({ issuer: 'http://127.0.0.1:8443' })).toEqual([]);
    expect(issues({ issuer: 'not a url' })).toEqual([expect.stringContaining('absolute URL')]);
  });

  it('needs the redirect URL to be Pulse’s callback path, without a query', () => {
    expect(issues({ redirectUrl: 'https://pulse.example.nhs.uk/callback' })).toEqual([expect.stringContaining('must end with /auth/oidc/callback')]);
    expect(issues({ redirectUrl: 'https://pulse.example.nhs.uk/auth/oidc/callback?x=1' })).toEqual([expect.stringContaining('query')]);
    expect(issues({ redirectUrl: 'http://pulse.example.nhs.uk/auth/oidc/callback' })).toEqual([expect.stringContaining('must use https')]);
  });

  it('needs openid among the scopes', () => {
    expect(issues({ scopes: ['profile'] })).toEqual([expect.stringContaining('must include openid')]);
  });

  it('refuses allowUnmapped: true, saying why', () => {
    expect(issues({ allowUnmapped: true })).toEqual([expect.stringContaining('allowUnmapped must be false')]);
  });

  it('checks mapping codes and refuses unknown fields', () => {
    expect(issues({ mapping: { icbOps: ['qwo'] } })).toEqual([expect.stringContaining('ODS organisation code')]);
    expect(issues({ mapping: { managerRoleCodes: ['Practice Manager'] } })).toEqual([expect.stringContaining('CIS2 role code')]);
    expect(issues({ mapping: { icbOps: ['QWO'], managerRoleCodes: ['R8000', 'S8000:G8000:R8001'] } })).toEqual([]);
    expect(issues({ mapping: { viewers: [] } })).toEqual([expect.stringContaining('mapping')]);
    expect(issues({ clientSecretLiteral: 'x' })).toEqual([expect.stringContaining('clientSecretLiteral')]);
  });
});
