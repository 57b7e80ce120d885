// Store part for what people and the engine must not lose across a restart: people's
// reports, maintenance windows created through the API, and the engine's snapshot
// (check states and subject statuses) so a restart mid-incident changes nothing.
//
// The engine's snapshot is incremental: one row per check (its states by location) and per
// subject (its status) in `engine_state`, upserted only for what changed since the last save,
// a slice of rows per transaction with the event loop let go between slices (on the history
// writer's thread when there is one: store/sqlite/history.ts); and a small
// header (format version 3, people's reports, the audit head) in `engine_snapshot`, written
// with the last slice. Before version 3 the whole snapshot was one JSON blob in
// `engine_snapshot`; loadSnapshot still returns such a blob, and the first save after it
// writes every row and replaces it with a header.
import type { Statement } from 'better-sqlite3';
import type { MaintenanceWindow } from '../../config/estate';
import type { WriterClient } from '../../history/writer-client';
import type { PeopleReport } from '../../status/engine';
import type { EngineStateSave } from '../types';
import type { Db, Migration } from './db';

export const SIGNAL_MIGRATIONS: Migration[] = [
  {
    id: 'signals-1',
    sql: `CREATE TABLE practice_reports (
            ods TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            reported_by TEXT NOT NULL,
            note TEXT NOT NULL,
            at INTEGER NOT NULL
          );
          CREATE TABLE maintenance_windows (
            id TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            start_at INTEGER NOT NULL,
            end_at INTEGER NOT NULL,
            author TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            cancelled_at INTEGER,
            cancelled_by TEXT
          );
          CREATE TABLE engine_snapshot (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            saved_at INTEGER NOT NULL,
            body TEXT NOT NULL
          );`,
  },
  {
    id: 'signals-2',
    // `key` is `check:<id>` or the subject key (`service:<id>`, `practice:<ods>`); `body` its JSON.
    sql: `CREATE TABLE engine_state (
            key TEXT PRIMARY KEY,
            body TEXT NOT NULL
          ) WITHOUT ROWID;`,
  },
];

/** Rows per transaction of an engine save: a few milliseconds of JSON and SQLite each. */
const STATE_ROWS_PER_SLICE = 500;

export class SqliteSignalStore {
  private stateStmt: { upsert: Statement<[string, string]>; remove: Statement<[string]>; header: Statement<[number, string]> } | null = null;

  /** `writer`: the history writer's thread, when there is one, writes the snapshot's rows (JSON is made here). */
  constructor(
    private readonly db: Db,
    private readonly writer: () => WriterClient | null = () => null,
  ) {}

  async saveReport(ods: string, report: PeopleReport | null): Promise<void> {
    if (report) {
      this.db
        .prepare(
          `INSERT INTO practice_reports (ods, state, reported_by, note, at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (ods) DO UPDATE SET state = excluded.state, reported_by = excluded.reported_by, note = excluded.note, at = excluded.at`,
        )
        .run(ods, report.state, report.by, report.note, report.at);
    } else {
      this.db.prepare('DELETE FROM practice_reports WHERE ods = ?').run(ods);
    }
  }

  async reports(): Promise<[string, PeopleReport][]> {
    const rows = this.db.prepare('SELECT * FROM practice_reports').all() as {
      ods: string;
      state: PeopleReport['state'];
      reported_by: string;
      note: string;
      at: number;
    }[];
    return rows.map((r) => [r.ods, { state: r.state, by: r.reported_by, note: r.note, at: r.at }]);
  }

  async saveMaintenance(window: MaintenanceWindow, createdAt: number): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO maintenance_windows (id, subject, start_at, end_at, author, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(window.id, window.subject, window.start, window.end, window.author, window.reason, createdAt);
  }

  /** Ends a window now (or cancels it before it starts); false when there is no such open window. */
  async cancelMaintenance(id: string, by: string, at: number): Promise<boolean> {
    const result = this.db
      .prepare(
        'UPDATE maintenance_windows SET cancelled_at = ?, cancelled_by = ?, end_at = MIN(end_at, ?) WHERE id = ? AND cancelled_at IS NULL',
      )
      .run(at, by, at, id);
    return result.changes > 0;
  }

