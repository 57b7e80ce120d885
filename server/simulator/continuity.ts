// A simulated continuity receiver: stands in for a practice's phone system and website, which
// Pulse's backup-mode webhooks tell to switch message. Like a real receiver it verifies the
// Pulse-Signature and applies each Idempotency-Key once (a repeat is answered 200 and not
// applied again), so the demo and the tests exercise Pulse's real webhook path end to end.
// Never imported by production code.
import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verifySignature } from '../backup/webhook';

export interface Delivery {
  action: string;
  key: string;
  /** Times this key was received (the first applied; repeats only counted). */
  received: number;
  body: unknown;
  firstAt: number;
}

export class ContinuityReceiver {
  readonly secret = randomBytes(32).toString('base64url');
  private readonly byKey = new Map<string, Delivery>();
  private rejected = 0;
  /** Failures to answer before accepting, per action, for fault drills (`failNext`). */
  private readonly failures = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The next `times` deliveries to `action` are answered 503. */
  failNext(action: string, times: number): void {
    this.failures.set(action, times);
  }

  deliveries(): { applied: Delivery[]; rejected: number } {
    return { applied: [...this.byKey.values()], rejected: this.rejected };
  }

  async handle(c: Context): Promise<Response> {
    const action = c.req.param('action') ?? '';
    const raw = await c.req.text();
    if (!verifySignature(this.secret, c.req.header(SIGNATURE_HEADER), raw, this.now())) {
      this.rejected++;
      return c.json({ error: 'bad or missing Pulse-Signature' }, 401);
    }
    const key = c.req.header(IDEMPOTENCY_HEADER);
    if (!key) return c.json({ error: 'missing Idempotency-Key' }, 400);
    const failing = this.failures.get(action) ?? 0;
    if (failing > 0) {
      this.failures.set(action, failing - 1);
      return c.json({ error: 'simulated failure' }, 503);
    }
    const seen = this.byKey.get(key);
    if (seen) {
      seen.received++;
      return c.json({ ok: true, duplicate: true }, 200);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return c.json({ error: 'body is not JSON' }, 400);
    }
    this.byKey.set(key, { action, key, received: 1, body, firstAt: this.now() });
    return c.json({ ok: true }, 200);
  }
}
