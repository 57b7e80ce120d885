// The SQLite HistoryStore: per-check hours of minute summaries, one row per check per
// hour, packed by server/history/codec.ts. The hour being written lives unpacked in
// `history_open` (cheap to merge into every minute); `seal` moves finished hours, deflated,
// into `history_hours`, appended in key order so its pages stay full. Reads `status_events`
// (owned by the transitions part) for timelines and never writes it.
import type { Statement } from 'better-sqlite3';
import { packHour, unpackHour } from '../../history/codec';
import type { HistoryStore, StatusTimeline } from '../../history/store';
import {
  HOUR_MS,
  HistoryError,
  emptyHour,
  groupByHour,
  hourOf,
  invalidRow,
  mergeHour,
  rowsOfHour,
  type MinuteRow,
} from '../../history/types';
import type { SubjectKey } from '../../status/engine';
import type { StatusLevel } from '../../status/types';
import { migrate, type Db, type Migration } from './db';

export const HISTORY_MIGRATIONS: Migration[] = [
  {
    id: 'history-1',
    // `hour` is hours since the Unix epoch; `check_ref` a small integer standing for the
    // check id, so each of the millions of hour rows does not repeat the id's text.
    sql: `CREATE TABLE history_checks (
            ref INTEGER PRIMARY KEY,
            check_id TEXT NOT NULL UNIQUE
          );
          CREATE TABLE history_open (
            hour INTEGER NOT NULL,
            check_ref INTEGER NOT NULL,
            slots BLOB NOT NULL,
            PRIMARY KEY (hour, check_ref)
          ) WITHOUT ROWID;
          CREATE TABLE history_hours (
            hour INTEGER NOT NULL,
            check_ref INTEGER NOT NULL,
            slots BLOB NOT NULL,
            PRIMARY KEY (hour, check_ref)
          ) WITHOUT ROWID;`,
  },
];

type Slots = { slots: Buffer };

export class SqliteHistoryStore implements HistoryStore {
  /** Check id → ref, for refs known to be committed. */
  private readonly refs = new Map<string, number>();
  private readonly stmt;
  private timelineStmt: {
    initial: Statement<[string, number], { to_status: StatusLevel }>;
    changes: Statement<[string, number, number], { to_status: StatusLevel; at: number }>;
  } | null = null;

  constructor(private readonly db: Db) {
    migrate(db, HISTORY_MIGRATIONS);
    this.stmt = {
      refOf: db.prepare<[string], { ref: number }>('SELECT ref FROM history_checks WHERE check_id = ?'),
      addRef: db.prepare<[string]>('INSERT INTO history_checks (check_id) VALUES (?)'),
      getOpen: db.prepare<[number, number], Slots>('SELECT slots FROM history_open WHERE hour = ? AND check_ref = ?'),
      putOpen: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO history_open (hour, check_ref, slots) VALUES (?, ?, ?)'),
      deleteOpen: db.prepare<[number, number]>('DELETE FROM history_open WHERE hour = ? AND check_ref = ?'),
      openBefore: db.prepare<[number, number], { hour: number; check_ref: number; slots: Buffer }>(
        'SELECT hour, check_ref, slots FROM history_open WHERE hour < ? ORDER BY hour, check_ref LIMIT ?',
      ),
      getSealed: db.prepare<[number, number], Slots>('SELECT slots FROM history_hours WHERE hour = ? AND check_ref = ?'),
      putSealed: db.prepare<[number, number, Buffer]>('INSERT OR REPLACE INTO history_hours (hour, check_ref, slots) VALUES (?, ?, ?)'),
      span: db.prepare<[], { lo: number | null; hi: number | null }>(
        `SELECT min(lo) AS lo, max(hi) AS hi FROM (
           SELECT min(hour) AS lo, max(hour) AS hi FROM history_hours
           UNION ALL SELECT min(hour), max(hour) FROM history_open)`,
      ),
      pruneSealed: db.prepare<[number]>('DELETE FROM history_hours WHERE hour < ?'),
      pruneOpen: db.prepare<[number]>('DELETE FROM history_open WHERE hour < ?'),
    };
  }

