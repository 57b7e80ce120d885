// The sign-in throttle, with a clock the test moves by hand.
import { describe, expect, it } from 'vitest';
import { LoginThrottle, addressKey } from '../../../server/auth/throttle';

const MIN = 60_000;
const T0 = 1_800_000_000_000;

function failTimes(t: LoginThrottle, n: number, username: string, address: string, at: number) {
  for (let i = 0; i < n; i++) t.recordFailure(username, address, at);
}

describe('LoginThrottle per account', () => {
  it('allows four failures, locks the account at the fifth, and reopens after the lock-out', () => {
    const t = new LoginThrottle();
    failTimes(t, 4, 'jsmith', '10.0.0.1', T0);
    expect(t.check('jsmith', '10.0.0.1', T0)).toEqual({ allowed: true });
    t.recordFailure('jsmith', '10.0.0.1', T0 + 1000);
    expect(t.check('jsmith', '10.0.0.9', T0 + 1000)).toEqual({ allowed: false, retryAfterMs: 5 * MIN, reason: 'account' });
    expect(t.check('jsmith', '10.0.0.9', T0 + 1000 + 5 * MIN - 1)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    expect(t.check('jsmith', '10.0.0.9', T0 + 1000 + 5 * MIN)).toEqual({ allowed: true });
    // Another account from the same address is not affected.
    expect(t.check('other', '10.0.0.1', T0 + 1000)).toEqual({ allowed: true });
  });

  it('compares usernames case-insensitively', () => {
    const t = new LoginThrottle();
    for (const name of ['JSmith', 'jsmith', 'JSMITH', ' jSmith ', 'jsmitH']) t.recordFailure(name, '10.0.0.1', T0);
    expect(t.check('jsmith', '10.0.0.2', T0)).toMatchObject({ allowed: false, reason: 'account' });
  });

  it('counts only failures within the window', () => {
    const t = new LoginThrottle();
    failTimes(t, 4, 'jsmith', '10.0.0.1', T0);
    t.recordFailure('jsmith', '10.0.0.1', T0 + 15 * MIN); // the first four have left the window
    expect(t.check('jsmith', '10.0.0.1', T0 + 15 * MIN)).toEqual({ allowed: true });
  });

  it('doubles the lock-out for a repeat offender, up to the cap', () => {
    const t = new LoginThrottle();
    let now = T0;
    const locks: number[] = [];
    for (let round = 0; round < 6; round++) {
      failTimes(t, 5, 'jsmith', `10.0.${round}.1`, now);
      const decision = t.check('jsmith', '10.9.9.9', now);
      if (decision.allowed) throw new Error('expected a lock-out');
      locks.push(decision.retryAfterMs / MIN);
      now += decision.retryAfterMs;
    }
    expect(locks).toEqual([5, 10, 20, 40, 60, 60]);
  });

  it('forgets past offences after a quiet day', () => {
    const t = new LoginThrottle();
    failTimes(t, 5, 'jsmith', '10.0.0.1', T0);
    const later = T0 + 25 * 60 * MIN;
    failTimes(t, 5, 'jsmith', '10.0.0.2', later);
    expect(t.check('jsmith', '10.0.0.3', later)).toMatchObject({ allowed: false, retryAfterMs: 5 * MIN });
  });

  it('a success clears the account, but not the address', () => {
    const t = new LoginThrottle({ addressLimit: 6 });
    failTimes(t, 4, 'jsmith', '10.0.0.1', T0);
    t.recordSuccess('JSMITH', '10.0.0.1');
    failTimes(t, 1, 'jsmith', '10.0.0.1', T0);
    expect(t.check('jsmith', '10.0.0.2', T0)).toEqual({ allowed: true }); // 1 failure since the success, not 5
    // The address has 5 failures; one more locks it, whoever's password was right.
    t.recordFailure('someone-else', '10.0.0.1', T0);
    expect(t.check('jsmith', '10.0.0.1', T0)).toMatchObject({ allowed: false, reason: 'address' });
  });

  it('does not extend a lock-out for failures recorded while locked', () => {
    const t = new LoginThrottle();
    failTimes(t, 5, 'jsmith', '10.0.0.1', T0);
    failTimes(t, 10, 'jsmith', '10.0.0.1', T0 + MIN);
    expect(t.check('jsmith', '10.0.0.2', T0 + MIN)).toMatchObject({ allowed: false, retryAfterMs: 4 * MIN });
  });
});

describe('LoginThrottle per address', () => {
  it('locks an address after 20 failures across many accounts (password spraying)', () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 19; i++) t.recordFailure(`user${i}`, '203.0.113.7', T0);
    expect(t.check('user99', '203.0.113.7', T0)).toEqual({ allowed: true });
    t.recordFailure('user19', '203.0.113.7', T0);
    expect(t.check('user99', '203.0.113.7', T0)).toEqual({ allowed: false, retryAfterMs: 5 * MIN, reason: 'address' });
    // The same accounts from elsewhere are fine: each had one failure.
    expect(t.check('user1', '198.51.100.1', T0)).toEqual({ allowed: true });
  });

  it('reports the longer of two lock-outs', () => {
    const t = new LoginThrottle({ addressLimit: 5 });
    failTimes(t, 5, 'jsmith', '203.0.113.7', T0); // both locked for 5 min
    failTimes(t, 5, 'x', '203.0.113.7', T0 + 5 * MIN); // the address again: 10 min
    expect(t.check('jsmith', '203.0.113.7', T0 + 5 * MIN)).toEqual({ allowed: false, retryAfterMs: 10 * MIN, reason: 'address' });
  });

  it('counts an IPv6 /64 as one address, and IPv4-mapped IPv6 as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    const t = new LoginThrottle({ addressLimit: 3 });
    t.recordFailure('a', '2001:db8:1:2::1', T0);
    t.recordFailure('b', '2001:db8:1:2::2', T0);
    t.recordFailure('c', '2001:db8:1:2:ffff::3', T0);
    expect(t.check('d', '2001:db8:1:2::99', T0)).toMatchObject({ allowed: false, reason: 'address' });
    expect(t.check('d', '2001:db8:1:3::1', T0)).toEqual({ allowed: true });
  });
});

describe('LoginThrottle memory', () => {
  it('never tracks more than the cap, and keeps locked entries over quiet ones', () => {
    const t = new LoginThrottle({ maxKeys: 100, accountLimit: 2 });
    failTimes(t, 2, 'victim', '10.0.0.1', T0); // locked
    for (let i = 0; i < 5000; i++) t.recordFailure(`guess${i}`, `10.1.${i >> 8}.${i & 255}`, T0 + i);
    const size = t.size();
    expect(size.accounts).toBeLessThanOrEqual(100);
    expect(size.addresses).toBeLessThanOrEqual(100);
    expect(t.check('victim', '10.9.9.9', T0 + 5000)).toMatchObject({ allowed: false, reason: 'account' });
  });

  it('sweeps entries that no longer matter', () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 50; i++) t.recordFailure(`user${i}`, `10.0.0.${i}`, T0);
    failTimes(t, 5, 'repeat', '10.0.1.1', T0);
    t.sweep(T0 + 16 * MIN);
    // Only the locked-out account is remembered (its next lock-out will be longer); no address was locked.
    expect(t.size()).toEqual({ accounts: 1, addresses: 0 });
    t.sweep(T0 + 25 * 60 * MIN);
    expect(t.size()).toEqual({ accounts: 0, addresses: 0 });
  });
});
