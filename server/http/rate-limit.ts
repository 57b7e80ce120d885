// Token buckets keyed by a caller's credential (a practice's agent token, by its ODS code):
// each request takes one token; tokens come back at the key's rate up to its burst. Memory is
// bounded (at most `maxKeys` buckets; the one idle longest goes first). Never reads the clock
// itself (injected) and never sleeps: it answers now, with how long to wait.

export interface Allowance {
  /** Tokens a second the key earns. */
  perSecond: number;
  /** Most tokens it can hold (its burst); at least 1. */
  burst: number;
}

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface RateLimiterOptions {
  now: () => number;
  /** Buckets kept at most (default 10,000); past it the bucket idle longest is dropped. */
  maxKeys?: number;
}

interface Bucket {
  /** Tokens used and not yet earned back, as of `at`. */
  debt: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(opts: RateLimiterOptions) {
    this.now = opts.now;
    this.maxKeys = opts.maxKeys ?? 10_000;
  }

  /**
   * Takes one token for `key` at `allowance` (which may change between calls, e.g. as a
   * practice's agents are counted: a larger burst is room at once). Refused: how many whole
   * seconds until one token is back.
   */
  take(key: string, allowance: Allowance): Take {
    const now = this.now();
    const perMs = Math.max(allowance.perSecond, Number.MIN_VALUE) / 1000;
    const burst = Math.max(1, allowance.burst);
    const bucket = this.buckets.get(key);
    let debt = bucket ? Math.max(0, bucket.debt - Math.max(0, now - bucket.at) * perMs) : 0;
    if (debt + 1 > burst) {
      this.touch(key, { debt, at: now });
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((debt + 1 - burst) / perMs / 1000)) };
    }
    debt += 1;
    this.touch(key, { debt, at: now });
    return { ok: true };
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size;
  }

  private touch(key: string, bucket: Bucket): void {
    this.buckets.delete(key); // re-inserted last: the Map's order is least recently used first
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
