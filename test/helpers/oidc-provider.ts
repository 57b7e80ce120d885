// A small, real OpenID Connect provider for tests: node:http + node:crypto, RS256 keys made at
// start, bound to 127.0.0.1 on an ephemeral port. No UI: /authorize signs in the configured test
// user at once and redirects back with a code. It checks what a real provider checks (client
// credentials, redirect_uri, one-time codes, PKCE S256) and can be told to misbehave so the
// relying party's checks can be seen to fire. Never used outside tests.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Misbehaviour =
  | 'wrong-issuer'
  /** The discovery document names another issuer than the one it was fetched for. */
  | 'discovery-wrong-issuer'
  | 'expired-id-token'
  | 'bad-signature'
  | 'unknown-key'
  | 'alg-none'
  | 'wrong-nonce'
  | 'wrong-audience'
  | 'userinfo-wrong-subject'
  /** /authorize answers error=access_denied, as when the user cancels. */
  | 'deny'
  /** /token never answers (the client's timeout must end the wait). */
  | 'token-hangs';

export type AuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface ProviderOptions {
  clientId?: string;
  clientSecret?: string;
  /** The one redirect URI registered for the client; matched exactly. */
  redirectUri: string;
  /** The signed-in user's claims (must include `sub`). Sent from userinfo, or in the ID token when userinfo is off. */
  user: { sub: string } & Record<string, unknown>;
  authMethods?: AuthMethod[];
  /** Offer a userinfo endpoint (CIS2 does). Default true. */
  userinfo?: boolean;
}

export interface AuthorizeRecord {
  nonce: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  scope: string | null;
  state: string | null;
}

export interface TestOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  misbehave: Misbehaviour | null;
  user: { sub: string } & Record<string, unknown>;
  readonly requests: { discovery: number; authorize: number; token: number; userinfo: number; jwks: number };
  /** How the client authenticated at /token, in order. */
  readonly tokenAuth: AuthMethod[];
  /** Each /authorize request's parameters, in order. */
  readonly authorizations: AuthorizeRecord[];
  /** Every code, access token and ID token handed out: errors must never contain them. */
  readonly issued: string[];
  stop(): Promise<void>;
}

