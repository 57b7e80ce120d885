// Store part for what people and the engine must not lose across a restart: people's
// reports, maintenance windows created through the API, and the engine's snapshot
// (check states and subject statuses) so a restart mid-incident changes nothing.
import type { MaintenanceWindow } from '../../config/estate';
import type { PeopleReport } from '../../status/engine';
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
];

export class SqliteSignalStore {
  constructor(private readonly db: Db) {}

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

  async loadSnapshot(): Promise<{ body: string; savedAt: number } | null> {
    const row = this.db.prepare('SELECT saved_at, body FROM engine_snapshot WHERE id = 1').get() as
      | { saved_at: number; body: string }
      | undefined;
    return row ? { body: row.body, savedAt: row.saved_at } : null;
  }
}
