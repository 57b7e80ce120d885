// The store's own trouble, classified once and reported once per change: SQLite error codes to
// reasons, the health that /readyz and the 503s read, and a data folder that cannot be opened.
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreHealth, StoreUnavailableError } from '../../../server/store/health';
import { SqliteStore } from '../../../server/store/sqlite';
import { StoreOpenError } from '../../../server/store/sqlite/db';
import { classifySqliteError } from '../../../server/store/sqlite/errors';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o755);
    rmSync(d, { recursive: true, force: true });
  }
});

describe('classifySqliteError', () => {
  it('names the reason by SQLite code, extended codes included, and leaves other errors alone', () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect(classifySqliteError(e('SQLITE_FULL'))).toBe('disk-full');
    expect(classifySqliteError(e('SQLITE_READONLY'))).toBe('read-only');
    expect(classifySqliteError(e('SQLITE_READONLY_DBMOVED'))).toBe('read-only');
    expect(classifySqliteError(e('SQLITE_IOERR_WRITE'))).toBe('io-error');
    expect(classifySqliteError(e('SQLITE_CANTOPEN'))).toBe('cannot-open');
    expect(classifySqliteError(e('SQLITE_BUSY'))).toBe('busy');
    expect(classifySqliteError(e('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(classifySqliteError(new Error('a bug'))).toBeNull();
    expect(classifySqliteError('text')).toBeNull();
  });

  it('reads a real SQLITE_FULL from a database at its max_page_count', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (pad BLOB)');
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    let caught: unknown;
    try {
      for (let i = 0; i < 1_000; i++) db.prepare('INSERT INTO t VALUES (randomblob(4000))').run();
    } catch (err) {
      caught = err;
    }
    expect(classifySqliteError(caught)).toBe('disk-full');
    db.pragma('query_only = ON');
    expect(() => db.prepare('DELETE FROM t').run()).toThrow();
    try {
      db.prepare('DELETE FROM t').run();
    } catch (err) {
      expect(classifySqliteError(err)).toBe('read-only');
    }
  });
});

describe('StoreHealth', () => {
  it('logs once per change of state, not per failure, and counts every failure', () => {
    const lines: string[] = [];
    const counted: string[] = [];
    const health = new StoreHealth({
      classify: classifySqliteError,
      log: (level, msg) => lines.push(`${level}: ${msg}`),
      onFailure: (r) => counted.push(r),
      now: () => 1_000,
    });
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(health.failed(full)).toBe('disk-full');
    expect(health.failed(full)).toBe('disk-full');
    expect(health.failed(new StoreUnavailableError('disk-full'))).toBe('disk-full');
    expect(health.problem).toEqual({ reason: 'disk-full', since: 1_000 });
    expect(health.failed(new Error('a bug'))).toBeNull();
    health.succeeded();
    health.succeeded();
    expect(health.problem).toBeNull();
    expect(counted).toEqual(['disk-full', 'disk-full', 'disk-full']);
    expect(lines).toEqual([
      'error: store unavailable: database: disk full; status keeps running in memory',
      'info: store available again',
    ]);
  });
});

describe('opening the data folder', () => {
  it('names the path when the data folder is under a regular file (fails for root too)', () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const dataDir = join(file, 'data');
    expect(() => new SqliteStore(dataDir)).toThrow(StoreOpenError);
    expect(() => new SqliteStore(dataDir)).toThrow(`cannot open ${dataDir}: part of the path is a file, not a folder (ENOTDIR)`);
  });

  it('names the database when pulse.db cannot be opened (a folder in its place)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pulse.db'));
    expect(() => new SqliteStore(dir)).toThrow(`cannot open ${join(dir, 'pulse.db')}: cannot open (SQLITE_CANTOPEN)`);
  });

  it('names the path of a read-only data folder', (ctx) => {
    const dir = tempDir();
    chmodSync(dir, 0o555);
    let writable = true;
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      writable = false;
    }
    // As root, chmod does not stop writes: nothing to test (the cases above fail for root too).
    if (writable) ctx.skip();
    expect(() => new SqliteStore(dir)).toThrow(`cannot open ${join(dir, 'pulse.db')}`);
  });

  it('the CLI prints one line naming the path and exits 2, no stack trace', () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const dataDir = join(file, 'data');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts'], {
      env: { ...process.env, PULSE_DATA_DIR: dataDir, PORT: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(
      `pulse: cannot open ${dataDir}: part of the path is a file, not a folder (ENOTDIR); set PULSE_DATA_DIR to a folder Pulse can write`,
    );
  }, 60_000);
});
