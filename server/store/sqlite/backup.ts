// The backup-mode part of the SQLite store: each practice's current backup state, the
// append-only transitions, checklist ticks, readiness marks, the re-entry backlog and the
// cost log. Every write goes in one transaction with its audit entry (and, for a switch, the
// run's outbox rows), so what was decided is on disk before anything is sent.
import type { AuditEntry, AuditInput } from '../../auth/types';
import type {
  Backlog,
  BackupStore,
  ChecklistTick,
  CostEntry,
  ReadinessMark,
  SwitchBatch,
} from '../../backup/store';
import type { BackupReasonCode, BackupState, BackupTransition, PracticeBackup } from '../../backup/types';
import type { SqliteAccountStore } from './accounts';
import { migrate, type Db, type Migration } from './db';
import { SqliteOutbox } from './outbox';

export const BACKUP_MIGRATIONS: Migration[] = [
  {
    id: 'backup-1',
    sql: `CREATE TABLE backup_practices (
            ods TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('normal', 'entering', 'backup', 'leaving')),
            since INTEGER NOT NULL,
            run_id TEXT,
            entered_by TEXT,
            reason_code TEXT,
            reason TEXT
          );
          CREATE TABLE backup_transitions (
            id INTEGER PRIMARY KEY,
            ods TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            at INTEGER NOT NULL,
            by TEXT NOT NULL,
            automatic INTEGER NOT NULL,
            reason_code TEXT NOT NULL,
            reason TEXT NOT NULL,
            evidence TEXT NOT NULL,             -- JSON {status, cause}
            run_id TEXT NOT NULL,
            bulk_id TEXT
          );
          CREATE INDEX backup_transitions_ods ON backup_transitions (ods, at);
          CREATE INDEX backup_transitions_at ON backup_transitions (at);
          CREATE TRIGGER backup_transitions_no_update BEFORE UPDATE ON backup_transitions
            BEGIN SELECT RAISE(ABORT, 'backup transitions are append-only'); END;
          CREATE TRIGGER backup_transitions_no_delete BEFORE DELETE ON backup_transitions
            BEGIN SELECT RAISE(ABORT, 'backup transitions are append-only'); END;
          CREATE TABLE backup_checklist (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            ods TEXT NOT NULL,
            item_id TEXT NOT NULL,
            done INTEGER NOT NULL,
            by TEXT NOT NULL,
            at INTEGER NOT NULL
          );
          CREATE INDEX backup_checklist_run ON backup_checklist (run_id, item_id, id);
          CREATE TABLE backup_readiness (
            ods TEXT NOT NULL,
            item_id TEXT NOT NULL,
            done INTEGER NOT NULL,
            by TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (ods, item_id)
          );
          CREATE TABLE backup_backlog (
            ods TEXT PRIMARY KEY,
            urgent_referrals INTEGER NOT NULL,
            prescriptions INTEGER NOT NULL,
            consultations INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            updated_by TEXT NOT NULL
          );
          CREATE TABLE backup_costs (
            id INTEGER PRIMARY KEY,
            ods TEXT NOT NULL,
            at INTEGER NOT NULL,
            by TEXT NOT NULL,
            description TEXT NOT NULL,
            amount_pence INTEGER NOT NULL,
            incident_id INTEGER
          );
          CREATE INDEX backup_costs_ods ON backup_costs (ods, at);`,
  },
];

interface StateRow {
  ods: string;
  state: BackupState;
  since: number;
  run_id: string | null;
  entered_by: string | null;
  reason_code: BackupReasonCode | null;
  reason: string | null;
}

interface TransitionRow {
  ods: string;
  from_state: BackupState;
  to_state: BackupState;
  at: number;
  by: string;
  automatic: number;
  reason_code: BackupReasonCode;
  reason: string;
  evidence: string;
  run_id: string;
  bulk_id: string | null;
}

function toTransition(r: TransitionRow): BackupTransition {
  return {
    ods: r.ods,
    from: r.from_state,
    to: r.to_state,
    at: r.at,
    by: r.by,
    automatic: r.automatic === 1,
    reasonCode: r.reason_code,
    reason: r.reason,
    evidence: JSON.parse(r.evidence) as BackupTransition['evidence'],
    runId: r.run_id,
    bulkId: r.bulk_id,
  };
}

interface BacklogRow {
  ods: string;
  urgent_referrals: number;
  prescriptions: number;
  consultations: number;
  updated_at: number;
  updated_by: string;
}

