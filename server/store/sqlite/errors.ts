// The one place SQLite's error codes are read: a failure of the database itself (disk full,
// read-only, I/O error, cannot open, locked) becomes a StoreUnavailable reason; anything else
// (a constraint, a bug) is not classified and stays the caller's error. Decides nothing else.
import type { StoreUnavailableReason } from '../health';

/** The reason for an SQLite error by its code (`SQLITE_FULL`, `SQLITE_IOERR_WRITE`, …), or null. */
export function classifySqliteError(err: unknown): StoreUnavailableReason | null {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (code === 'SQLITE_FULL') return 'disk-full';
  if (code.startsWith('SQLITE_READONLY')) return 'read-only';
  if (code.startsWith('SQLITE_IOERR')) return 'io-error';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'cannot-open';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  // Node's own file errors when the data folder cannot be made or opened.
  if (code === 'ENOSPC') return 'disk-full';
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'read-only';
  if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOENT') return 'cannot-open';
  if (code === 'EIO') return 'io-error';
  return null;
}
