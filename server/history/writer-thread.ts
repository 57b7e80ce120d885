// The history writer's thread (worker_threads): its own better-sqlite3 connection to the same
// WAL database, so writing a minute of 50,000 checks (and packing finished hours, pruning, and
// the rows of the engine's incremental snapshot) never runs on the server's event loop. Answers one request at a time, in order, from
// writer-client.ts; each request is one short transaction. Only starts when it is the
// thread writer-client.ts made (workerData.pulseHistoryWriter): bundled or imported anywhere
// else it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SqliteHistoryStore } from '../store/sqlite/history';
import { SqliteSignalStore } from '../store/sqlite/signals';
import type { WriterReply, WriterRequest } from './writer-client';

const data = workerData as { pulseHistoryWriter?: true; file?: string } | null;
if (!isMainThread && parentPort && data?.pulseHistoryWriter === true && typeof data.file === 'string') {
  const port = parentPort;
  const db = new Database(data.file);
  // Per connection: the same settings as the server's own (server/store/sqlite/db.ts).
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  const store = new SqliteHistoryStore(db, { offThread: false });
  const signals = new SqliteSignalStore(db);
  port.on('message', (req: WriterRequest) => {
    let reply: WriterReply;
    try {
      if (req.op === 'close') {
        db.close();
        port.postMessage({ id: req.id, ok: true, value: null } satisfies WriterReply);
        port.close();
        return;
      }
      const value =
        req.op === 'writeMinutes'
          ? (store.writeMinutesNow(req.rows), null)
          : req.op === 'seal'
            ? store.sealNow(req.before, req.limit)
            : req.op === 'prune'
              ? store.pruneNow(req.olderThan)
              : req.op === 'engineState'
                ? (signals.writeEngineStateNow(req.rows, req.header), null)
                : // A checkpoint of what the server's own connection wrote too (it leaves them to this thread).
                (db.pragma('wal_checkpoint(PASSIVE)'), null);
      reply = { id: req.id, ok: true, value };
    } catch (err) {
      const e = err as { message?: unknown; code?: unknown; name?: unknown };
      reply = {
        id: req.id,
        ok: false,
        error: { message: String(e?.message ?? err), name: String(e?.name ?? 'Error'), ...(typeof e?.code === 'string' ? { code: e.code } : {}) },
      };
    }
    port.postMessage(reply);
  });
}