function toBacklog(r: BacklogRow): Backlog {
  return {
    ods: r.ods,
    urgentReferrals: r.urgent_referrals,
    prescriptions: r.prescriptions,
    consultations: r.consultations,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}

interface CostRow {
  id: number;
  ods: string;
  at: number;
  by: string;
  description: string;
  amount_pence: number;
  incident_id: number | null;
}

function toCost(r: CostRow): CostEntry {
  return { id: r.id, ods: r.ods, at: r.at, by: r.by, description: r.description, amountPence: r.amount_pence, incidentId: r.incident_id };
}

export class SqliteBackupStore implements BackupStore {
  readonly outbox: SqliteOutbox;
  private readonly switchTx: (batch: SwitchBatch) => AuditEntry | null;
  private readonly withAudit: <T>(write: () => T, audit: AuditInput) => T;

  constructor(
    private readonly db: Db,
    accounts: SqliteAccountStore,
  ) {
    migrate(db, BACKUP_MIGRATIONS);
    this.outbox = new SqliteOutbox(db);
    const upsert = db.prepare(
      `INSERT INTO backup_practices (ods, state, since, run_id, entered_by, reason_code, reason) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ods) DO UPDATE SET state = excluded.state, since = excluded.since, run_id = excluded.run_id,
         entered_by = excluded.entered_by, reason_code = excluded.reason_code, reason = excluded.reason`,
    );
    const insertTransition = db.prepare(
      `INSERT INTO backup_transitions (ods, from_state, to_state, at, by, automatic, reason_code, reason, evidence, run_id, bulk_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const outbox = this.outbox;
    // IMMEDIATE: the write lock is taken before anything is read, as the audit chain needs.
    const tx = db.transaction((batch: SwitchBatch): AuditEntry | null => {
      for (const { state: s, transition: t } of batch.steps) {
        upsert.run(s.ods, s.state, s.since, s.runId, s.enteredBy, s.reasonCode, s.reason);
        insertTransition.run(t.ods, t.from, t.to, t.at, t.by, t.automatic ? 1 : 0, t.reasonCode, t.reason, JSON.stringify(t.evidence), t.runId, t.bulkId);
      }
      outbox.enqueueNow(batch.outbox, batch.steps[0]?.transition.at ?? Date.now());
      return batch.audit ? accounts.appendAuditNow(batch.audit) : null;
    });
    this.switchTx = (batch) => tx.immediate(batch);
    const auditTx = db.transaction((write: () => unknown, audit: AuditInput) => {
      const result = write();
      accounts.appendAuditNow(audit);
      return result;
    });
    this.withAudit = <T>(write: () => T, audit: AuditInput) => auditTx.immediate(write, audit) as T;
  }

  async states(): Promise<PracticeBackup[]> {
    const rows = this.db.prepare('SELECT * FROM backup_practices ORDER BY ods').all() as StateRow[];
    return rows.map((r) => ({
      ods: r.ods,
      state: r.state,
      since: r.since,
      runId: r.run_id,
      enteredBy: r.entered_by,
      reasonCode: r.reason_code,
      reason: r.reason,
    }));
  }

  async recordSwitch(batch: SwitchBatch): Promise<AuditEntry | null> {
    return this.switchTx(batch);
  }

  async transitionsOf(ods: string, limit: number): Promise<BackupTransition[]> {
    const rows = this.db
      .prepare('SELECT * FROM backup_transitions WHERE ods = ? ORDER BY at DESC, id DESC LIMIT ?')
      .all(ods, Math.max(0, Math.floor(limit))) as TransitionRow[];
    return rows.map(toTransition);
  }

  async transitionsBetween(from: number, to: number): Promise<BackupTransition[]> {
    const rows = this.db
      .prepare('SELECT * FROM backup_transitions WHERE at >= ? AND at < ? ORDER BY at, id')
      .all(from, to) as TransitionRow[];
    return rows.map(toTransition);
  }

  async tickChecklist(tick: ChecklistTick, audit: AuditInput): Promise<void> {
    const insert = this.db.prepare('INSERT INTO backup_checklist (run_id, ods, item_id, done, by, at) VALUES (?, ?, ?, ?, ?, ?)');
    this.withAudit(() => insert.run(tick.runId, tick.ods, tick.itemId, tick.done ? 1 : 0, tick.by, tick.at), audit);
  }

  async checklistOf(runId: string): Promise<ChecklistTick[]> {
    const rows = this.db
      .prepare(
        `SELECT c.* FROM backup_checklist c
         JOIN (SELECT item_id, max(id) AS id FROM backup_checklist WHERE run_id = ? GROUP BY item_id) latest ON latest.id = c.id
         ORDER BY c.id`,
      )
      .all(runId) as { run_id: string; ods: string; item_id: string; done: number; by: string; at: number }[];
    return rows.map((r) => ({ runId: r.run_id, ods: r.ods, itemId: r.item_id, done: r.done === 1, by: r.by, at: r.at }));
  }

  async checklistOfRuns(runIds: string[]): Promise<ChecklistTick[]> {
    if (runIds.length === 0) return [];
    const rows = this.db
      .prepare(
        `SELECT c.* FROM backup_checklist c
         JOIN (SELECT max(id) AS id FROM backup_checklist WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id, item_id) latest ON latest.id = c.id
         ORDER BY c.id`,
      )
      .all(JSON.stringify(runIds)) as { run_id: string; ods: string; item_id: string; done: number; by: string; at: number }[];
    return rows.map((r) => ({ runId: r.run_id, ods: r.ods, itemId: r.item_id, done: r.done === 1, by: r.by, at: r.at }));
  }

  async markReadiness(mark: ReadinessMark, audit: AuditInput): Promise<void> {
    const upsert = this.db.prepare(
      `INSERT INTO backup_readiness (ods, item_id, done, by, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (ods, item_id) DO UPDATE SET done = excluded.done, by = excluded.by, at = excluded.at`,
    );
    this.withAudit(() => upsert.run(mark.ods, mark.itemId, mark.done ? 1 : 0, mark.by, mark.at), audit);
  }

  async readinessOf(ods: string): Promise<ReadinessMark[]> {
    const rows = this.db.prepare('SELECT * FROM backup_readiness WHERE ods = ? ORDER BY item_id').all(ods) as {
      ods: string;
      item_id: string;
      done: number;
      by: string;
      at: number;
    }[];
    return rows.map((r) => ({ ods: r.ods, itemId: r.item_id, done: r.done === 1, by: r.by, at: r.at }));
  }

  async setBacklog(b: Backlog, audit: AuditInput): Promise<void> {
    const upsert = this.db.prepare(
      `INSERT INTO backup_backlog (ods, urgent_referrals, prescriptions, consultations, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (ods) DO UPDATE SET urgent_referrals = excluded.urgent_referrals, prescriptions = excluded.prescriptions,
         consultations = excluded.consultations, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    );
    this.withAudit(() => upsert.run(b.ods, b.urgentReferrals, b.prescriptions, b.consultations, b.updatedAt, b.updatedBy), audit);
  }

  async backlogOf(ods: string): Promise<Backlog | null> {
    const row = this.db.prepare('SELECT * FROM backup_backlog WHERE ods = ?').get(ods) as BacklogRow | undefined;
    return row ? toBacklog(row) : null;
  }

  async backlogs(): Promise<Backlog[]> {
    return (this.db.prepare('SELECT * FROM backup_backlog ORDER BY ods').all() as BacklogRow[]).map(toBacklog);
  }

  async addCost(entry: Omit<CostEntry, 'id'>, audit: AuditInput): Promise<CostEntry> {
    const insert = this.db.prepare('INSERT INTO backup_costs (ods, at, by, description, amount_pence, incident_id) VALUES (?, ?, ?, ?, ?, ?)');
    const id = this.withAudit(
      () => Number(insert.run(entry.ods, entry.at, entry.by, entry.description, entry.amountPence, entry.incidentId).lastInsertRowid),
      audit,
    );
    return { id, ...entry };
  }

  async costs(incidentId?: number): Promise<CostEntry[]> {
    const rows =
      incidentId === undefined
        ? this.db.prepare('SELECT * FROM backup_costs ORDER BY at, id').all()
        : this.db.prepare('SELECT * FROM backup_costs WHERE incident_id = ? ORDER BY at, id').all(incidentId);
    return (rows as CostRow[]).map(toCost);
  }

  async costsOf(ods: string): Promise<CostEntry[]> {
    return (this.db.prepare('SELECT * FROM backup_costs WHERE ods = ? ORDER BY at, id').all(ods) as CostRow[]).map(toCost);
  }
}
