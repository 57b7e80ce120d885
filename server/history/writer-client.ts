// Starts and talks to the history writer's thread (writer-thread.ts): requests go in order,
// each answered once; an error in the thread comes back as an Error with SQLite's code, so
// the store's error classifier reads it as it would on the main thread. The thread keeps the
// process alive only while a request is outstanding. If the thread dies, every outstanding
// request fails and the client says so (`dead`); its owner then writes on the main thread.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MinuteRow } from './types';

export type WriterRequest =
  | { id: number; op: 'writeMinutes'; rows: readonly MinuteRow[] }
  | { id: number; op: 'seal'; before: number; limit: number }
  | { id: number; op: 'prune'; olderThan: number }
  | { id: number; op: 'checkpoint' }
  /** Rows of the engine's incremental snapshot (JSON, null: delete) and, with the last slice, its header. */
  | { id: number; op: 'engineState'; rows: [string, string | null][]; header: { savedAt: number; body: string } | null }
  | { id: number; op: 'close' };

export type WriterReply =
  | { id: number; ok: true; value: number | null }
  | { id: number; ok: false; error: { message: string; name: string; code?: string } };

type Pending = { resolve: (value: number | null) => void; reject: (err: Error) => void };

/** Where the thread's entry is: beside this file from source; beside the bundle when compiled. */
function entry(): { url: URL; typescript: boolean } | null {
  const here = fileURLToPath(import.meta.url);
  if (/\.[cm]?ts$/.test(here)) {
    const url = new URL('./writer-thread.ts', import.meta.url);
    return existsSync(url) ? { url, typescript: true } : null;
  }
  // Compiled by scripts/build.mjs: this code is in dist/server/cli.js or a chunk of it (dist/server/chunks/),
  // the entry is dist/server/history/writer-thread.js.
  for (const rel of ['./history/writer-thread.js', '../history/writer-thread.js', './writer-thread.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return { url, typescript: false };
  }
  return null;
}

/** A thread that runs TypeScript: tsx registered inside it first (tests, development). */
function typescriptWorker(url: URL, workerData: unknown): Worker {
  const api = createRequire(import.meta.url).resolve('tsx/esm/api').replace(/index\.cjs$/, 'index.mjs');
  const code = `import(${JSON.stringify(pathToFileURL(api).href)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

export class WriterClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  /** Set once the thread has stopped (closed or died); requests then fail at once. */
  dead: Error | null = null;

  private constructor(worker: Worker, onDeath: (err: Error) => void) {
    this.worker = worker;
    worker.unref();
    worker.on('message', (reply: WriterReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0 && !this.closing) worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name, ...(reply.error.code ? { code: reply.error.code } : {}) }));
    });
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (!this.closing) onDeath(err);
    };
    worker.on('error', (err) => die(err));
    worker.on('exit', (code) => die(new Error(`the history writer thread stopped (exit code ${code})`)));
  }

  /** A thread writing to the database file `file`; null when its entry file is not there (a build without it). */
  static start(file: string, onDeath: (err: Error) => void): WriterClient | null {
    const where = entry();
    if (!where) return null;
    const workerData = { pulseHistoryWriter: true, file };
    const worker = where.typescript ? typescriptWorker(where.url, workerData) : new Worker(where.url, { workerData });
    return new WriterClient(worker, onDeath);
  }

  request(req: DistributiveOmit<WriterRequest, 'id'>): Promise<number | null> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...req, id });
    });
  }

  /** After everything outstanding: closes the thread's connection and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.dead) return;
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      // Held until it has gone: an unreferenced thread would let the process end mid-close.
      this.worker.ref();
      await this.request({ op: 'close' }).catch(() => {});
      await exited;
    })();
    return this.closing;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
