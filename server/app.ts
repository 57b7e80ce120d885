// Builds one Pulse server from its dependencies: the estate, a store, a clock and a logger.
// Wires ingest → status engine → (live hub, store, metrics) and serves the REST API, the
// dashboard and the two WebSockets (/ws for dashboards, /workers for probe workers).
// Starts no timers and opens no ports itself: main.ts does, so tests can drive ticks.
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { WebSocketServer } from 'ws';
import type { CheckAssignment } from '../probes/types';
import type { Estate } from './config/estate';
import { odsCode } from './config/schema';
import { LiveHub } from './live/hub';
import type { PracticeView, ServiceView } from './live/protocol';
import type { Logger } from './log';
import { createMetrics } from './metrics';
import { StatusEngine, splitKey } from './status/engine';
import type { StatusLevel } from './status/types';
import type { Store } from './store/types';
import { emptyCounts, practiceCounts, practiceView, serviceView } from './views';
import { WorkerGateway } from './workers/gateway';

export interface Clock {
  now(): number;
}

export interface PulseDeps {
  estate: Estate;
  store: Store;
  clock: Clock;
  log: Logger;
  /** Shared secret probe workers present as a bearer token. */
  workerToken: string;
  /** Folder holding the built dashboard (index.html); optional in API-only tests. */
  webDir?: string;
  heartbeatMs?: number;
  liveBufferLimitBytes?: number;
}

export type ErrorBody = { error: { code: string; message: string } };

