// Slows password guessing: counts failed sign-ins per account and per client address, and
// locks either out for a while once it passes its limit — longer each time it offends again.
// Pure: time is passed in; nothing here sleeps, logs or touches a store. Memory is bounded.
// Must never: reveal whether an account exists (an unknown username is counted like any
// other), or let a success from one account clear an address's count (password spraying).
import { isIPv4, isIPv6 } from 'node:net';

export interface ThrottleOptions {
  /** Failed sign-ins per account within `windowMs` before it is locked (default 5). */
  accountLimit?: number;
  /** Failed sign-ins per client address within `windowMs` before it is locked (default 20). */
  addressLimit?: number;
  /** The window the limits count over (default 15 min). */
  windowMs?: number;
  /** The first lock-out; each further one doubles it (default 5 min). */
  lockMs?: number;
  /** The longest lock-out (default 1 h). */
  maxLockMs?: number;
  /** How long a past lock-out still counts towards the next one's length (default 24 h). */
  offenderMemoryMs?: number;
  /** Most accounts, and most addresses, tracked at once (default 10,000 each). */
  maxKeys?: number;
}

export type ThrottleDecision =
  | { allowed: true }
  | { allowed: false; retryAfterMs: number; reason: 'account' | 'address' };

const MINUTE = 60_000;
const DEFAULTS: Required<ThrottleOptions> = {
  accountLimit: 5,
  addressLimit: 20,
  windowMs: 15 * MINUTE,
  lockMs: 5 * MINUTE,
  maxLockMs: 60 * MINUTE,
  offenderMemoryMs: 24 * 60 * MINUTE,
  maxKeys: 10_000,
};

interface Entry {
  /** Times of failures within the window since the last lock-out (at most `limit`). */
  failures: number[];
  lockedUntil: number;
  /** Lock-outs so far; the next lasts lockMs · 2^strikes. */
  strikes: number;
  lastFailureAt: number;
}

/** One kind of key (accounts or addresses) with its own limit and its own memory cap. */
class Counter {
  // Insertion order is last-failure order (an entry is re-inserted on each failure), so the
  // first entries are the ones to evict when the cap is reached.
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limit: number,
    private readonly o: Required<ThrottleOptions>,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  lockedFor(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    if (entry.lockedUntil > now) return entry.lockedUntil - now;
    if (this.isStale(entry, now)) this.entries.delete(key);
    return 0;
  }

  fail(key: string, now: number): void {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
    } else {
      entry = { failures: [], lockedUntil: 0, strikes: 0, lastFailureAt: now };
    }
    if (now - entry.lastFailureAt > this.o.offenderMemoryMs) entry.strikes = 0;
    entry.lastFailureAt = now;
    this.entries.set(key, entry);
    // A failure while locked out (a caller that did not check first) neither counts nor extends.
    if (entry.lockedUntil <= now) {
      entry.failures = entry.failures.filter((t) => now - t < this.o.windowMs);
      entry.failures.push(now);
      if (entry.failures.length >= this.limit) {
        entry.lockedUntil = now + Math.min(this.o.maxLockMs, this.o.lockMs * 2 ** Math.min(entry.strikes, 30));
        entry.strikes += 1;
        entry.failures = [];
      }
    }
    if (this.entries.size > this.o.maxKeys) this.evict(now);
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  /** Drops entries that no longer affect any decision. */
  sweep(now: number): void {
    for (const [key, entry] of this.entries) if (this.isStale(entry, now)) this.entries.delete(key);
  }

  private isStale(entry: Entry, now: number): boolean {
    if (entry.lockedUntil > now) return false;
    if (entry.failures.some((t) => now - t < this.o.windowMs)) return false;
    return entry.strikes === 0 || now - entry.lastFailureAt > this.o.offenderMemoryMs;
  }

  /**
   * Over the cap: first drop what no longer matters, then the longest-quiet entries that are
   * not locked out (so a flood of new keys does not free a locked one), and only then locked
   * ones — down to 90% of the cap, so a flood does not sweep the whole map on every failure.
   */
  private evict(now: number): void {
    this.sweep(now);
    const target = Math.floor(this.o.maxKeys * 0.9);
    for (const sparingLocked of [true, false]) {
      for (const [key, entry] of this.entries) {
        if (this.entries.size <= target) return;
        if (sparingLocked && entry.lockedUntil > now) continue;
        this.entries.delete(key);
      }
    }
  }
}

export class LoginThrottle {
  private readonly accounts: Counter;
  private readonly addresses: Counter;

  constructor(options: ThrottleOptions = {}) {
    const o = { ...DEFAULTS, ...options };
    this.accounts = new Counter(o.accountLimit, o);
    this.addresses = new Counter(o.addressLimit, o);
  }

  /** Whether a sign-in attempt may be checked at all; call before verifying the password. */
  check(username: string, address: string, now: number): ThrottleDecision {
    const account = this.accounts.lockedFor(accountKey(username), now);
    const byAddress = this.addresses.lockedFor(addressKey(address), now);
    if (account === 0 && byAddress === 0) return { allowed: true };
    return account >= byAddress
      ? { allowed: false, retryAfterMs: account, reason: 'account' }
      : { allowed: false, retryAfterMs: byAddress, reason: 'address' };
  }

  /** A wrong password, an unknown user or a disabled account: all count the same. */
  recordFailure(username: string, address: string, now: number): void {
    this.accounts.fail(accountKey(username), now);
    this.addresses.fail(addressKey(address), now);
  }

  /** Clears the account's count and history; the address keeps its count (one good password must not excuse spraying). */
  recordSuccess(username: string, _address: string): void {
    this.accounts.clear(accountKey(username));
  }

  /** Drops entries that no longer matter; call now and then (eviction also happens at the cap). */
  sweep(now: number): void {
    this.accounts.sweep(now);
    this.addresses.sweep(now);
  }

  /** Keys tracked (for tests and metrics). */
  size(): { accounts: number; addresses: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size };
  }
}

/** Usernames are case-insensitive, as in the account store. */
export function accountKey(username: string): string {
  return username.trim().toLowerCase().slice(0, 256);
}

/**
 * The key a client address is counted under. IPv4-mapped IPv6 is folded to IPv4, and an
 * IPv6 address to its /64: one household or host is usually given a whole /64, so counting
 * single IPv6 addresses would let one attacker rotate through billions of them.
 */
export function addressKey(address: string): string {
  let a = address.trim().toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv6(a)) return `${expandIPv6(a).slice(0, 4).join(':')}::/64`;
  return a.slice(0, 64);
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const groups = (text: string): string[] =>
    text === ''
      ? []
      : text.split(':').flatMap((g) => {
          if (!g.includes('.')) return [g];
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const zeros = Array<string>(8 - front.length - back.length).fill('0');
  return [...front, ...zeros, ...back].map((g) => parseInt(g, 16).toString(16));
}
