// The embedded store: SQLite through better-sqlite3 (WAL). Synchronous underneath, wrapped
// in the async Store contract. Keeps transitions, not every result.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { SubjectKey } from '../status/engine';
import type { Cause, StatusLevel } from '../status/types';
import type { StatusTransition, Store, StoredTransition } from './types';

/** Each entry upgrades the schema by one version; `PRAGMA user_version` records how far we are. */
const MIGRATIONS = [
  `CREATE TABLE status_events (
     id INTEGER PRIMARY KEY,
     subject TEXT NOT NULL,
     from_status TEXT NOT NULL,
     to_status TEXT NOT NULL,
     cause TEXT,
     at INTEGER NOT NULL
   );
   CREATE INDEX status_events_subject_at ON status_events (subject, at);`,
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
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, string, string, string | null, number]>;
  private readonly insertMany: (rows: StatusTransition[]) => void;

  /** Opens (creating if needed) `pulse.db` in `dataDir`; `:memory:` for an in-memory store. */
  constructor(dataDir: string) {
    if (dataDir === ':memory:') {
      this.db = new Database(':memory:');
    } else {
      mkdirSync(dataDir, { recursive: true });
      this.db = new Database(join(dataDir, 'pulse.db'));
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.insert = this.db.prepare(
      'INSERT INTO status_events (subject, from_status, to_status, cause, at) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertMany = this.db.transaction((rows: StatusTransition[]) => {
      for (const t of rows) this.insert.run(t.subject, t.from, t.to, t.cause ? JSON.stringify(t.cause) : null, t.at);
    });
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`the database schema (version ${version}) is newer than this Pulse (version ${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  async recordTransitions(transitions: StatusTransition[]): Promise<void> {
    if (transitions.length > 0) this.insertMany(transitions);
  }

  async transitionsOf(subject: SubjectKey, limit: number): Promise<StoredTransition[]> {
    const rows = this.db
      .prepare('SELECT * FROM status_events WHERE subject = ? ORDER BY at DESC, id DESC LIMIT ?')
      .all(subject, limit) as EventRow[];
    return rows.map((r) => ({
      id: r.id,
      subject: r.subject as SubjectKey,
      from: r.from_status as StatusLevel,
      to: r.to_status as StatusLevel,
      cause: r.cause ? (JSON.parse(r.cause) as Cause) : null,
      at: r.at,
    }));
  }

  async countTransitions(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM status_events').get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
