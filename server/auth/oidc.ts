// The OpenID Connect relying party: builds the sign-in redirect to the provider (NHS CIS2 or
// any certified OP) and turns the provider's callback into verified claims. Authorization code
// flow with PKCE (S256), state and nonce; the ID token's signature, iss, aud, exp and nonce are
// checked by openid-client (panva's certified RP library); userinfo is fetched and merged when
// the provider offers it, because CIS2 sends the role claims there.
// Never maps claims to roles (claims.ts does), never touches sessions or cookies (the routes do),
// and never puts a token, code or secret in an error: OidcError carries a code, a message safe to
// show a user, and a detail safe to log.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';
import type { OidcConfig, SecretRef } from './oidc-config';

export type OidcErrorCode =
  /** The client secret reference could not be read (deployment mistake). */
  | 'secret_unavailable'
  /** The provider's discovery document could not be fetched or was not valid for the issuer. */
  | 'discovery_failed'
  /** The provider could not be reached, or did not answer in time. */
  | 'provider_unreachable'
  /** The provider sent the user back with an error (e.g. access_denied: they cancelled). */
  | 'provider_error'
  /** The callback's state is missing or not the one this browser started with (CSRF, or a stale tab). */
  | 'state_mismatch'
  /** The callback is malformed (no code, a wrong `iss` parameter…). */
  | 'invalid_callback'
  /** The token endpoint refused the exchange (bad code, wrong PKCE verifier, wrong client credentials). */
  | 'token_rejected'
  | 'id_token_signature'
  | 'id_token_issuer'
  | 'id_token_audience'
  | 'id_token_expired'
  | 'nonce_mismatch'
  /** Any other ID token defect (missing, malformed, not yet valid…). */
  | 'id_token_invalid'
  /** The userinfo endpoint failed or answered for a different subject. */
  | 'userinfo_failed'
  /** Anything else the provider sent that the library would not accept. */
  | 'invalid_response';

const MESSAGES: Record<OidcErrorCode, string> = {
  secret_unavailable: 'Sign-in with your NHS identity is not configured correctly on this server. Use a local account and tell your Pulse administrator.',
  discovery_failed: 'The identity provider could not be used just now. Try again, or use a local account.',
  provider_unreachable: 'The identity provider did not answer. Try again, or use a local account.',
  provider_error: 'The identity provider did not sign you in.',
  state_mismatch: 'This sign-in was not started from this browser, or took too long. Please start again.',
  invalid_callback: 'The identity provider sent an incomplete sign-in response. Please start again.',
  token_rejected: 'The identity provider refused to complete the sign-in. Please start again.',
  id_token_signature: 'The identity provider’s answer could not be verified (signature). Sign-in refused.',
  id_token_issuer: 'The identity provider’s answer came from an unexpected issuer. Sign-in refused.',
  id_token_audience: 'The identity provider’s answer was meant for a different application. Sign-in refused.',
  id_token_expired: 'The identity provider’s answer has expired. Check this server’s clock, then start again.',
  nonce_mismatch: 'The identity provider’s answer does not belong to this sign-in. Please start again.',
  id_token_invalid: 'The identity provider’s answer could not be accepted. Sign-in refused.',
  userinfo_failed: 'Your roles could not be read from the identity provider. Please start again.',
  invalid_response: 'The identity provider’s answer could not be accepted. Sign-in refused.',
};

export class OidcError extends Error {
  /**
   * @param code what went wrong, for the route and the audit log
   * @param detail for the server log: the library's description and, where useful, the values
   *   compared (issuer, audience). Never a token, code, verifier or secret.
   */
  constructor(
    readonly code: OidcErrorCode,
    readonly detail: string = MESSAGES[code],
  ) {
    super(MESSAGES[code]);
    this.name = 'OidcError';
  }
}

/** Claims of the signed-in user: the ID token's, with userinfo's merged over all but the protocol claims. */
export type OidcClaims = { sub: string } & Record<string, unknown>;

/** What the start route keeps (in a short-lived HttpOnly cookie) to check the callback against. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface OidcClient {
  /** Where to send the browser, and the values to keep until the callback. */
  authorizationUrl(): Promise<{ url: string } & PendingSignIn>;
  /** Checks the callback's query against what the start route kept; resolves to the verified claims. */
  callback(params: URLSearchParams, expected: PendingSignIn): Promise<OidcClaims>;
}

export interface OidcClientDeps {
  /** Resolves the secret reference (readSecretRef in oidc-config.ts); called at each discovery. */
  readSecret: (ref: SecretRef) => string | Promise<string>;
  fetch?: typeof globalThis.fetch;
  /** Per request to the provider. Default 10 s. */
  timeoutMs?: number;
  /** How long discovered metadata is reused. Default 1 h; a failed discovery is not cached. */
  discoveryTtlMs?: number;
  now?: () => number;
}

