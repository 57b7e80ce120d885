// The incidents part of the SQLite store: incidents, their timelines and their external
// references, written as the tracker's events in one transaction per batch. Writes are
// idempotent (header upserts; timeline entries and references keyed by their position), so
// replaying a batch or a full snapshot repairs drift instead of duplicating. It never decides.
import type { IncidentStore } from '../../incidents/store';
import type {
  Incident,
  IncidentEvent,
  IncidentKey,
  IncidentKind,
  IncidentReference,
  IncidentSeverity,
  IncidentSummary,
  ReferenceSystem,
  TimelineEntry,
  TimelineType,
} from '../../incidents/types';
import type { SubjectKey } from '../../status/engine';
import { migrate, type Db, type Migration } from './db';

export const INCIDENT_MIGRATIONS: Migration[] = [
  {
    id: 'incidents-1',
    sql: `CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('service', 'practice', 'pcn')),
            title TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
            severity TEXT NOT NULL CHECK (severity IN ('down', 'degraded')),
            opened_at INTEGER NOT NULL,
            resolved_at INTEGER,
            affected TEXT NOT NULL,        -- JSON array of ODS codes
            affected_count INTEGER NOT NULL,
            peak_affected INTEGER NOT NULL,
            subjects TEXT NOT NULL         -- JSON array of subject keys
          );
          -- One open incident per root cause, enforced here too.
          CREATE UNIQUE INDEX incidents_open_key ON incidents (key) WHERE status = 'open';
          CREATE INDEX incidents_recent ON incidents (opened_at DESC, id DESC);
          CREATE TABLE incident_timeline (
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            seq INTEGER NOT NULL,
            at INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('opened', 'severity', 'affected', 'note', 'reference', 'grouped', 'resolved')),
            text TEXT NOT NULL,
            by_person TEXT,
            count INTEGER,
            PRIMARY KEY (incident_id, seq)
          ) WITHOUT ROWID;
          CREATE TABLE incident_references (
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            seq INTEGER NOT NULL,
            system TEXT NOT NULL CHECK (system IN ('service-desk', 'supplier', 'other')),
            reference TEXT NOT NULL,
            by_person TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (incident_id, seq)
          ) WITHOUT ROWID;`,
  },
  {
    // Kinds 'endpoints' (practices failing together across the estate) and 'pulse' (Pulse's
    // own trouble), a finding per incident, and 'finding' timeline entries. SQLite cannot
    // change a CHECK in place, so the three tables are rebuilt: copied aside, dropped
    // children first (foreign keys stay on and are never violated), created anew, copied back.
    id: 'incidents-2',
    sql: `CREATE TABLE incidents_copy AS SELECT * FROM incidents;
          CREATE TABLE incident_timeline_copy AS SELECT * FROM incident_timeline;
          CREATE TABLE incident_references_copy AS SELECT * FROM incident_references;
          DROP TABLE incident_references;
          DROP TABLE incident_timeline;
          DROP TABLE incidents;
          CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('service', 'practice', 'pcn', 'endpoints', 'pulse')),
            title TEXT NOT NULL,
            finding TEXT,                  -- what Pulse found beyond the title, or NULL
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
            severity TEXT NOT NULL CHECK (severity IN ('down', 'degraded')),
            opened_at INTEGER NOT NULL,
            resolved_at INTEGER,
            affected TEXT NOT NULL,        -- JSON array of ODS codes
            affected_count INTEGER NOT NULL,
            peak_affected INTEGER NOT NULL,
            subjects TEXT NOT NULL         -- JSON array of subject keys
          );
          CREATE UNIQUE INDEX incidents_open_key ON incidents (key) WHERE status = 'open';
          CREATE INDEX incidents_recent ON incidents (opened_at DESC, id DESC);
          CREATE TABLE incident_timeline (
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            seq INTEGER NOT NULL,
            at INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('opened', 'severity', 'affected', 'finding', 'note', 'reference', 'grouped', 'resolved')),
            text TEXT NOT NULL,
            by_person TEXT,
            count INTEGER,
            PRIMARY KEY (incident_id, seq)
          ) WITHOUT ROWID;
          CREATE TABLE incident_references (
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            seq INTEGER NOT NULL,
            system TEXT NOT NULL CHECK (system IN ('service-desk', 'supplier', 'other')),
            reference TEXT NOT NULL,
            by_person TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (incident_id, seq)
          ) WITHOUT ROWID;
          INSERT INTO incidents (id, key, kind, title, finding, status, severity, opened_at, resolved_at, affected, affected_count, peak_affected, subjects)
            SELECT id, key, kind, title, NULL, status, severity, opened_at, resolved_at, affected, affected_count, peak_affected, subjects FROM incidents_copy;
          INSERT INTO incident_timeline (incident_id, seq, at, type, text, by_person, count)
            SELECT incident_id, seq, at, type, text, by_person, count FROM incident_timeline_copy;
          INSERT INTO incident_references (incident_id, seq, system, reference, by_person, at)
            SELECT incident_id, seq, system, reference, by_person, at FROM incident_references_copy;
          DROP TABLE incident_references_copy;
          DROP TABLE incident_timeline_copy;
          DROP TABLE incidents_copy;`,
  },
  {
    // Whose an incident's parts are, for callers scoped to an ICB: each ICB's own peak (JSON
    // object of ICB → most practices affected at once), and the ICB of a note's or reference's
    // writer. The writer's column holds the ICB code, 'national' for a national writer (the
    // field null), or NULL when not known (rows written before this: the field absent).
    id: 'incidents-3',
    sql: `ALTER TABLE incidents ADD COLUMN peak_by_icb TEXT;
          ALTER TABLE incident_timeline ADD COLUMN icb TEXT;
          ALTER TABLE incident_references ADD COLUMN icb TEXT;`,
  },
];

