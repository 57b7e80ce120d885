// Password hashing, verification, rehash decisions and the password policy.
import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, dummyVerify, hashPassword, needsRehash, verifyPassword } from '../../../server/auth/password';

// A low cost keeps the tests fast; the format and the logic are the same.
const FAST = { N: 2 ** 10 };

describe('hashPassword / verifyPassword', () => {
  it('writes a self-describing scrypt string and verifies the right password only', async () => {
    const stored = await hashPassword('correct horse battery', FAST);
    const [scheme, N, r, p, salt, key] = stored.split('$');
    expect([scheme, N, r, p]).toEqual(['scrypt', '1024', '8', '1']);
    expect(Buffer.from(salt!, 'base64')).toHaveLength(16);
    expect(Buffer.from(key!, 'base64')).toHaveLength(64);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('uses a fresh salt each time', async () => {
    const a = await hashPassword('same password here', FAST);
    const b = await hashPassword('same password here', FAST);
    expect(a).not.toBe(b);
  });

  it('hashes with the default cost (N=2^15, r=8) without hitting the memory ceiling', async () => {
    const stored = await hashPassword('a default-cost password');
    expect(stored.startsWith('scrypt$32768$8$1$')).toBe(true);
    expect(await verifyPassword('a default-cost password', stored)).toBe(true);
    expect(needsRehash(stored)).toBe(false);
  });

  it('matches the same password typed in another Unicode form (NFKC)', async () => {
    const stored = await hashPassword('caf\u00e9 au lait please', FAST);
    expect(await verifyPassword('cafe\u0301 au lait please', stored)).toBe(true);
  });

  it('returns false, never throws, for malformed or greedy stored strings', async () => {
    const good = await hashPassword('correct horse battery', FAST);
    const [, , , , salt, key] = good.split('$');
    const bad = [
      '',
      'plaintext',
      'bcrypt$10$abc',
      good.replace('scrypt$', 'scrypt2$'),
      `scrypt$1000$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$${2 ** 24}$8$1$${salt}$${key}`, // would allocate 16 GiB
      `scrypt$1024$8$1$${salt}$not*base64`,
      `scrypt$1024$8$1$$${key}`,
      `scrypt$1024$8$1$${salt}$${key}$extra`,
      `scrypt$-1024$8$1$${salt}$${key}`,
      `scrypt$1024$8$1$${salt}$AAAA`, // key too short to mean anything
    ];
    for (const stored of bad) expect(await verifyPassword('correct horse battery', stored), stored).toBe(false);
    expect(await verifyPassword('x', null as unknown as string)).toBe(false);
  });
});

describe('needsRehash', () => {
  it('asks for a rehash when the stored cost is below the current one, or the string is not a hash', async () => {
    const weak = await hashPassword('correct horse battery', FAST);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(weak, FAST)).toBe(false);
    expect(needsRehash(weak, { N: 2 ** 11 })).toBe(true);
    expect(needsRehash(weak, { ...FAST, r: 16 })).toBe(true);
    expect(needsRehash('garbage')).toBe(true);
    const stronger = await hashPassword('correct horse battery', { N: 2 ** 11 });
    expect(needsRehash(stronger, FAST)).toBe(false);
  });
});

describe('dummyVerify', () => {
  it('always says no, after doing the work of a verification', async () => {
    expect(await dummyVerify('anything at all', FAST)).toBe(false);
    const started = performance.now();
    await dummyVerify('anything at all', { N: 2 ** 14 });
    const dummy = performance.now() - started;
    const stored = await hashPassword('anything at all', { N: 2 ** 14 });
    const t0 = performance.now();
    await verifyPassword('wrong password!!', stored);
    const real = performance.now() - t0;
    // Same order of cost (loose bounds: a shared CI core is noisy).
    expect(dummy).toBeGreaterThan(real / 4);
    expect(dummy).toBeLessThan(real * 4 + 20);
  });
});

describe('checkPasswordPolicy', () => {
  it('accepts a long, uncommon password', () => {
    expect(checkPasswordPolicy('correct horse battery staple', 'jsmith')).toBeNull();
    expect(checkPasswordPolicy('7746c-sxvt8-tk6j9-tt5k9', 'jsmith')).toBeNull();
  });

  it('needs at least 12 characters', () => {
    expect(checkPasswordPolicy('Sh0rt&Sw33t', 'jsmith')).toMatch(/at least 12 characters/);
    expect(checkPasswordPolicy('x'.repeat(300), 'jsmith')).toMatch(/at most 256/);
  });

  it('refuses a password containing the username, in any case', () => {
    expect(checkPasswordPolicy('my name is JSmith ok', 'jsmith')).toMatch(/must not contain the username/);
  });

  it('refuses the commonest passwords and common words padded with digits or symbols', () => {
    expect(checkPasswordPolicy('password1234', 'jsmith')).toMatch(/most common passwords/);
    expect(checkPasswordPolicy('Qwerty123456', 'jsmith')).toMatch(/most common passwords/);
    expect(checkPasswordPolicy('Password2024!', 'jsmith')).toMatch(/common password with digits or symbols/);
    expect(checkPasswordPolicy('P@ssw0rd!2024', 'jsmith')).toMatch(/common password with digits or symbols/);
    expect(checkPasswordPolicy('Welcome123456!', 'jsmith')).toMatch(/common password/);
    expect(checkPasswordPolicy('4dm1n1strator!!', 'jsmith')).toMatch(/common password/);
  });

  it('refuses repeats and runs', () => {
    expect(checkPasswordPolicy('aaaaaaaaaaaaaa', 'jsmith')).toMatch(/repeats/);
    expect(checkPasswordPolicy('abababababab', 'jsmith')).toMatch(/repeats/);
    expect(checkPasswordPolicy('345678901234', 'jsmith')).toMatch(/run of consecutive/);
    expect(checkPasswordPolicy('mlkjihgfedcba', 'jsmith')).toMatch(/run of consecutive/);
  });
});
