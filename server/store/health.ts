// Whether the store can take writes now, as the server last found it: set by every write
// that fails for a reason of the database itself (disk full, read-only, I/O error) and
// cleared by the next write that succeeds. One log line per change of state, never per
// request. Knows nothing of SQLite: the store's classifier says what an error means.

export const STORE_UNAVAILABLE_REASONS = ['disk-full', 'read-only', 'io-error', 'cannot-open', 'busy'] as const;
export type StoreUnavailableReason = (typeof STORE_UNAVAILABLE_REASONS)[number];

/** The message a caller sees, e.g. `database: disk full`. */
export function reasonText(reason: StoreUnavailableReason): string {
  switch (reason) {
    case 'disk-full':
      return 'database: disk full';
    case 'read-only':
      return 'database: read-only';
    case 'io-error':
      return 'database: I/O error';
    case 'cannot-open':
      return 'database: cannot open';
    case 'busy':
      return 'database: locked by another process';
  }
}

/** Thrown (or answered) where a write could not be made because the store is unavailable. */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(
    readonly reason: StoreUnavailableReason,
    override readonly cause?: unknown,
  ) {
    super(reasonText(reason));
    this.name = 'StoreUnavailableError';
  }
}

export interface StoreHealthOptions {
  classify: (err: unknown) => StoreUnavailableReason | null;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Counted once per failure seen (pulse_store_failures_total{reason}). */
  onFailure?: (reason: StoreUnavailableReason) => void;
  now: () => number;
}

export class StoreHealth {
  private current: { reason: StoreUnavailableReason; since: number } | null = null;
  constructor(private readonly opts: StoreHealthOptions) {}

  /** The reason writes are failing now, or null when the last write succeeded. */
  get problem(): { reason: StoreUnavailableReason; since: number } | null {
    return this.current;
  }

  /**
   * A write failed: returns its reason when it is the store's own trouble (and marks the store
   * unavailable, logging once on the change), or null for any other error.
   */
  failed(err: unknown): StoreUnavailableReason | null {
    const reason = err instanceof StoreUnavailableError ? err.reason : this.opts.classify(err);
    if (reason === null) return null;
    this.opts.onFailure?.(reason);
    if (this.current?.reason !== reason) {
      this.opts.log('error', `store unavailable: ${reasonText(reason)}; status keeps running in memory`, {
        reason,
        error: String(err),
      });
      this.current = { reason, since: this.opts.now() };
    }
    return reason;
  }

  /** A write succeeded: the store is available again (logged once). */
  succeeded(): void {
    if (this.current === null) return;
    this.opts.log('info', 'store available again', {
      reason: this.current.reason,
      unavailableForMs: this.opts.now() - this.current.since,
    });
    this.current = null;
  }
}