/** The `icb` column's value for a national writer (`icb: null`); NULL in the column means not known. */
export const NATIONAL_ICB = 'national';

/** Most incidents one `recentIncidents` call returns. */
export const RECENT_LIMIT_MAX = 500;

interface IncidentRow {
  id: number;
  key: string;
  kind: string;
  title: string;
  finding: string | null;
  status: string;
  severity: string;
  opened_at: number;
  resolved_at: number | null;
  affected: string;
  affected_count: number;
  peak_affected: number;
  /** JSON object ICB → peak, or NULL when not known. */
  peak_by_icb: string | null;
  subjects: string;
}

interface TimelineRow {
  incident_id: number;
  seq: number;
  at: number;
  type: string;
  text: string;
  by_person: string | null;
  count: number | null;
  /** See `NATIONAL_ICB`. */
  icb: string | null;
}

interface ReferenceRow {
  incident_id: number;
  seq: number;
  system: string;
  reference: string;
  by_person: string;
  at: number;
  /** See `NATIONAL_ICB`. */
  icb: string | null;
}

type HeaderParams = Omit<IncidentRow, never>;

export class SqliteIncidentStore implements IncidentStore {
  private lastId: number;
  private readonly applyMany: (events: IncidentEvent[]) => void;
  private readonly statements;

  /** Applies `INCIDENT_MIGRATIONS` to `db` if they are not yet (migrations run once, by id). */
  constructor(db: Db) {
    migrate(db, INCIDENT_MIGRATIONS);
    const upsert = db.prepare<HeaderParams>(
      `INSERT INTO incidents (id, key, kind, title, finding, status, severity, opened_at, resolved_at, affected, affected_count, peak_affected, peak_by_icb, subjects)
       VALUES (@id, @key, @kind, @title, @finding, @status, @severity, @opened_at, @resolved_at, @affected, @affected_count, @peak_affected, @peak_by_icb, @subjects)
       ON CONFLICT (id) DO UPDATE SET
         key = excluded.key, kind = excluded.kind, title = excluded.title, finding = excluded.finding, status = excluded.status,
         severity = excluded.severity, opened_at = excluded.opened_at, resolved_at = excluded.resolved_at,
         affected = excluded.affected, affected_count = excluded.affected_count,
         peak_affected = excluded.peak_affected, peak_by_icb = excluded.peak_by_icb, subjects = excluded.subjects`,
    );
    const addEntry = db.prepare<TimelineRow>(
      `INSERT INTO incident_timeline (incident_id, seq, at, type, text, by_person, count, icb)
       VALUES (@incident_id, @seq, @at, @type, @text, @by_person, @count, @icb)
       ON CONFLICT (incident_id, seq) DO NOTHING`,
    );
    const addReference = db.prepare<ReferenceRow>(
      `INSERT INTO incident_references (incident_id, seq, system, reference, by_person, at, icb)
       VALUES (@incident_id, @seq, @system, @reference, @by_person, @at, @icb)
       ON CONFLICT (incident_id, seq) DO NOTHING`,
    );
    this.statements = {
      open: db.prepare<[], IncidentRow>(`SELECT * FROM incidents WHERE status = 'open' ORDER BY id`),
      recent: db.prepare<[number, number], IncidentRow>('SELECT * FROM incidents ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?'),
      one: db.prepare<[number], IncidentRow>('SELECT * FROM incidents WHERE id = ?'),
      timeline: db.prepare<[string], TimelineRow>(
        'SELECT * FROM incident_timeline WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY incident_id, seq',
      ),
      references: db.prepare<[string], ReferenceRow>(
        'SELECT * FROM incident_references WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY incident_id, seq',
      ),
    };
    this.applyMany = db.transaction((events: IncidentEvent[]) => {
      for (const event of events) {
        switch (event.type) {
          case 'opened':
          case 'updated':
          case 'resolved':
            upsert.run(toRow(event.incident));
            break;
          case 'timeline':
            addEntry.run({
              incident_id: event.id,
              seq: event.seq,
              at: event.entry.at,
              type: event.entry.type,
              text: event.entry.text,
              by_person: event.entry.by ?? null,
              count: event.entry.count ?? null,
              icb: icbColumn(event.entry.icb),
            });
            break;
          case 'reference':
            addReference.run({
              incident_id: event.id,
              seq: event.seq,
              system: event.reference.system,
              reference: event.reference.reference,
              by_person: event.reference.by,
              at: event.reference.at,
              icb: icbColumn(event.reference.icb),
            });
            break;
        }
      }
    });
    this.lastId = (db.prepare('SELECT max(id) AS id FROM incidents').get() as { id: number | null }).id ?? 0;
  }

