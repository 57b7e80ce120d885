import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clearSecretCache, redact, resolveSecret, scrub, SECRET_FILE_CACHE_MS, secretRef } from '../../probes/secrets';

const dir = mkdtempSync(join(tmpdir(), 'pulse-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  clearSecretCache();
  delete process.env.PULSE_TEST_SECRET;
});

describe('secret references', () => {
  it('accepts { env } and { file } and nothing else', () => {
    expect(secretRef.parse({ env: 'PULSE_NHS_API_KEY' })).toEqual({ env: 'PULSE_NHS_API_KEY' });
    expect(secretRef.parse({ file: '/run/secrets/key.pem' })).toEqual({ file: '/run/secrets/key.pem' });
    expect(secretRef.safeParse({ env: 'A', file: '/b' }).success).toBe(false);
    expect(secretRef.safeParse({}).success).toBe(false);
    expect(secretRef.safeParse({ file: 'relative/key.pem' }).success).toBe(false);
    expect(secretRef.safeParse({ env: 'NOT-A-NAME' }).success).toBe(false);
    expect(secretRef.safeParse({ value: 'x' }).success).toBe(false);
  });

  it('rejects a literal secret with a message that says what to write instead and does not repeat it', () => {
    const result = secretRef.safeParse('sk-live-0123456789abcdef');
    expect(result.success).toBe(false);
    const message = result.error!.issues.map((i) => i.message).join(' ');
    expect(message).toContain('{ env: PULSE_API_KEY }');
    expect(message).not.toContain('sk-live-0123456789abcdef');
  });

  it('reads an environment variable on this host at run time', async () => {
    expect(await resolveSecret({ env: 'PULSE_TEST_SECRET' })).toEqual({
      ok: false,
      detail: 'environment variable PULSE_TEST_SECRET is not set on this worker',
    });
    process.env.PULSE_TEST_SECRET = 'from-the-environment';
    expect(await resolveSecret({ env: 'PULSE_TEST_SECRET' })).toEqual({ ok: true, value: 'from-the-environment' });
    process.env.PULSE_TEST_SECRET = '  ';
    expect(await resolveSecret({ env: 'PULSE_TEST_SECRET' })).toMatchObject({ ok: false, detail: expect.stringContaining('is empty') });
  });

  it('reads a file, names it when missing, and never quotes the contents', async () => {
    const missing = join(dir, 'missing.pem');
    expect(await resolveSecret({ file: missing })).toEqual({ ok: false, detail: `secret file ${missing} does not exist on this worker` });
    const path = join(dir, 'key.txt');
    writeFileSync(path, 'file-secret-value\n');
    expect(await resolveSecret({ file: path })).toEqual({ ok: true, value: 'file-secret-value\n' });
    writeFileSync(path, '\n');
    clearSecretCache();
    const empty = await resolveSecret({ file: path });
    expect(empty).toEqual({ ok: false, detail: `secret file ${path} is empty on this worker` });
  });

  it(`reuses a file's contents for ${SECRET_FILE_CACHE_MS / 1000} s, then reads it again (rotation)`, async () => {
    const path = join(dir, 'rotating.txt');
    writeFileSync(path, 'first');
    let now = 1_000_000;
    const clock = (): number => now;
    expect(await resolveSecret({ file: path }, clock)).toEqual({ ok: true, value: 'first' });
    writeFileSync(path, 'second');
    now += SECRET_FILE_CACHE_MS - 1;
    expect(await resolveSecret({ file: path }, clock)).toEqual({ ok: true, value: 'first' });
    now += 1;
    expect(await resolveSecret({ file: path }, clock)).toEqual({ ok: true, value: 'second' });
  });

  it('redacts secret values, as read and trimmed, from every text of an outcome', () => {
    const secrets = ['s3cr3t-key\n'];
    expect(redact({ ok: false, latencyMs: 1, error: 'assertion', detail: 'json echo = "s3cr3t-key", expected "x"' }, secrets)).toEqual({
      ok: false,
      latencyMs: 1,
      error: 'assertion',
      detail: 'json echo = "[redacted]", expected "x"',
    });
    expect(redact({ ok: true, latencyMs: 1, detail: 'a s3cr3t-key', degraded: 's3cr3t-key b' }, secrets)).toEqual({
      ok: true,
      latencyMs: 1,
      detail: 'a [redacted]',
      degraded: '[redacted] b',
    });
  });

  it('redacts a fragment of a long secret, so a quote cut short cannot leak its start', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJwdWxzZSJ9.c2lnbmF0dXJl';
    expect(scrub(`got "${token.slice(0, 30)}…"`, [token])).toBe('got "[redacted]…"');
    expect(scrub('nothing to hide here', [token])).toBe('nothing to hide here');
  });
});
