// The embedded store: SQLite through better-sqlite3 (WAL). Synchronous underneath, wrapped
// in the async Store contract. Each part owns its tables; this class composes them.
// Keeps transitions and rollups, not every result.
import type { SubjectKey } from '../../status/engine';
import { causeText, type StatusLevel } from '../../status/types';
import type { StatusTransition, Store, StoredTransition } from '../types';
import { migrate, openDatabase, type Db, type Migration } from './db';
import { ACCOUNT_MIGRATIONS, SqliteAccountStore } from './accounts';
import { SqliteHistoryStore } from './history';
import { SqliteBackupStore } from './backup';
import { SqliteIncidentStore } from './incidents';
import { SIGNAL_MIGRATIONS, SqliteSignalStore } from './signals';
import { classifySqliteError } from './errors';
import type { StoreUnavailableReason } from '../health';

const TRANSITION_MIGRATIONS: Migration[] = [
  {
    id: 'transitions-1',
    sql: `CREATE TABLE status_events (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            cause TEXT,
            at INTEGER NOT NULL
          );
          CREATE INDEX status_events_subject_at ON status_events (subject, at);`,
  },
  // Trends read a window of every practice's changes: by time, not by subject.
  { id: 'transitions-2', sql: 'CREATE INDEX status_events_at ON status_events (at);' },
];

interface EventRow {
  id: number;
  subject: string;
  from_status: string;
  to_status: string;
  cause: string | null;
  at: number;
}

export class SqliteStore implements Store {
  readonly db: Db;
  readonly signals: SqliteSignalStore;
  readonly incidents: SqliteIncidentStore;
  readonly history: SqliteHistoryStore;
  readonly accounts: SqliteAccountStore;
  readonly backup: SqliteBackupStore;
  private readonly insertMany: (rows: StatusTransition[]) => void;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir);
    migrate(this.db, [...TRANSITION_MIGRATIONS, ...SIGNAL_MIGRATIONS, ...ACCOUNT_MIGRATIONS]);
    this.signals = new SqliteSignalStore(this.db, () => this.history.thread());
    this.incidents = new SqliteIncidentStore(this.db);
    this.history = new SqliteHistoryStore(this.db);
    this.accounts = new SqliteAccountStore(this.db);
    this.backup = new SqliteBackupStore(this.db, this.accounts);
    const insert = this.db.prepare<[string, string, string, string | null, number]>(
      'INSERT INTO status_events (subject, from_status, to_status, cause, at) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertMany = this.db.transaction((rows: StatusTransition[]) => {
      for (const t of rows) insert.run(t.subject, t.from, t.to, causeText(t.cause), t.at);
    });
  }

  /**
   * Stores confirmed changes. A blip (up → suspected → up) is not stored: it is in the
   * minute roll-ups as a failure, and storing it would multiply the table many times over.
   * Causes are stored as their one-line text.
   */
  async recordTransitions(transitions: StatusTransition[]): Promise<void> {
    const kept = transitions.filter((t) => !isBlip(t.from, t.to));
    if (kept.length > 0) this.insertMany(kept);
  }

  /** Deletes transitions older than `before`, keeping each subject's newest (its status then). */
  async pruneTransitions(before: number): Promise<number> {
    return this.db
      .prepare(
        `DELETE FROM status_events WHERE at < ? AND id NOT IN (SELECT max(id) FROM status_events GROUP BY subject)`,
      )
      .run(before).changes;
  }

  async transitionsOf(subject: SubjectKey, limit: number): Promise<StoredTransition[]> {
    const rows = this.db
      .prepare('SELECT * FROM status_events WHERE subject = ? ORDER BY at DESC, id DESC LIMIT ?')
      .all(subject, limit) as EventRow[];
    return rows.map(toTransition);
  }

  async transitionsSince(type: 'practice' | 'service', since: number): Promise<StoredTransition[]> {
    // Only the window, through the index on time: a subject's status at the window start is
    // its first change's `from` (or, with no change since, its status now), so the months of
    // older rows are never read. `subject >= 'practice:' AND < 'practice;'` is the prefix.
    const rows = this.db
      .prepare(
        `SELECT * FROM status_events INDEXED BY status_events_at
         WHERE at >= @since AND subject >= @lo AND subject < @hi ORDER BY subject, at, id`,
      )
      .all({ lo: `${type}:`, hi: `${type};`, since }) as EventRow[];
    return rows.map(toTransition);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async probeWrite(): Promise<void> {
    // Rewrites the header's user_version with its own value: a real write to the journal that
    // grows nothing, so it fails on a read-only or full disk and costs nothing otherwise.
    const v = this.db.pragma('user_version', { simple: true }) as number;
    this.db.pragma(`user_version = ${Number(v) | 0}`);
  }

  classifyError(err: unknown): StoreUnavailableReason | null {
    return classifySqliteError(err);
  }

  async countTransitions(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM status_events').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    await this.history.close();
    if (this.db.open) this.db.close();
  }
}

function isBlip(from: StatusLevel, to: StatusLevel): boolean {
  return (from === 'up' && to === 'suspected') || (from === 'suspected' && to === 'up');
}

function toTransition(r: EventRow): StoredTransition {
  return {
    id: r.id,
    subject: r.subject as SubjectKey,
    from: r.from_status as StatusLevel,
    to: r.to_status as StatusLevel,
    cause: r.cause,
    at: r.at,
  };
}
