// The SQLite HistoryStore: per-check hours of minute summaries, one row per check per
// hour, packed by server/history/codec.ts. The hour being written lives unpacked in
// `history_open` (cheap to merge into every minute); `seal` moves finished hours, deflated,
// into `history_hours`, appended in key order so its pages stay full. Reads `status_events`
// (owned by the transitions part) for timelines and never writes it.
//
// Over a database file, the writes (writeMinutes, seal, prune) run on a thread of their own
// (server/history/writer-thread.ts, its own connection to the same WAL database): a minute of
// 50,000 checks is about a second of SQLite and codec work, and the WAL checkpoints that follow
// it are tens of milliseconds each, none of which may hold up the event loop. The thread also
// does the checkpoints for the server's connection, whose automatic checkpoint is turned off
// while the thread runs. Reads stay here (WAL readers see what the thread committed). In
// memory (`:memory:`, tests) or with `offThread: false`, everything runs here.
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
import { WriterClient } from '../../history/writer-client';
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

export interface SqliteHistoryOptions {
  /** Write on a thread of its own (default: yes, for a database file; never for `:memory:`). */
  offThread?: boolean;
  /** Told once if the thread cannot start or dies; writes then carry on here. */
  log?: (message: string, fields: Record<string, unknown>) => void;
}

/** SQLite's default: checkpoint once the WAL holds this many pages. */
const AUTOCHECKPOINT_PAGES = 1000;

export class SqliteHistoryStore implements HistoryStore {
  /** Check id → ref, for refs known to be committed. */
  private readonly refs = new Map<string, number>();
  private readonly stmt;
  private timelineStmt: {
    initial: Statement<[string, number], { to_status: StatusLevel }>;
    changes: Statement<[string, number, number], { to_status: StatusLevel; at: number }>;
  } | null = null;

  /** The writer thread: undefined until the first write starts it, null when writing here. */
  private writer: WriterClient | null | undefined;

  constructor(
    private readonly db: Db,
    private readonly opts: SqliteHistoryOptions = {},
  ) {
    if (opts.offThread === undefined ? db.memory : !opts.offThread) this.writer = null;
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

  /** Whether writes go to the writer thread (it is started by the first write). */
  get offThread(): boolean {
    return this.thread() !== null;
  }

  async writeMinutes(rows: readonly MinuteRow[]): Promise<void> {
    for (const row of rows) {
      const why = invalidRow(row);
      if (why) throw new HistoryError('BAD_MINUTE_ROW', `minute row for check ${row.checkId} at ${row.minute}: ${why}`);
    }
    if (rows.length === 0) return;
    const writer = this.thread();
    if (writer) await writer.request({ op: 'writeMinutes', rows });
    else this.writeMinutesNow(rows);
  }

  /** writeMinutes on this thread, now, in one transaction (the writer thread's side). */
  writeMinutesNow(rows: readonly MinuteRow[]): void {
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
    const writer = this.thread();
    if (writer) return (await writer.request({ op: 'seal', before, limit })) ?? 0;
    return this.sealNow(before, limit);
  }

  /** seal on this thread, now, in one transaction. */
  sealNow(before: number, limit = 2_000): number {
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
    const writer = this.thread();
    if (writer) return (await writer.request({ op: 'prune', olderThan })) ?? 0;
    return this.pruneNow(olderThan);
  }

  /** Asks the writer thread for a WAL checkpoint (none is needed when writing here). */
  async checkpoint(): Promise<void> {
    const writer = this.thread();
    if (writer) await writer.request({ op: 'checkpoint' });
  }

  /** Stops the writer thread after what it has been given (the database itself stays open). */
  async close(): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    this.writer = null;
    await writer.close();
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }

  /** prune on this thread, now. */
  pruneNow(olderThan: number): number {
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

  /** The writer thread, started on first use; null when writing on this thread. */
  thread(): WriterClient | null {
    if (this.writer !== undefined) return this.writer?.dead ? null : this.writer;
    let writer: WriterClient | null = null;
    let failed = false;
    try {
      writer = WriterClient.start(this.db.name, (err) => {
        // Its outstanding requests failed (the recorder keeps their rows); from now on, writes run here.
        if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
        this.opts.log?.('the history writer thread stopped; writing history on the main thread', { error: String(err) });
      });
    } catch (err) {
      failed = true;
      this.opts.log?.('the history writer thread could not start; writing history on the main thread', { error: String(err) });
    }
    if (!writer && !failed) this.opts.log?.('no history writer thread in this build; writing history on the main thread', {});
    // The thread checkpoints after its own writes, which are most of them, and so for this connection too.
    if (writer) this.db.pragma('wal_autocheckpoint = 0');
    this.writer = writer;
    return writer;
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
