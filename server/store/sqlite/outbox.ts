// The action outbox part of the SQLite store: one row per action run (a webhook to send, a
// notification), keyed by its idempotency key. Enqueueing is one transaction and ignores a key
// already present, so replaying the batch that entered backup mode never queues an action twice.
// Rows move pending → (retrying →)* done | failed; nothing is ever deleted here (retention is
// someone else's job). The methods are async like the rest of the Store, though SQLite is not.
import { migrate, type Db, type Migration } from './db';

export const OUTBOX_MIGRATIONS: Migration[] = [
  {
    id: 'outbox-1',
    sql: `CREATE TABLE outbox (
            idempotency_key TEXT PRIMARY KEY,
            ods TEXT NOT NULL,
            run_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,              -- JSON
            state TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at INTEGER,            -- NULL once done or failed
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
          );
          CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
          CREATE INDEX outbox_ods ON outbox (ods, created_at);
          CREATE INDEX outbox_run ON outbox (run_id, created_at);`,
  },
];

export type OutboxState = 'pending' | 'retrying' | 'done' | 'failed';

export interface OutboxEnqueue {
  /** Unique per action run; sent to the receiver as `Idempotency-Key`. */
  idempotencyKey: string;
  ods: string;
  runId: string;
  /** The action kind, e.g. `webhook`. */
  kind: string;
  /** The action's configured name, shown to people. */
  name: string;
  payload: object;
}

export interface OutboxItem {
  idempotencyKey: string;
  ods: string;
  runId: string;
  kind: string;
  name: string;
  payload: unknown;
  state: OutboxState;
  attempts: number;
  lastError: string | null;
  /** When the drainer will next try; null once done or failed. */
  nextAttemptAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What the drainer needs from an outbox; `SqliteOutbox` is one, a PostgreSQL one would be another. */
export interface OutboxStore {
  enqueue(items: OutboxEnqueue[], at?: number): Promise<number>;
  due(now: number, limit: number): Promise<OutboxItem[]>;
  markDone(key: string, at: number): Promise<void>;
  markRetry(key: string, at: number, nextAt: number, error: string): Promise<void>;
  markFailed(key: string, at: number, error: string): Promise<void>;
  actionsOf(ods: string): Promise<OutboxItem[]>;
  actionsOfRun(runId: string): Promise<OutboxItem[]>;
  /** How many actions of each run are in each state, in one query (runs with no action are absent). */
  countsOfRuns(runIds: string[]): Promise<Map<string, Record<OutboxState, number>>>;
}

interface Row {
  idempotency_key: string;
  ods: string;
  run_id: string;
  kind: string;
  name: string;
  payload: string;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
}

function toItem(r: Row): OutboxItem {
  return {
    idempotencyKey: r.idempotency_key,
    ods: r.ods,
    runId: r.run_id,
    kind: r.kind,
    name: r.name,
    payload: JSON.parse(r.payload) as unknown,
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class SqliteOutbox implements OutboxStore {
  private readonly insert;
  private readonly selectDue;
  private readonly done;
  private readonly retry;
  private readonly fail;
  private readonly byOds;
  private readonly byRun;
  private readonly insertMany;
  private readonly countsByRun;

  constructor(db: Db) {
    migrate(db, OUTBOX_MIGRATIONS);
    this.insert = db.prepare(
      `INSERT INTO outbox (idempotency_key, ods, run_id, kind, name, payload, state, attempts, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)
       ON CONFLICT (idempotency_key) DO NOTHING`,
    );
    this.selectDue = db.prepare(
      `SELECT * FROM outbox WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?
       ORDER BY next_attempt_at, created_at, idempotency_key LIMIT ?`,
    );
    // Only a row still in flight moves: a late result never resurrects a done or failed action.
    this.done = db.prepare(
      `UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL, updated_at = ?
       WHERE idempotency_key = ? AND state IN ('pending', 'retrying')`,
    );
    this.retry = db.prepare(
      `UPDATE outbox SET state = 'retrying', attempts = attempts + 1, last_error = ?, next_attempt_at = ?, updated_at = ?
       WHERE idempotency_key = ? AND state IN ('pending', 'retrying')`,
    );
    this.fail = db.prepare(
      `UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, next_attempt_at = NULL, updated_at = ?
       WHERE idempotency_key = ? AND state IN ('pending', 'retrying')`,
    );
    this.byOds = db.prepare('SELECT * FROM outbox WHERE ods = ? ORDER BY created_at, idempotency_key');
    this.byRun = db.prepare('SELECT * FROM outbox WHERE run_id = ? ORDER BY created_at, idempotency_key');
    // One parameter (a JSON array) however many runs: no limit on bound variables to reach.
    this.countsByRun = db.prepare(
      `SELECT run_id, state, count(*) AS n FROM outbox WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id, state`,
    );
    this.insertMany = db.transaction((items: OutboxEnqueue[], at: number): number => {
      let added = 0;
      for (const i of items) {
        added += this.insert.run(i.idempotencyKey, i.ods, i.runId, i.kind, i.name, JSON.stringify(i.payload), at, at, at).changes;
      }
      return added;
    });
  }

  /**
   * Queues the items now, synchronously, for a caller that writes them inside its own
   * transaction (the switch that decided them); returns how many were new.
   */
  enqueueNow(items: OutboxEnqueue[], at: number): number {
    return this.insertMany(items, at);
  }

  /** Queues the items in one transaction, due at once; returns how many were new (duplicates are ignored). */
  async enqueue(items: OutboxEnqueue[], at: number = Date.now()): Promise<number> {
    return this.insertMany(items, at);
  }

  /** Pending or retrying items whose next attempt is at or before `now`, oldest due first. */
  async due(now: number, limit: number): Promise<OutboxItem[]> {
    return (this.selectDue.all(now, limit) as Row[]).map(toItem);
  }

  async markDone(key: string, at: number): Promise<void> {
    this.done.run(at, key);
  }

  async markRetry(key: string, at: number, nextAt: number, error: string): Promise<void> {
    this.retry.run(error, nextAt, at, key);
  }

  async markFailed(key: string, at: number, error: string): Promise<void> {
    this.fail.run(error, at, key);
  }

  async actionsOf(ods: string): Promise<OutboxItem[]> {
    return (this.byOds.all(ods) as Row[]).map(toItem);
  }

  async actionsOfRun(runId: string): Promise<OutboxItem[]> {
    return (this.byRun.all(runId) as Row[]).map(toItem);
  }

  async countsOfRuns(runIds: string[]): Promise<Map<string, Record<OutboxState, number>>> {
    const out = new Map<string, Record<OutboxState, number>>();
    if (runIds.length === 0) return out;
    for (const r of this.countsByRun.all(JSON.stringify(runIds)) as { run_id: string; state: OutboxState; n: number }[]) {
      let counts = out.get(r.run_id);
      if (!counts) out.set(r.run_id, (counts = { pending: 0, retrying: 0, done: 0, failed: 0 }));
      counts[r.state] = r.n;
    }
    return out;
  }
}