  /** Windows not cancelled and not yet over as of `now`. */
  async maintenanceWindows(now: number): Promise<MaintenanceWindow[]> {
    const rows = this.db
      .prepare('SELECT * FROM maintenance_windows WHERE cancelled_at IS NULL AND end_at > ? ORDER BY start_at')
      .all(now) as { id: string; subject: string; start_at: number; end_at: number; author: string; reason: string }[];
    return rows.map((r) => ({
      id: r.id,
      subject: r.subject as MaintenanceWindow['subject'],
      start: r.start_at,
      end: r.end_at,
      author: r.author,
      reason: r.reason,
    }));
  }

  async saveSnapshot(body: string, at: number): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO engine_snapshot (id, saved_at, body) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, body = excluded.body`,
      )
      .run(at, body);
  }

  /**
   * An incremental save (see the top of this file): upserts `rows` (deletes those whose body is
   * null) a slice per transaction, yielding to the event loop between slices, then writes the
   * header with the last. A failed slice throws; slices before it stay written (each row is
   * whole on its own), and the caller marks the rows unsaved again.
   */
  async saveEngineState(save: EngineStateSave): Promise<void> {
    const rows = save.rows[Symbol.iterator]();
    for (let done = false; !done; ) {
      const slice: [string, string | null][] = [];
      while (slice.length < STATE_ROWS_PER_SLICE) {
        const next = rows.next();
        if (next.done) {
          done = true;
          break;
        }
        const [key, body] = next.value;
        slice.push([key, body === null ? null : JSON.stringify(body)]);
      }
      const header = done ? { savedAt: save.savedAt, body: save.header } : null;
      const writer = this.writer();
      if (writer) await writer.request({ op: 'engineState', rows: slice, header });
      else this.writeEngineStateNow(slice, header);
      if (!done) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** One slice of an incremental save, in one transaction, on this thread (the writer thread's side). */
  writeEngineStateNow(rows: readonly [string, string | null][], header: { savedAt: number; body: string } | null): void {
    this.stateStmt ??= {
      upsert: this.db.prepare<[string, string]>('INSERT INTO engine_state (key, body) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET body = excluded.body'),
      remove: this.db.prepare<[string]>('DELETE FROM engine_state WHERE key = ?'),
      header: this.db.prepare<[number, string]>(
        `INSERT INTO engine_snapshot (id, saved_at, body) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, body = excluded.body`,
      ),
    };
    const stmt = this.stateStmt;
    this.db.transaction(() => {
      for (const [key, body] of rows) {
        if (body === null) stmt.remove.run(key);
        else stmt.upsert.run(key, body);
      }
      if (header) stmt.header.run(header.savedAt, header.body);
    })();
  }

  /** Every row of the incremental snapshot, its body parsed; empty before the first version 3 save. */
  async loadEngineState(): Promise<[string, unknown][]> {
    const rows = this.db.prepare('SELECT key, body FROM engine_state').all() as { key: string; body: string }[];
    return rows.map((r) => [r.key, JSON.parse(r.body) as unknown]);
  }

  /** Rows and bytes of the incremental snapshot (for the benchmark and operations). */
  engineStateSize(): { rows: number; bytes: number } {
    const r = this.db.prepare('SELECT count(*) AS rows, coalesce(sum(length(key) + length(body)), 0) AS bytes FROM engine_state').get() as { rows: number; bytes: number };
    return r;
  }

  async loadSnapshot(): Promise<{ body: string; savedAt: number } | null> {
    const row = this.db.prepare('SELECT saved_at, body FROM engine_snapshot WHERE id = 1').get() as
      | { saved_at: number; body: string }
      | undefined;
    return row ? { body: row.body, savedAt: row.saved_at } : null;
  }
}
