// Bearer tokens for checks that must present one (GP Connect through Spine): a JWT
// signed RS256 or ES256 with a private key from a secret reference, minted fresh
// for each request with iat, exp and a unique jti. node:crypto only.
// Must never put the key, or the token, in a detail.
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { durationOption } from './duration';
import { secretRef } from './secrets';

const RESERVED_CLAIMS = ['iat', 'exp', 'jti'] as const;

export const jwtOptions = z
  .object({
    /** PEM private key (PKCS#8, or PKCS#1 / SEC1). */
    key: secretRef,
    alg: z.enum(['RS256', 'ES256']).default('RS256'),
    /** Claims as written; iat, exp and jti are added per request. */
    claims: z
      .record(z.string(), z.json())
      .refine((claims) => !RESERVED_CLAIMS.some((c) => Object.hasOwn(claims, c)), {
        message: `${RESERVED_CLAIMS.join(', ')} are set on each request and cannot be configured`,
      })
      .default({}),
    /** Lifetime of each token (exp - iat). */
    ttl: durationOption.default('5m'),
  })
  .strict();

export type JwtOptions = z.output<typeof jwtOptions>;
export type JwtAlgorithm = JwtOptions['alg'];

export type MintedJwt = { ok: true; token: string } | { ok: false; detail: string };

function keyFitsAlgorithm(key: KeyObject, alg: JwtAlgorithm): string | null {
  if (alg === 'RS256') return key.asymmetricKeyType === 'rsa' ? null : `RS256 needs an RSA key, not ${key.asymmetricKeyType ?? 'this key'}`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return key.asymmetricKeyType === 'ec' && curve === 'prime256v1'
    ? null
    : `ES256 needs an EC P-256 key, not ${key.asymmetricKeyType ?? 'this key'}${curve ? ` on ${curve}` : ''}`;
}

/**
 * Signs `claims` plus iat/exp/jti. `keyName` names the key's reference in a failure
 * (e.g. `jwt.key (file /run/secrets/spine.pem)`); the key itself is never quoted.
 */
export function mintJwt(
  keyPem: string,
  keyName: string,
  alg: JwtAlgorithm,
  claims: Readonly<Record<string, unknown>>,
  ttlMs: number,
  nowMs: number = Date.now(),
): MintedJwt {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, detail: `${keyName} is not a usable PEM private key (${typeof code === 'string' ? code : 'unreadable'})` };
  }
  const mismatch = keyFitsAlgorithm(key, alg);
  if (mismatch) return { ok: false, detail: `${keyName}: ${mismatch}` };
  const iat = Math.floor(nowMs / 1000);
  const header = { alg, typ: 'JWT' };
  const payload = { ...claims, iat, exp: iat + Math.max(1, Math.ceil(ttlMs / 1000)), jti: randomUUID() };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  // JWS wants ECDSA signatures as r||s, not DER.
  const signature = sign('sha256', Buffer.from(input), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return { ok: true, token: `${input}.${signature.toString('base64url')}` };
}