/** Claims only the ID token may set: userinfo cannot override who, for whom, or when. */
const PROTOCOL_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'azp', 'auth_time', 'acr', 'amr', 'sid', 'at_hash', 'c_hash'];

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return a.length > 0 && b.length > 0 && timingSafeEqual(digest(a), digest(b));
}

/** A provider-sent value fit for a log line: printable, bounded. */
function loggable(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return s.replace(/[^\x20-\x7E]/g, '?').slice(0, 200);
}

/** The inner cause's `{ claim, expected, claims }` of a JWT check failure, when there is one. */
function jwtCheck(err: Error): { claim?: string; expected?: unknown; claims?: Record<string, unknown> } {
  let at: unknown = err;
  for (let i = 0; i < 3 && at instanceof Error; i++) at = at.cause;
  if (typeof at === 'object' && at !== null && 'claim' in at) return at as ReturnType<typeof jwtCheck>;
  return {};
}

/** The OAuth error code (`invalid_grant`, `invalid_client`…) an endpoint answered with, if it said. */
async function oauthErrorOf(err: client.ResponseBodyError | client.WWWAuthenticateChallengeError): Promise<string> {
  if (err instanceof client.ResponseBodyError) return err.error;
  const fromChallenge = err.cause[0]?.parameters.error;
  if (fromChallenge) return fromChallenge;
  const body: unknown = await err.response.clone().json().catch(() => null);
  return typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string' ? body.error : '';
}

/** Maps any failure of the library or the network to an OidcError. `stage` decides the generic codes. */
async function toOidcError(err: unknown, stage: 'discovery' | 'token' | 'userinfo'): Promise<OidcError> {
  if (err instanceof OidcError) return err;
  const generic: OidcErrorCode = stage === 'discovery' ? 'discovery_failed' : stage === 'token' ? 'token_rejected' : 'userinfo_failed';
  const unreachable: OidcErrorCode = stage === 'discovery' ? 'discovery_failed' : 'provider_unreachable';
  if (err instanceof client.AuthorizationResponseError) return new OidcError('provider_error', `authorization response error ${loggable(err.error)}`);
  if (err instanceof client.ResponseBodyError || err instanceof client.WWWAuthenticateChallengeError) {
    return new OidcError(generic, `${stage} endpoint answered ${err.status} ${loggable(await oauthErrorOf(err))}`.trimEnd());
  }
  if (!(err instanceof Error)) return new OidcError(generic, `${stage}: ${loggable(err)}`);
  const code = (err as { code?: unknown }).code;
  // openid-client wraps oauth4webapi's error; the inner message says which check failed.
  const inner = err.cause instanceof Error ? err.cause.message : '';
  const tag = typeof code === 'string' ? ` [${code}]` : '';
  const detail = `${stage}: ${loggable(inner || err.message)}${tag}`;
  if (code === 'OAUTH_TIMEOUT' || err.name === 'TimeoutError' || err.name === 'AbortError' || (err instanceof TypeError && err.message === 'fetch failed')) {
    return new OidcError(unreachable, `${stage}: the provider did not answer (${loggable(err.message)})`);
  }
  if (stage === 'discovery') return new OidcError('discovery_failed', detail);
  const check = jwtCheck(err);
  const seen = (claim: string) =>
    `${stage}: ${loggable(inner)} (expected ${loggable(check.expected)}, got ${loggable(check.claims?.[claim] ?? 'nothing')})${tag}`;
  const said = `${err.message} ${inner}`;
  switch (code) {
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      if (check.claim === 'iss') return new OidcError('id_token_issuer', seen('iss'));
      if (check.claim === 'aud' || check.claim === 'azp') return new OidcError('id_token_audience', seen(check.claim));
      if (check.claim === 'nonce') return new OidcError('nonce_mismatch', detail);
      return new OidcError('id_token_invalid', detail);
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new OidcError(check.claim === 'exp' || check.claim === 'iat' ? 'id_token_expired' : 'id_token_invalid', detail);
    case 'OAUTH_KEY_SELECTION_FAILED':
      return new OidcError('id_token_signature', detail);
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      return new OidcError(stage === 'userinfo' ? 'userinfo_failed' : 'invalid_response', detail);
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
      return new OidcError(generic, detail);
    case 'OAUTH_INVALID_RESPONSE':
    case 'OAUTH_UNSUPPORTED_OPERATION':
      if (/signature|"alg"|JWS algorithm/.test(said)) return new OidcError('id_token_signature', detail);
      if (/"state"|"iss"|"code"|"parameters"/.test(said)) return new OidcError('invalid_callback', detail);
      if (/ID Token|id_token|JWT/.test(said)) return new OidcError('id_token_invalid', detail);
      return new OidcError('invalid_response', detail);
    default:
      return new OidcError('invalid_response', detail);
  }
}