interface PendingCode {
  redirectUri: string;
  nonce: string | null;
  challenge: string;
  expiresAt: number;
  used: boolean;
  user: { sub: string } & Record<string, unknown>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

function signJwt(claims: Record<string, unknown>, key: KeyObject | null, kid: string): string {
  const header = key ? { alg: 'RS256', typ: 'JWT', kid } : { alg: 'none', typ: 'JWT' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${key ? b64url(sign('sha256', Buffer.from(input), key)) : ''}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };
let keys: { signing: KeyPair; impostor: KeyPair } | null = null;
/** Made once per test process (RSA key generation is the slow part); `impostor` signs what should not verify. */
function testKeys(): { signing: KeyPair; impostor: KeyPair } {
  keys ??= {
    signing: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    impostor: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  };
  return keys;
}

const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

export async function startOidcProvider(options: ProviderOptions): Promise<TestOidcProvider> {
  const clientId = options.clientId ?? 'pulse-test';
  const clientSecret = options.clientSecret ?? `secret-${randomBytes(8).toString('hex')}`;
  const authMethods = options.authMethods ?? ['client_secret_basic', 'client_secret_post'];
  const offerUserinfo = options.userinfo ?? true;
  const { signing, impostor } = testKeys();
  const kid = 'test-key-1';
  const codes = new Map<string, PendingCode>();
  const accessTokens = new Map<string, { sub: string } & Record<string, unknown>>();
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider: TestOidcProvider = {
    issuer,
    clientId,
    clientSecret,
    misbehave: null,
    user: options.user,
    requests: { discovery: 0, authorize: 0, token: 0, userinfo: 0, jwks: 0 },
    tokenAuth: [],
    authorizations: [],
    issued: [],
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /.well-known/openid-configuration':
        provider.requests.discovery++;
        return json(res, 200, {
          issuer: provider.misbehave === 'discovery-wrong-issuer' ? `${issuer}/elsewhere` : issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          ...(offerUserinfo ? { userinfo_endpoint: `${issuer}/userinfo` } : {}),
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid', 'profile', 'nationalrbacaccess', 'associatedorgs', 'selectedrole'],
          token_endpoint_auth_methods_supported: authMethods,
          code_challenge_methods_supported: ['S256'],
          grant_types_supported: ['authorization_code'],
        });
      case 'GET /jwks': {
        provider.requests.jwks++;
        const jwk = signing.publicKey.export({ format: 'jwk' });
        return json(res, 200, { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] });
      }
      case 'GET /authorize':
        return authorize(url.searchParams, res);
      case 'POST /token':
        return token(req, res);
      case 'GET /userinfo':
        return userinfo(req, res);
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  function authorize(q: URLSearchParams, res: ServerResponse): void {
    provider.requests.authorize++;
    const record: AuthorizeRecord = {
      nonce: q.get('nonce'),
      codeChallenge: q.get('code_challenge'),
      codeChallengeMethod: q.get('code_challenge_method'),
      scope: q.get('scope'),
      state: q.get('state'),
    };
    provider.authorizations.push(record);
    // Without a registered client and redirect URI there is nowhere safe to send an error.
    if (q.get('client_id') !== clientId) return void res.writeHead(400).end('unknown client_id');
    if (q.get('redirect_uri') !== options.redirectUri) return void res.writeHead(400).end('redirect_uri is not registered');
    const back = new URL(options.redirectUri);
    const reply = (params: Record<string, string>) => {
      for (const [k, v] of Object.entries(params)) back.searchParams.set(k, v);
      if (record.state !== null) back.searchParams.set('state', record.state);
      res.writeHead(302, { location: back.href }).end();
    };
    if (q.get('response_type') !== 'code') return reply({ error: 'unsupported_response_type' });
    if (!record.scope?.split(' ').includes('openid')) return reply({ error: 'invalid_scope' });
    if (!record.codeChallenge || record.codeChallengeMethod !== 'S256') {
      return reply({ error: 'invalid_request', error_description: 'PKCE S256 is required' });
    }
    if (provider.misbehave === 'deny') return reply({ error: 'access_denied' });
    const code = randomBytes(24).toString('base64url');
    provider.issued.push(code);
    codes.set(code, {
      redirectUri: options.redirectUri,
      nonce: record.nonce,
      challenge: record.codeChallenge,
      expiresAt: Date.now() + 60_000,
      used: false,
      user: provider.user,
    });
    reply({ code });
  }

  /** The client's credentials by either allowed method, or the reason they are refused. */
  function clientAuth(req: IncomingMessage, body: URLSearchParams): string | null {
    const header = req.headers.authorization;
    let id: string | null = null;
    let secret: string | null = null;
    let method: AuthMethod;
    if (header?.startsWith('Basic ')) {
      if (body.has('client_secret')) return 'more than one client authentication method';
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return 'malformed Basic credentials';
      id = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
      method = 'client_secret_basic';
    } else {
      id = body.get('client_id');
      secret = body.get('client_secret');
      method = 'client_secret_post';
    }
    if (!authMethods.includes(method)) return `${method} is not allowed`;
    provider.tokenAuth.push(method);
    if (id !== clientId || secret !== clientSecret) return 'wrong client credentials';
    return null;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    provider.requests.token++;
    const body = new URLSearchParams(await readBody(req));
    if (provider.misbehave === 'token-hangs') {
      hanging.add(res);
      return;
    }
    const authError = clientAuth(req, body);
    if (authError) return json(res, 401, { error: 'invalid_client', error_description: authError }, { 'www-authenticate': 'Basic realm="token"' });
    if (body.get('grant_type') !== 'authorization_code') return json(res, 400, { error: 'unsupported_grant_type' });
    const code = body.get('code') ?? '';
    const pending = codes.get(code);
    if (!pending || pending.used || pending.expiresAt < Date.now()) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'unknown, used or expired code' });
    }
    pending.used = true; // one use, even when the rest of the request is wrong
    if (body.get('redirect_uri') !== pending.redirectUri) return json(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri differs' });
    const verifier = body.get('code_verifier') ?? '';
    const computed = createHash('sha256').update(verifier).digest('base64url');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== pending.challenge) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
    }

    const now = Math.floor(Date.now() / 1000);
    const m = provider.misbehave;
    const iat = m === 'expired-id-token' ? now - 900 : now;
    const { sub, ...profile } = pending.user;
    const idClaims: Record<string, unknown> = {
      iss: m === 'wrong-issuer' ? `${issuer}/elsewhere` : issuer,
      aud: m === 'wrong-audience' ? 'someone-else' : clientId,
      sub,
      nonce: m === 'wrong-nonce' ? 'not-the-nonce' : pending.nonce,
      iat,
      auth_time: iat,
      exp: m === 'expired-id-token' ? now - 300 : now + 300,
      ...(offerUserinfo ? {} : profile),
    };
    const key = m === 'alg-none' ? null : m === 'bad-signature' || m === 'unknown-key' ? impostor.privateKey : signing.privateKey;
    const idToken = signJwt(idClaims, key, m === 'unknown-key' ? 'someone-elses-key' : kid);
    const accessToken = randomBytes(24).toString('base64url');
    accessTokens.set(accessToken, pending.user);
    provider.issued.push(idToken, accessToken);
    json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken, scope: 'openid' });
  }

  function userinfo(req: IncomingMessage, res: ServerResponse): void {
    provider.requests.userinfo++;
    const header = req.headers.authorization ?? '';
    const user = header.startsWith('Bearer ') ? accessTokens.get(header.slice(7)) : undefined;
    if (!offerUserinfo || !user) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    json(res, 200, provider.misbehave === 'userinfo-wrong-subject' ? { ...user, sub: 'someone-else' } : user);
  }

  return provider;
}
