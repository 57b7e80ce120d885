// The optional bearer token for /metrics (PULSE_METRICS_TOKEN).
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The optional bearer token for /metrics: a check of the Authorization header, in
 * constant time (both sides hashed to the same length first). Null when no token is set.
 */
export function metricsTokenCheck(token: string | undefined): ((authorization: string | undefined) => boolean) | null {
  if (!token) return null;
  const expected = sha256(token);
  return (authorization) => {
    const presented = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    return presented !== undefined && timingSafeEqual(sha256(presented), expected);
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
