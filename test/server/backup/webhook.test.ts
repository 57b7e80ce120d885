import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendWebhook, signatureHeader, verifySignature } from '../../../server/backup/webhook';

const SECRET = 'whsec-test-0123456789abcdef';
const NOW = 1_750_000_000_000;

interface Received {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  verified: boolean;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A loopback receiver answering each request with the next status in `statuses` (then 200). */
async function receiver(statuses: number[] = [], body = ''): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      got.push({ headers: req.headers, raw, verified: verifySignature(SECRET, req.headers['pulse-signature'] as string, raw, NOW) });
      res.statusCode = statuses.shift() ?? 200;
      res.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

describe('sendWebhook', () => {
  it('POSTs signed JSON with the documented headers, and the receiver verifies it', async () => {
    const r = await receiver();
    const result = await sendWebhook({ url: r.url, secret: SECRET, body: { ods: 'A81001', event: 'backup.entered' }, idempotencyKey: 'run-1:hook', now: () => NOW, timeoutMs: 2000 });
    expect(result).toEqual({ ok: true });
    expect(r.got).toHaveLength(1);
    const got = r.got[0]!;
    expect(got.verified).toBe(true);
    expect(JSON.parse(got.raw)).toEqual({ ods: 'A81001', event: 'backup.entered' });
    expect(got.headers['idempotency-key']).toBe('run-1:hook');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toMatch(/^Pulse-Webhook\//);
    expect(got.headers['pulse-signature']).toMatch(new RegExp(`^t=${NOW / 1000},v1=[0-9a-f]{64}$`));
  });

  it('fails verification for a tampered body, a wrong secret, a stale timestamp or a junk header', () => {
    const raw = JSON.stringify({ ods: 'A81001' });
    const header = signatureHeader(SECRET, NOW / 1000, raw);
    expect(verifySignature(SECRET, header, raw, NOW)).toBe(true);
    expect(verifySignature(SECRET, header, raw.replace('A81001', 'A81002'), NOW)).toBe(false);
    expect(verifySignature('another-secret', header, raw, NOW)).toBe(false);
    expect(verifySignature(SECRET, header, raw, NOW + 301_000)).toBe(false);
    expect(verifySignature(SECRET, header, raw, NOW + 299_000)).toBe(true);
    expect(verifySignature(SECRET, 'garbage', raw, NOW)).toBe(false);
    expect(verifySignature(SECRET, undefined, raw, NOW)).toBe(false);
  });

  it('classifies answers: 5xx, 408 and 429 retryable; other 4xx not; the secret is never quoted', async () => {
    const r = await receiver([503, 408, 429, 400, 404], `nope ${SECRET}`);
    const send = () => sendWebhook({ url: r.url, secret: SECRET, body: {}, idempotencyKey: 'k', now: () => NOW, timeoutMs: 2000 });
    for (const [status, retryable] of [[503, true], [408, true], [429, true], [400, false], [404, false]] as const) {
      const res = await send();
      expect(res.ok).toBe(false);
      if (res.ok) continue;
      expect(res.retryable).toBe(retryable);
      expect(res.error).toContain(`HTTP ${status}`);
      expect(res.error).not.toContain(SECRET);
    }
  });

  it('treats a refused connection and a timeout as retryable', async () => {
    const dead = await receiver();
    const url = dead.url;
    await new Promise((r) => servers.pop()!.close(r));
    const refused = await sendWebhook({ url, secret: SECRET, body: {}, idempotencyKey: 'k', now: () => NOW, timeoutMs: 2000 });
    expect(refused).toMatchObject({ ok: false, retryable: true });

    const hang = createServer(() => {
      /* never answers */
    });
    servers.push(hang);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    hang.on('connection', (s) => setTimeout(() => s.destroy(), 2000).unref());
    const slow = await sendWebhook({ url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`, secret: SECRET, body: {}, idempotencyKey: 'k', now: () => NOW, timeoutMs: 100 });
    expect(slow).toEqual({ ok: false, retryable: true, error: 'no answer within 100 ms' });
    hang.closeAllConnections();
  });
});
