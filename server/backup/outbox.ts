// The outbox drainer: sends the actions that are due and records each result. It never decides
// what to send — that was written to the outbox, with its idempotency key, in the same act that
// entered backup mode (see STYLE.md, the OpenStatus note).
//
// Delivery is at-least-once. An item is marked done only after its receiver answered 2xx; if the
// server dies between that answer and `markDone`, the restarted drainer sends the item again
// with the SAME Idempotency-Key, and the receiver's dedupe on that key is what makes the effect
// happen once. That is the design, not a gap: the alternative (mark first, send after) would
// lose actions on a crash, which is worse during an outage.
//
// Results: ok → done; not retryable → failed at once with the reason; retryable (or a send that
// throws) → retrying with a backoff, until `maxAttempts` attempts have been made → failed with
// the last error. Time comes from the injected `now`, so tests drive it without sleeping.
import type { OutboxItem, OutboxStore } from '../store/sqlite/outbox';
import type { SendResult } from './webhook';

export type { SendResult } from './webhook';

export const DEFAULT_MAX_ATTEMPTS = 8;
export const BACKOFF_BASE_MS = 5_000;
export const BACKOFF_CAP_MS = 10 * 60_000;

/**
 * Exponential backoff with "equal jitter": after attempt n (1-based) wait between half and all
 * of min(cap, base·2^(n-1)). `random` is injectable for tests.
 */
export function exponentialBackoff(
  attempt: number,
  { baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS, random = Math.random }: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export interface DrainerOptions {
  outbox: OutboxStore;
  send: (item: OutboxItem) => Promise<SendResult>;
  now: () => number;
  /** Total attempts (the first included) before an item is given up as failed. */
  maxAttempts?: number;
  /** Wait after the `attempt`-th failed attempt (1-based), in ms. */
  backoff?: (attempt: number) => number;
  /** Sends in flight at once. */
  concurrency?: number;
  /** Most items picked up per `drainOnce`. */
  batchSize?: number;
}

export interface DrainSummary {
  sent: number;
  done: number;
  retrying: number;
  failed: number;
}

export class OutboxDrainer {
  private readonly outbox: OutboxStore;
  private readonly send: DrainerOptions['send'];
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly backoff: (attempt: number) => number;
  private readonly concurrency: number;
  private readonly batchSize: number;
  /** Keys being sent by this drainer, so overlapping `drainOnce` calls never send one twice. */
  private readonly inFlight = new Set<string>();

  constructor(opts: DrainerOptions) {
    this.outbox = opts.outbox;
    this.send = opts.send;
    this.now = opts.now;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoff = opts.backoff ?? ((n) => exponentialBackoff(n));
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.batchSize = Math.max(1, opts.batchSize ?? 100);
  }

  /** Sends every item due now (up to `batchSize`), `concurrency` at a time, and records each result. */
  async drainOnce(): Promise<DrainSummary> {
    const summary: DrainSummary = { sent: 0, done: 0, retrying: 0, failed: 0 };
    const items = (await this.outbox.due(this.now(), this.batchSize)).filter((i) => !this.inFlight.has(i.idempotencyKey));
    for (const i of items) this.inFlight.add(i.idempotencyKey);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          const outcome = await this.attempt(item);
          summary.sent++;
          summary[outcome]++;
        } finally {
          this.inFlight.delete(item.idempotencyKey);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    return summary;
  }

  private async attempt(item: OutboxItem): Promise<'done' | 'retrying' | 'failed'> {
    let result: SendResult;
    try {
      result = await this.send(item);
    } catch (err) {
      result = { ok: false, retryable: true, error: `send threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    const at = this.now();
    if (result.ok) {
      await this.outbox.markDone(item.idempotencyKey, at);
      return 'done';
    }
    const attempts = item.attempts + 1;
    if (!result.retryable) {
      await this.outbox.markFailed(item.idempotencyKey, at, result.error);
      return 'failed';
    }
    if (attempts >= this.maxAttempts) {
      await this.outbox.markFailed(item.idempotencyKey, at, `gave up after ${attempts} attempts: ${result.error}`);
      return 'failed';
    }
    await this.outbox.markRetry(item.idempotencyKey, at, at + Math.max(0, this.backoff(attempts)), result.error);
    return 'retrying';
  }
}