/**
 * A relying party for one provider. Nothing touches the network until the first sign-in:
 * Pulse must start (and local break-glass accounts work) while the provider is down (H7).
 */
export function createOidcClient(config: OidcConfig, deps: OidcClientDeps): OidcClient {
  const now = deps.now ?? Date.now;
  const ttl = deps.discoveryTtlMs ?? 60 * 60_000;
  const timeout = Math.max(1, Math.ceil((deps.timeoutMs ?? 10_000) / 1000));
  const insecure = new URL(config.issuer).protocol === 'http:' && LOOPBACK_HOSTS.has(new URL(config.issuer).hostname);
  const fetchImpl = deps.fetch;
  // The library's body type includes Uint8Array<ArrayBufferLike>, which TS's RequestInit does not name; fetch takes it.
  const customFetch: client.CustomFetch | undefined = fetchImpl ? (url, options) => fetchImpl(url, options as RequestInit) : undefined;
  let cached: { at: number; configuration: Promise<client.Configuration> } | null = null;

  async function discover(): Promise<client.Configuration> {
    let secret: string;
    try {
      secret = await deps.readSecret(config.clientSecret);
    } catch (err) {
      throw new OidcError('secret_unavailable', err instanceof Error ? err.message : 'the client secret could not be read');
    }
    let discovered: client.Configuration;
    try {
      discovered = await client.discovery(new URL(config.issuer), config.clientId, undefined, client.None(), {
        timeout,
        execute: insecure ? [client.allowInsecureRequests] : [],
        ...(customFetch ? { [client.customFetch]: customFetch } : {}),
      });
    } catch (err) {
      throw await toOidcError(err, 'discovery');
    }
    const server = discovered.serverMetadata();
    // Basic is the OIDC default (and keeps the secret out of request bodies); post when that is all the provider takes.
    const methods = server.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    const auth = methods.includes('client_secret_basic')
      ? client.ClientSecretBasic(secret)
      : methods.includes('client_secret_post')
        ? client.ClientSecretPost(secret)
        : null;
    if (!auth) throw new OidcError('discovery_failed', `the provider takes neither client_secret_basic nor client_secret_post (it takes ${loggable(methods)})`);
    const configuration = new client.Configuration({ ...server }, config.clientId, { client_secret: secret }, auth);
    configuration.timeout = timeout;
    if (customFetch) configuration[client.customFetch] = customFetch;
    if (insecure) client.allowInsecureRequests(configuration);
    // Verify the ID token's signature against the provider's JWKS too, not only TLS.
    client.enableNonRepudiationChecks(configuration);
    return configuration;
  }

  function configuration(): Promise<client.Configuration> {
    if (cached && now() - cached.at < ttl) return cached.configuration;
    const attempt = discover();
    const entry = { at: now(), configuration: attempt };
    cached = entry;
    attempt.catch(() => {
      if (cached === entry) cached = null;
    });
    return attempt;
  }

  return {
    async authorizationUrl() {
      const conf = await configuration();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const codeVerifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(conf, {
        response_type: 'code',
        redirect_uri: config.redirectUrl,
        scope: config.scopes.join(' '),
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, state, nonce, codeVerifier };
    },

    async callback(params, expected) {
      // Our own check first, constant-time: a forged or stale callback stops here, before any request.
      if (!sameSecret(params.get('state') ?? '', expected.state)) {
        throw new OidcError('state_mismatch', params.has('state') ? 'state differs from the one this browser started with' : 'no state in the callback');
      }
      const error = params.get('error');
      if (error !== null) throw new OidcError('provider_error', `the provider answered error=${loggable(error)}`);
      if (!params.get('code')) throw new OidcError('invalid_callback', 'no code in the callback');
      const conf = await configuration();

      const currentUrl = new URL(config.redirectUrl);
      currentUrl.search = params.toString();
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(conf, currentUrl, {
          pkceCodeVerifier: expected.codeVerifier,
          expectedState: expected.state,
          expectedNonce: expected.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw await toOidcError(err, 'token');
      }
      const idClaims = tokens.claims();
      if (!idClaims) throw new OidcError('id_token_invalid', 'the token response has no ID token');

      let userinfo: Record<string, unknown> = {};
      if (conf.serverMetadata().userinfo_endpoint) {
        try {
          userinfo = await client.fetchUserInfo(conf, tokens.access_token, idClaims.sub);
        } catch (err) {
          throw await toOidcError(err, 'userinfo');
        }
      }
      const protocol = Object.fromEntries(PROTOCOL_CLAIMS.filter((c) => c in idClaims).map((c) => [c, idClaims[c]]));
      return { ...idClaims, ...userinfo, ...protocol, sub: idClaims.sub };
    },
  };
}
