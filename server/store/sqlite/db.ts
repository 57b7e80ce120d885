// Opens Pulse's SQLite database and applies each part's migrations once, by name, so the
// parts of the store (transitions, history, incidents, …) each own their own tables.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { reasonText } from '../health';
import { classifySqliteError } from './errors';

export type Db = Database.Database;

export interface Migration {
  /** Unique and never renamed once released, e.g. `transitions-1`. */
  id: string;
  sql: string;
}

/** The data folder or its database could not be opened at start-up: names the path and why, in one line. */
export class StoreOpenError extends Error {
  readonly code = 'STORE_CANNOT_OPEN';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot open ${path}: ${why(cause)}; set PULSE_DATA_DIR to a folder Pulse can write`, { cause });
    this.name = 'StoreOpenError';
  }
}

const FILE_ERRORS: Record<string, string> = {
  ENOTDIR: 'part of the path is a file, not a folder',
  EEXIST: 'a file is in the way',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'disk full',
};

/** In plain words, with the code: `part of the path is a file, not a folder (ENOTDIR)`. */
function why(cause: unknown): string {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : '';
  const reason = classifySqliteError(cause);
  const words = FILE_ERRORS[code] ?? (reason ? reasonText(reason).replace(/^database: /, '') : String(cause));
  return code ? `${words} (${code})` : words;
}

/**
 * Opens (creating if needed) `pulse.db` in `dataDir`; `:memory:` for an in-memory database.
 * A folder or file it cannot create, open or write throws a StoreOpenError naming the path.
 */
export function openDatabase(dataDir: string): Db {
  if (dataDir !== ':memory:') ensureDataDir(dataDir);
  try {
    return open(dataDir);
  } catch (err) {
    throw new StoreOpenError(dataDir === ':memory:' ? dataDir : join(dataDir, 'pulse.db'), err);
  }
}

/** Creates the data folder if needed; one that cannot be made (a file in the way, read-only) throws a StoreOpenError naming it. */
export function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new StoreOpenError(dataDir, err);
  }
}

function open(dataDir: string): Db {
  let db: Db;
  if (dataDir === ':memory:') {
    db = new Database(':memory:');
  } else {
    db = new Database(join(dataDir, 'pulse.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    // A read-only file or folder is found now, at start-up, not at the first status change.
    db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true })) | 0}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

export function migrate(db: Db, migrations: Migration[]): void {
  const applied = new Set((db.prepare('SELECT id FROM migrations').all() as { id: string }[]).map((r) => r.id));
  const record = db.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)');
  for (const m of migrations) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.id, Date.now());
    })();
  }
}