  async writeMinutes(rows: readonly MinuteRow[]): Promise<void> {
    for (const row of rows) {
      const why = invalidRow(row);
      if (why) throw new HistoryError('BAD_MINUTE_ROW', `minute row for check ${row.checkId} at ${row.minute}: ${why}`);
    }
    if (rows.length === 0) return;
    const groups = groupByHour(rows);
    const created = new Map<string, number>();
    this.db.transaction(() => {
      for (const [checkId, hours] of groups) {
        const ref = this.refFor(checkId, created);
        for (const [hour, incoming] of hours) {
          const stored = this.stmt.getOpen.get(hour, ref);
          const slots = mergeHour(stored ? unpackHour(stored.slots) : emptyHour(), incoming);
          this.stmt.putOpen.run(hour, ref, packHour(slots, { deflate: false }));
        }
      }
    })();
    // Only now are new refs committed: a rolled-back transaction must not leave them cached.
    for (const [id, ref] of created) this.refs.set(id, ref);
  }

  async minutes(checkId: string, from: number, to: number): Promise<MinuteRow[]> {
    const ref = this.refs.get(checkId) ?? this.stmt.refOf.get(checkId)?.ref;
    if (ref === undefined) return [];
    const span = this.stmt.span.get();
    if (!span || span.lo === null || span.hi === null) return [];
    const first = Math.max(hourOf(from), span.lo);
    const last = Math.min(hourOf(to - 1), span.hi);
    const rows: MinuteRow[] = [];
    // One point lookup an hour: the key leads with the hour, so a range on it would scan every check.
    for (let hour = first; hour <= last; hour++) {
      const sealed = this.stmt.getSealed.get(hour, ref);
      const open = this.stmt.getOpen.get(hour, ref);
      if (!sealed && !open) continue;
      const slots = sealed ? unpackHour(sealed.slots) : emptyHour();
      if (open) mergeHour(slots, unpackHour(open.slots));
      rows.push(...rowsOfHour(checkId, hour, slots, from, to));
    }
    return rows;
  }

  async seal(before: number, limit = 2_000): Promise<number> {
    const beforeHour = Math.floor(before / HOUR_MS);
    return this.db.transaction(() => {
      const open = this.stmt.openBefore.all(beforeHour, limit);
      for (const row of open) {
        const slots = unpackHour(row.slots);
        // A late minute may arrive for an hour already sealed: it was kept open, and joins here.
        const sealed = this.stmt.getSealed.get(row.hour, row.check_ref);
        if (sealed) mergeHour(slots, unpackHour(sealed.slots));
        this.stmt.putSealed.run(row.hour, row.check_ref, packHour(slots, { deflate: true }));
        this.stmt.deleteOpen.run(row.hour, row.check_ref);
      }
      return open.length;
    })();
  }

  async prune(olderThan: number): Promise<number> {
    const beforeHour = Math.floor(olderThan / HOUR_MS);
    return this.db.transaction(
      () => this.stmt.pruneSealed.run(beforeHour).changes + this.stmt.pruneOpen.run(beforeHour).changes,
    )();
  }

  async statusTimeline(subject: SubjectKey, from: number, to: number): Promise<StatusTimeline> {
    // Prepared on first use: status_events belongs to the transitions part, which may be
    // migrated after this store is made.
    this.timelineStmt ??= {
      initial: this.db.prepare<[string, number], { to_status: StatusLevel }>('SELECT to_status FROM status_events WHERE subject = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1'),
      changes: this.db.prepare<[string, number, number], { to_status: StatusLevel; at: number }>('SELECT to_status, at FROM status_events WHERE subject = ? AND at > ? AND at < ? ORDER BY at, id'),
    };
    const initial = this.timelineStmt.initial.get(subject, from)?.to_status ?? null;
    const changes: StatusTimeline['changes'] = [];
    let current = initial;
    for (const row of this.timelineStmt.changes.all(subject, from, to)) {
      // A change of cause alone is a transition too; a timeline only needs changes of status.
      if (row.to_status === current) continue;
      changes.push({ at: row.at, status: row.to_status });
      current = row.to_status;
    }
    return { subject, from, to, initial, changes };
  }

  private refFor(checkId: string, created: Map<string, number>): number {
    const cached = this.refs.get(checkId);
    if (cached !== undefined) return cached;
    const known = created.get(checkId) ?? this.stmt.refOf.get(checkId)?.ref;
    if (known !== undefined) {
      created.set(checkId, known);
      return known;
    }
    const ref = Number(this.stmt.addRef.run(checkId).lastInsertRowid);
    created.set(checkId, ref);
    return ref;
  }
}
