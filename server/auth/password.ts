// Password hashing (scrypt), verification and the password policy for local accounts.
// A stored hash describes its own parameters (`scrypt$N$r$p$salt$hash`), so the cost can be
// raised later and old hashes upgraded at the next sign-in (`needsRehash`).
// Must never: compare secrets with `===`, log or return a password, or throw on a bad stored
// string (a corrupt row must read as "wrong password", not crash the sign-in route).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface HashOptions {
  /** CPU/memory cost; a power of two. */
  N?: number;
  /** Block size. */
  r?: number;
  /** Parallelism. */
  p?: number;
  saltBytes?: number;
  keyBytes?: number;
}

/** Today's parameters: about 32 MiB and ~100 ms per hash on a server core. */
export const CURRENT_HASH: Required<HashOptions> = { N: 2 ** 15, r: 8, p: 1, saltBytes: 16, keyBytes: 64 };

// Bounds on what a stored string may ask for, so a corrupt or planted row cannot make one
// verification allocate gigabytes or spin for minutes.
const LIMITS = { maxN: 2 ** 20, maxR: 32, maxP: 16, minSalt: 8, maxSalt: 64, minKey: 16, maxKey: 128 };

const PREFIX = 'scrypt';
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Passwords are compared as NFKC so the same password typed on two keyboards still matches. */
function encode(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

function derive(password: string, salt: Buffer, keyBytes: number, N: number, r: number, p: number): Promise<Buffer> {
  // OpenSSL needs 128·r·(N + p + 2) bytes; Node's default ceiling (32 MiB) is just short of N=2^15, r=8.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * r * (N + p + 2) + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(encode(password), salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a password with a fresh random salt: `scrypt$N$r$p$saltB64$hashB64`. */
export async function hashPassword(password: string, opts: HashOptions = {}): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = { ...CURRENT_HASH, ...opts };
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, keyBytes, N, r, p);
  return [PREFIX, N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function positiveInt(text: string | undefined): number | null {
  if (text === undefined || !/^[1-9]\d{0,9}$/.test(text)) return null;
  return Number(text);
}

function base64(text: string | undefined): Buffer | null {
  if (text === undefined || text.length % 4 !== 0 || !B64.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/** The parts of a stored hash, or null when it is not one this module wrote (or asks too much). */
function parseHash(stored: unknown): ParsedHash | null {
  if (typeof stored !== 'string' || stored.length > 1024) return null;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return null;
  const N = positiveInt(parts[1]);
  const r = positiveInt(parts[2]);
  const p = positiveInt(parts[3]);
  const salt = base64(parts[4]);
  const key = base64(parts[5]);
  if (N === null || r === null || p === null || salt === null || key === null) return null;
  if (N < 2 || (N & (N - 1)) !== 0 || N > LIMITS.maxN || r > LIMITS.maxR || p > LIMITS.maxP) return null;
  if (salt.length < LIMITS.minSalt || salt.length > LIMITS.maxSalt) return null;
  if (key.length < LIMITS.minKey || key.length > LIMITS.maxKey) return null;
  return { N, r, p, salt, key };
}

/** True when `password` matches `stored`; false for a wrong password or a malformed stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed || typeof password !== 'string') return false;
  let key: Buffer;
  try {
    key = await derive(password, parsed.salt, parsed.key.length, parsed.N, parsed.r, parsed.p);
  } catch {
    return false;
  }
  return timingSafeEqual(key, parsed.key);
}

/** True when `stored` was made with weaker parameters than `current` (or is not a hash at all). */
export function needsRehash(stored: string, current: HashOptions = {}): boolean {
  const want = { ...CURRENT_HASH, ...current };
  const parsed = parseHash(stored);
  if (!parsed) return true;
  return (
    parsed.N < want.N ||
    parsed.r < want.r ||
    parsed.p < want.p ||
    parsed.salt.length < want.saltBytes ||
    parsed.key.length < want.keyBytes
  );
}

/**
 * Does the work of one verification and returns false. The sign-in route calls it when there
 * is no such user (or the account has no local password), so the response time does not tell
 * an attacker which usernames exist.
 */
export async function dummyVerify(password: string, opts: HashOptions = {}): Promise<false> {
  const { N, r, p, saltBytes, keyBytes } = { ...CURRENT_HASH, ...opts };
  const key = await derive(typeof password === 'string' ? password : '', randomBytes(saltBytes), keyBytes, N, r, p);
  // Compare as a real verification would, against a value that can never match.
  timingSafeEqual(key, Buffer.alloc(keyBytes));
  return false;
}

export const MIN_PASSWORD_LENGTH = 12;
/** Long enough for any passphrase; stops a megabyte "password" being hashed on every attempt. */
export const MAX_PASSWORD_LENGTH = 256;

// The commonest passwords that are long enough to pass the length rule (shorter ones fail it
// anyway), as published in breach corpora. Compared case-insensitively.
const COMMON_PASSWORDS = new Set([
  '123456789012', '1234567890123', '12345678901234', '123456123456', '111111111111', '000000000000',
  '123123123123', '1q2w3e4r5t6y', '1qaz2wsx3edc', 'qwertyuiop12', 'qwerty123456', 'qwertyuiopas',
  'qwertyuiopasdfghjkl', 'asdfghjkl123', 'zxcvbnm12345', 'password1234', 'password12345', 'password123!',
  'password!234', 'passwordpassword', 'password123456', 'p@ssw0rd1234', 'passw0rd1234', 'iloveyou1234',
  'welcome12345', 'welcome123456', 'letmein12345', 'changeme1234', 'administrator', 'administrator1',
  'abcdefghijkl', 'abc123abc123', 'abcd1234abcd', 'trustno1trustno1', 'football1234', 'baseball1234',
  'superman1234', 'starwars1234', 'sunshine1234', 'princess1234', 'liverpool123', 'chelsea12345',
  'manchester12', 'arsenal12345', 'monkey123456', 'dragon123456', 'summer123456', 'winter123456',
  'qwerty12345678', 'q1w2e3r4t5y6', 'a1b2c3d4e5f6', 'zaq12wsxcde3', 'nhs123456789', 'nhspassword1',
]);

// Common words that, padded with digits and symbols ("Password2024!"), make most of the
// "long" passwords people choose. Letters only, lower-case.
const COMMON_WORDS = new Set([
  'password', 'passwordpassword', 'passw', 'pass', 'qwerty', 'qwertyuiop', 'qwertyuiopasdfghjkl', 'asdfghjkl', 'zxcvbnm',
  'welcome', 'letmein', 'iloveyou', 'admin', 'administrator', 'changeme', 'monkey', 'dragon', 'football',
  'baseball', 'superman', 'starwars', 'sunshine', 'princess', 'liverpool', 'chelsea', 'arsenal', 'manchester',
  'summer', 'winter', 'spring', 'autumn', 'nhs', 'nhsnhs', 'pulse', 'abc', 'abcdef', 'abcdefghijkl',
  'trustno', 'trustnotrustno', 'qwe', 'qaz', 'qazwsx', 'qazwsxedc', 'zaq', 'zaqwsx', 'test', 'testtest', 'secret',
]);

/** Leetspeak undone, so `P@ssw0rd!2024` is recognised as `password`. */
function unleet(text: string): string {
  return text.replace(/[@4]/g, 'a').replace(/0/g, 'o').replace(/[1!|]/g, 'i').replace(/3/g, 'e').replace(/[$5]/g, 's').replace(/7/g, 't');
}

/**
 * The password policy for local accounts (NCSC guidance: length over complexity, and block the
 * passwords attackers try first). Returns a sentence naming the rule broken, or null.
 */
export function checkPasswordPolicy(password: string, username: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return `the password must be at least ${MIN_PASSWORD_LENGTH} characters long`;
  if (length > MAX_PASSWORD_LENGTH) return `the password must be at most ${MAX_PASSWORD_LENGTH} characters long`;
  const lower = password.normalize('NFKC').toLowerCase();
  const name = username.normalize('NFKC').toLowerCase().trim();
  if (name.length >= 3 && lower.includes(name)) return 'the password must not contain the username';
  if (COMMON_PASSWORDS.has(lower)) return 'the password is one of the most common passwords';
  // The word under the padding: letters only; or with digits and symbols at the end (or both
  // ends) cut off first and leetspeak undone (`P@ssw0rd!2024`, `4dm1n1strator!!`).
  const letters = (text: string) => text.replace(/[^a-z]/g, '');
  const trailing = lower.replace(/[^a-z]+$/, '');
  const candidates = [letters(lower), letters(unleet(trailing)), letters(unleet(trailing.replace(/^[^a-z]+/, '')))];
  if (candidates.some((word) => COMMON_WORDS.has(word))) {
    return 'the password is a common password with digits or symbols added';
  }
  if (new Set(lower).size <= 2) return 'the password repeats one or two characters';
  if (isRun(lower)) return 'the password is a run of consecutive characters';
  return null;
}

/** `123456789012`, `abcdefghijkl`, `987654321098`: each character one step on from the last. */
function isRun(text: string): boolean {
  const chars = [...text];
  // +1 or -1 for a step up or down (digits wrap, 9 → 0), 0 for anything else.
  const step = (a: string, b: string): number => {
    if (/\d/.test(a) && /\d/.test(b)) {
      const d = (Number(b) - Number(a) + 10) % 10;
      return d === 1 ? 1 : d === 9 ? -1 : 0;
    }
    const d = b.codePointAt(0)! - a.codePointAt(0)!;
    return d === 1 || d === -1 ? d : 0;
  };
  const direction = step(chars[0]!, chars[1]!);
  if (direction === 0) return false;
  for (let i = 2; i < chars.length; i++) if (step(chars[i - 1]!, chars[i]!) !== direction) return false;
  return true;
}