export function createPulse(deps: PulseDeps) {
  const { estate, store, clock, log } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 5_000;
  const engine = new StatusEngine(estate, clock.now());
  engine.recompute(clock.now());

  const practiceViews = new Map<string, PracticeView>();
  for (const ods of estate.practices.keys()) practiceViews.set(ods, practiceView(estate, engine, ods));
  const serviceViews = new Map<string, ServiceView>();
  const refreshServices = (): ServiceView[] => {
    const affected = engine.practicesAffected();
    const changed: ServiceView[] = [];
    for (const id of estate.services.keys()) {
      const next = serviceView(estate, engine, id, affected);
      const prev = serviceViews.get(id);
      if (!prev || JSON.stringify(prev) !== JSON.stringify(next)) {
        serviceViews.set(id, next);
        changed.push(next);
      }
    }
    return changed;
  };
  refreshServices();

  const serviceCounts = () => {
    const counts = emptyCounts();
    for (const s of serviceViews.values()) counts[s.status]++;
    return counts;
  };

  let metrics: ReturnType<typeof createMetrics>;
  const hub = new LiveHub({
    heartbeatMs,
    bufferLimitBytes: deps.liveBufferLimitBytes ?? 4 * 1024 * 1024,
    now: () => clock.now(),
    snapshot: () => ({
      practices: [...practiceViews.values()],
      services: [...serviceViews.values()],
      counts: practiceCounts(practiceViews.values()),
    }),
    onMessage: (type) => metrics.liveMessage(type),
  });

  const assignments = (): CheckAssignment[] =>
    [...estate.checks.values()].map(({ subject: _subject, ...assignment }) => assignment);
  const gateway = new WorkerGateway({
    token: deps.workerToken,
    checks: assignments,
    onResults: (results) => {
      engine.ingest(results);
      for (const r of results) {
        const kind = estate.checks.get(r.checkId)?.kind;
        if (kind) metrics.checkResult(kind, r.ok ? 'ok' : r.error);
      }
    },
    onProtocolError: (reason) => log('warn', reason),
  });

  metrics = createMetrics({
    practiceCounts: () => practiceCounts(practiceViews.values()),
    serviceCounts,
    liveClients: () => hub.size,
    workers: () => gateway.workers(),
  });

  let ticking = false;
  /** Recomputes statuses, then fans the changes out: live feed first, then the store. */
  async function tick(): Promise<number> {
    if (ticking) return 0;
    ticking = true;
    try {
      const now = clock.now();
      const changes = engine.recompute(now);
      if (changes.length === 0) return 0;
      const practices: PracticeView[] = [];
      for (const change of changes) {
        const [type, id] = splitKey(change.subject);
        metrics.transition(type, change.to);
        if (type === 'practice') {
          const view = practiceView(estate, engine, id);
          practiceViews.set(id, view);
          practices.push(view);
        }
      }
      const services = refreshServices();
      hub.publish({ practices, services, counts: practiceCounts(practiceViews.values()) });
      try {
        await store.recordTransitions(changes);
      } catch (err) {
        log('error', 'could not store status transitions', { count: changes.length, error: String(err) });
      }
      return changes.length;
    } finally {
      ticking = false;
    }
  }

  const app = new Hono();
  const notFound = (message: string) => ({ error: { code: 'NOT_FOUND', message } }) satisfies ErrorBody;

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  app.get('/api/practices', (c) =>
    c.json({ practices: [...practiceViews.values()], counts: practiceCounts(practiceViews.values()) }),
  );
  app.get('/api/practices/:ods', async (c) => {
    const ods = c.req.param('ods');
    if (!odsCode.safeParse(ods).success) {
      return c.json(
        { error: { code: 'BAD_ODS_CODE', message: `"${ods}" is not an ODS practice code (one capital letter and five digits, e.g. A81001)` } },
        400,
      );
    }
    const practice = estate.practices.get(ods);
    if (!practice) return c.json(notFound(`no practice with ODS code ${ods}`), 404);
    const now = clock.now();
    const history = await store.transitionsOf(`practice:${ods}`, 20);
    return c.json({
      ...practiceViews.get(ods)!,
      dependsOn: practice.dependsOn,
      checks: practice.checks.map((id) => checkView(id, now)),
      history: history.map((t) => ({ from: t.from, to: t.to, at: new Date(t.at).toISOString(), cause: t.cause })),
    });
  });
  app.get('/api/services', (c) => {
    const now = clock.now();
    return c.json({
      services: [...serviceViews.values()].map((s) => ({
        ...s,
        dependsOn: estate.services.get(s.id)!.dependsOn,
        checks: estate.services.get(s.id)!.checks.map((id) => checkView(id, now)),
      })),
    });
  });
  app.get('/api/workers', (c) => c.json({ workers: gateway.workers() }));
  app.get('/api/locations', (c) => c.json({ locations: engine.locations(clock.now()) }));
  app.get('/api/checks', (c) => {
    const now = clock.now();
    return c.json({
      checks: [...estate.checks.values()].map((check) => ({ ...checkView(check.id, now), subject: check.subject })),
    });
  });
  app.all('/api/*', (c) => c.json(notFound(`no such API route: ${c.req.method} ${c.req.path}`), 404));

  function checkView(id: string, now: number) {
    const check = estate.checks.get(id)!;
    const s = engine.checkStatus(id, now)!;
    return {
      id,
      kind: check.kind,
      intervalMs: check.intervalMs,
      status: s.status as StatusLevel,
      detail: s.detail,
      lastResultAt: s.lastAt === null ? null : new Date(s.lastAt).toISOString(),
      locations: s.locations,
    };
  }

  if (deps.webDir && existsSync(deps.webDir)) {
    const webDir = deps.webDir;
    app.use('/assets/*', serveStatic({ root: webDir }));
    app.get('/favicon.svg', serveStatic({ root: webDir }));
    app.get('/', serveStatic({ root: webDir, path: 'index.html' }));
  } else {
    app.get('/', (c) => c.text('The dashboard has not been built: run `npm run build`, then restart Pulse.', 503));
  }

  app.notFound((c) => c.json(notFound(`nothing at ${c.req.path}`), 404));
  app.onError((err, c) => {
    log('error', 'request failed', { method: c.req.method, path: c.req.path, error: String(err) });
    return c.json({ error: { code: 'INTERNAL', message: 'Pulse could not answer this request; the error is in its log.' } }, 500);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  /** Routes an HTTP upgrade to the dashboards' hub or the workers' gateway. */
  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/ws') {
      wss.handleUpgrade(req, socket, head, (ws) => hub.attach(ws));
    } else if (path === '/workers') {
      if (!gateway.authorize(req)) {
        log('warn', 'worker connection refused: bad token', { address: req.socket.remoteAddress });
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => gateway.attach(ws));
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  }

  function close(reason: string): void {
    hub.closeAll(1001, reason);
    gateway.closeAll(1001, reason);
    wss.close();
  }

  return {
    app,
    engine,
    hub,
    gateway,
    metrics,
    tick,
    heartbeat: () => {
      hub.heartbeat();
      gateway.sweep();
    },
    handleUpgrade,
    close,
  };
}

export type Pulse = ReturnType<typeof createPulse>;
