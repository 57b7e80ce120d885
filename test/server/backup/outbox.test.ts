import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exponentialBackoff, OutboxDrainer } from '../../../server/backup/outbox';
import { sendWebhook, verifySignature } from '../../../server/backup/webhook';
import { openDatabase, type Db } from '../../../server/store/sqlite/db';
import { SqliteOutbox, type OutboxEnqueue, type OutboxItem, type OutboxStore } from '../../../server/store/sqlite/outbox';

const SECRET = 'whsec-outbox-test-secret';
const T0 = 1_750_000_000_000;
const BACKOFF = 1_000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDb(): { dir: string; open: () => Db } {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-outbox-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    open: () => {
      const db = openDatabase(dir);
      cleanups.push(() => db.open && db.close());
      return db;
    },
  };
}

/** A real loopback receiver: verifies the signature (400 if bad), answers with the next scripted status, records keys. */
async function receiver(statuses: number[] = []) {
  const keys: string[] = [];
  let badSignatures = 0;
  let clock = T0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (!verifySignature(SECRET, req.headers['pulse-signature'] as string | undefined, raw, clock)) {
        badSignatures++;
        res.statusCode = 400;
        res.end('bad signature');
        return;
      }
      keys.push(String(req.headers['idempotency-key']));
      const status = statuses.shift() ?? 200;
      res.statusCode = status;
      res.end(status === 400 ? 'unknown practice code' : status >= 500 ? 'try later' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pulse`,
    keys,
    distinct: () => new Set(keys).size,
    bad: () => badSignatures,
    setClock: (t: number) => (clock = t),
  };
}

function item(key: string, ods = 'A81001', runId = 'run-1'): OutboxEnqueue {
  return { idempotencyKey: key, ods, runId, kind: 'webhook', name: 'Notify ICB', payload: { ods, event: 'backup.entered', runId } };
}

function setup(url: string, outbox: OutboxStore, clock: { t: number }, maxAttempts = 8) {
  return new OutboxDrainer({
    outbox,
    now: () => clock.t,
    maxAttempts,
    backoff: () => BACKOFF,
    send: (i: OutboxItem) => sendWebhook({ url, secret: SECRET, body: i.payload, idempotencyKey: i.idempotencyKey, now: () => clock.t, timeoutMs: 2000 }),
  });
}

describe('SqliteOutbox', () => {
  it('ignores a duplicate idempotency key on enqueue, within a batch and across batches', async () => {
    const outbox = new SqliteOutbox(tempDb().open());
    expect(await outbox.enqueue([item('k1'), item('k2'), item('k1')], T0)).toBe(2);
    expect(await outbox.enqueue([{ ...item('k2'), name: 'changed' }, item('k3')], T0)).toBe(1);
    const all = await outbox.actionsOfRun('run-1');
    expect(all.map((a) => a.idempotencyKey)).toEqual(['k1', 'k2', 'k3']);
    expect(all.find((a) => a.idempotencyKey === 'k2')!.name).toBe('Notify ICB');
    expect(all.every((a) => a.state === 'pending' && a.attempts === 0 && a.nextAttemptAt === T0)).toBe(true);
  });

  it('lists per practice and per run, and keeps state across reopening the file', async () => {
    const db = tempDb();
    const first = db.open();
    const outbox = new SqliteOutbox(first);
    await outbox.enqueue([item('a', 'A81001', 'r1'), item('b', 'A81002', 'r1'), item('c', 'A81001', 'r2')], T0);
    await outbox.markDone('a', T0 + 1);
    await outbox.markRetry('b', T0 + 1, T0 + 500, 'HTTP 503');
    await outbox.markFailed('c', T0 + 2, 'HTTP 400: no');
    await outbox.markRetry('a', T0 + 3, T0 + 9, 'late'); // a finished action never moves again
    first.close();

    const reopened = new SqliteOutbox(db.open());
    expect((await reopened.actionsOf('A81001')).map((a) => [a.idempotencyKey, a.state, a.attempts, a.lastError, a.nextAttemptAt])).toEqual([
      ['a', 'done', 1, null, null],
      ['c', 'failed', 1, 'HTTP 400: no', null],
    ]);
    expect(await reopened.actionsOfRun('r1')).toMatchObject([
      { idempotencyKey: 'a', state: 'done' },
      { idempotencyKey: 'b', ods: 'A81002', state: 'retrying', attempts: 1, lastError: 'HTTP 503', nextAttemptAt: T0 + 500 },
    ]);
    expect(await reopened.due(T0 + 499, 10)).toEqual([]);
    expect((await reopened.due(T0 + 500, 10)).map((a) => a.idempotencyKey)).toEqual(['b']);
    expect((await reopened.actionsOfRun('r1'))[1]!.payload).toEqual({ ods: 'A81002', event: 'backup.entered', runId: 'r1' });
  });
});

describe('OutboxDrainer against a loopback receiver', () => {
  it('retries a receiver that fails twice with 503 and records done with attempts = 3', async () => {
    const r = await receiver([503, 503]);
    const outbox = new SqliteOutbox(tempDb().open());
    const clock = { t: T0 };
    const drainer = setup(r.url, outbox, clock);
    await outbox.enqueue([item('run-1:notify-icb')], T0);

    expect(await drainer.drainOnce()).toEqual({ sent: 1, done: 0, retrying: 1, failed: 0 });
    expect(await outbox.actionsOf('A81001')).toMatchObject([{ state: 'retrying', attempts: 1, lastError: expect.stringContaining('HTTP 503'), nextAttemptAt: T0 + BACKOFF }]);
    expect(await drainer.drainOnce()).toEqual({ sent: 0, done: 0, retrying: 0, failed: 0 }); // not due yet
    clock.t += BACKOFF;
    r.setClock(clock.t);
    await drainer.drainOnce();
    expect(await outbox.actionsOf('A81001')).toMatchObject([{ state: 'retrying', attempts: 2 }]);
    clock.t += BACKOFF;
    r.setClock(clock.t);
    expect(await drainer.drainOnce()).toEqual({ sent: 1, done: 1, retrying: 0, failed: 0 });

    expect(await outbox.actionsOf('A81001')).toMatchObject([{ state: 'done', attempts: 3, lastError: null, nextAttemptAt: null }]);
    expect(r.keys).toEqual(['run-1:notify-icb', 'run-1:notify-icb', 'run-1:notify-icb']);
    expect(r.bad()).toBe(0);
    clock.t += 10 * BACKOFF;
    await drainer.drainOnce();
    expect(r.keys).toHaveLength(3);
  });

  it('fails at once on a 400, with the receiver’s reason', async () => {
    const r = await receiver([400]);
    const outbox = new SqliteOutbox(tempDb().open());
    const clock = { t: T0 };
    await outbox.enqueue([item('k')], T0);
    expect(await setup(r.url, outbox, clock).drainOnce()).toEqual({ sent: 1, done: 0, retrying: 0, failed: 1 });
    const [a] = await outbox.actionsOf('A81001');
    expect(a).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null });
    expect(a!.lastError).toContain('HTTP 400');
    expect(a!.lastError).toContain('unknown practice code');
  });

  it('gives up after maxAttempts with the last error', async () => {
    const r = await receiver([503, 503, 502, 503, 503]);
    const outbox = new SqliteOutbox(tempDb().open());
    const clock = { t: T0 };
    const drainer = setup(r.url, outbox, clock, 3);
    await outbox.enqueue([item('k')], T0);
    for (let i = 0; i < 5; i++) {
      await drainer.drainOnce();
      clock.t += BACKOFF;
      r.setClock(clock.t);
    }
    expect(r.keys).toHaveLength(3);
    const [a] = await outbox.actionsOf('A81001');
    expect(a).toMatchObject({ state: 'failed', attempts: 3, nextAttemptAt: null });
    expect(a!.lastError).toMatch(/gave up after 3 attempts: HTTP 502/);
  });

  it('counts a send that throws as retryable', async () => {
    const outbox = new SqliteOutbox(tempDb().open());
    await outbox.enqueue([item('k')], T0);
    const drainer = new OutboxDrainer({ outbox, now: () => T0, backoff: () => 50, send: () => Promise.reject(new Error('secret unresolved')) });
    await drainer.drainOnce();
    expect(await outbox.actionsOf('A81001')).toMatchObject([{ state: 'retrying', attempts: 1, lastError: 'send threw: secret unresolved', nextAttemptAt: T0 + 50 }]);
  });

  it('sends many due items with bounded concurrency', async () => {
    const outbox = new SqliteOutbox(tempDb().open());
    await outbox.enqueue(Array.from({ length: 20 }, (_, i) => item(`k${i}`, `A8${String(i).padStart(4, '0')}`)), T0);
    let active = 0;
    let peak = 0;
    const drainer = new OutboxDrainer({
      outbox,
      now: () => T0,
      concurrency: 3,
      send: async () => {
        peak = Math.max(peak, ++active);
        await new Promise((r) => setImmediate(r));
        active--;
        return { ok: true };
      },
    });
    expect(await drainer.drainOnce()).toEqual({ sent: 20, done: 20, retrying: 0, failed: 0 });
    expect(peak).toBe(3);
  });

  it('after a crash between the 2xx and markDone, re-sends with the same key once restarted; the receiver sees one distinct key', async () => {
    const r = await receiver();
    const db = tempDb();
    const clock = { t: T0 };
    const firstDb = db.open();
    const real = new SqliteOutbox(firstDb);
    await real.enqueue([item('run-7:notify-icb')], T0);
    // The process "dies" right after the receiver answered 2xx, before the result is written.
    const crashing: OutboxStore = Object.assign(Object.create(real) as SqliteOutbox, {
      markDone: () => Promise.reject(new Error('killed')),
    });
    await expect(setup(r.url, crashing, clock).drainOnce()).rejects.toThrow('killed');
    expect(r.keys).toEqual(['run-7:notify-icb']);
    firstDb.close();

    const restarted = new SqliteOutbox(db.open());
    expect(await restarted.actionsOf('A81001')).toMatchObject([{ state: 'pending', attempts: 0 }]);
    expect(await setup(r.url, restarted, clock).drainOnce()).toEqual({ sent: 1, done: 1, retrying: 0, failed: 0 });
    expect(r.keys).toEqual(['run-7:notify-icb', 'run-7:notify-icb']);
    expect(r.distinct()).toBe(1);
    expect(await restarted.actionsOf('A81001')).toMatchObject([{ state: 'done', attempts: 1 }]);
  });
});

describe('exponentialBackoff', () => {
  it('doubles from the base, jitters within [half, all], and is capped', () => {
    expect(exponentialBackoff(1, { baseMs: 1000, random: () => 0 })).toBe(500);
    expect(exponentialBackoff(1, { baseMs: 1000, random: () => 1 })).toBe(1000);
    expect(exponentialBackoff(4, { baseMs: 1000, random: () => 1 })).toBe(8000);
    expect(exponentialBackoff(30, { baseMs: 1000, capMs: 600_000, random: () => 1 })).toBe(600_000);
    expect(exponentialBackoff(30, { baseMs: 1000, capMs: 600_000, random: () => 0 })).toBe(300_000);
  });
});