  nextIncidentId(): number {
    return ++this.lastId;
  }

  async applyIncidentEvents(events: IncidentEvent[]): Promise<void> {
    if (events.length > 0) this.applyMany(events);
  }

  async openIncidents(): Promise<Incident[]> {
    return this.withDetails(this.statements.open.all());
  }

  async recentIncidents(limit: number, offset: number): Promise<Incident[]> {
    if (!Number.isInteger(limit) || limit < 0 || !Number.isInteger(offset) || offset < 0) {
      throw new RangeError(`recentIncidents: limit and offset must be whole numbers ≥ 0 (got ${limit}, ${offset})`);
    }
    return this.withDetails(this.statements.recent.all(Math.min(limit, RECENT_LIMIT_MAX), offset));
  }

  async incident(id: number): Promise<Incident | null> {
    const row = this.statements.one.get(id);
    return row ? this.withDetails([row])[0]! : null;
  }

  private withDetails(rows: IncidentRow[]): Incident[] {
    if (rows.length === 0) return [];
    const ids = JSON.stringify(rows.map((r) => r.id));
    const timelines = groupBy(this.statements.timeline.all(ids));
    const references = groupBy(this.statements.references.all(ids));
    return rows.map((row) => ({
      ...fromRow(row),
      timeline: (timelines.get(row.id) ?? []).map(toEntry),
      references: (references.get(row.id) ?? []).map(toReference),
    }));
  }
}

function toRow(i: IncidentSummary): HeaderParams {
  return {
    id: i.id,
    key: i.key,
    kind: i.kind,
    title: i.title,
    finding: i.finding,
    status: i.status,
    severity: i.severity,
    opened_at: i.openedAt,
    resolved_at: i.resolvedAt,
    affected: JSON.stringify(i.affected),
    affected_count: i.affected.length,
    peak_affected: i.peakAffected,
    peak_by_icb: i.peakByIcb === undefined ? null : JSON.stringify(i.peakByIcb),
    subjects: JSON.stringify(i.subjects),
  };
}

function fromRow(r: IncidentRow): IncidentSummary {
  const summary: IncidentSummary = {
    id: r.id,
    key: r.key as IncidentKey,
    kind: r.kind as IncidentKind,
    title: r.title,
    finding: r.finding,
    status: r.status as 'open' | 'resolved',
    severity: r.severity as IncidentSeverity,
    openedAt: r.opened_at,
    resolvedAt: r.resolved_at,
    affected: JSON.parse(r.affected) as string[],
    peakAffected: r.peak_affected,
    subjects: JSON.parse(r.subjects) as SubjectKey[],
  };
  if (r.peak_by_icb !== null) summary.peakByIcb = JSON.parse(r.peak_by_icb) as Record<string, number>;
  return summary;
}

function toEntry(r: TimelineRow): TimelineEntry {
  const entry: TimelineEntry = { at: r.at, type: r.type as TimelineType, text: r.text };
  if (r.by_person !== null) entry.by = r.by_person;
  if (r.count !== null) entry.count = r.count;
  if (r.icb !== null) entry.icb = icbField(r.icb);
  return entry;
}

function toReference(r: ReferenceRow): IncidentReference {
  const reference: IncidentReference = { system: r.system as ReferenceSystem, reference: r.reference, by: r.by_person, at: r.at };
  if (r.icb !== null) reference.icb = icbField(r.icb);
  return reference;
}

/** A writer's ICB as stored: the code, `NATIONAL_ICB` for null, NULL when not known (undefined). */
function icbColumn(icb: string | null | undefined): string | null {
  return icb === undefined ? null : icb === null ? NATIONAL_ICB : icb;
}

/** The stored column back as the field's value (a NULL column is left out by the caller: absent). */
function icbField(column: string): string | null {
  return column === NATIONAL_ICB ? null : column;
}

function groupBy<T extends { incident_id: number }>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const row of rows) {
    const list = out.get(row.incident_id) ?? [];
    list.push(row);
    out.set(row.incident_id, list);
  }
  return out;
}
