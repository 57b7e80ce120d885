// Builds one Pulse server from its dependencies: the estate, a store, a clock and a logger.
// Wires ingest → status engine → (live hub, store, metrics) and serves the REST API (with
// its OpenAPI document), the dashboard and the two WebSockets (/ws for dashboards,
// /workers for probe workers). Starts no timers and opens no ports itself: main.ts does,
// so tests can drive ticks.
import { existsSync } from 'node:fs';
import { OpenAPIHono } from '@hono/zod-openapi';
import { serveStatic } from '@hono/node-server/serve-static';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { MiddlewareHandler } from 'hono';
import { getCheckKind } from '../probes/registry';
import type { CheckAssignment, CheckResult } from '../probes/types';
import { checkRoutes } from './api/checks';
import { errorBody, type ApiContext } from './api/context';
import { HEARTBEAT_PATH_PREFIX, heartbeatRoutes } from './api/heartbeats';
import { maintenanceRoutes } from './api/maintenance';
import { practiceRoutes } from './api/practices';
import { serviceRoutes } from './api/services';
import type { Estate } from './config/estate';
import { FleetTracker, fleetResult, secretReader, type ReadSecret } from './fleet';
import { HistoryRecorder } from './history/recorder';
import { pruneOnce } from './history/retention';
import { IncidentTracker, changedSubjects, estateNames, subjectState, type Incident, type IncidentEvent } from './incidents';
import { fleetDescriber } from './incidents/fleet-words';
import type { IncidentView } from './live/protocol';
import { incidentRoutes, incidentSummary } from './api/incidents';
import { historyRoutes } from './api/history';
import { trendRoutes } from './api/trend';
import { estateOpsRoutes } from './api/estate-ops';
import { documentPlainRoutes, permissionsOf, secureDocument, type OpenApiDoc } from './api/openapi';
import { authRoutes } from './api/auth';
import { oidcRoutes } from './api/oidc';
import { opsRoutes } from './api/ops';
import { PATIENT_PAGE_CSS, renderPatientPage, situationOf } from './patients/page';
import { probesState, readiness, type SelfFacts } from './selfcheck';
import { requestLog } from './log';
import { advanceAuditAnchor } from './auth/audit-anchor';
import { createOidcClient } from './auth/oidc';
import { readSecretRef } from './auth/oidc-config';
import { authenticate, requires, type AppEnv, type AuthDeps } from './auth/middleware';
import { scopeOf, type Permission } from './auth/permissions';
import { LoginThrottle } from './auth/throttle';
import type { User } from './auth/types';
import { secureHeaders } from 'hono/secure-headers';
import { LiveHub } from './live/hub';
import { liveUpgrades } from './live/upgrade';
import type { Logger } from './log';
import { NO_TRUSTED_PROXIES, clientAddress, type TrustedProxies } from './http/client-address';
import { getConnInfo } from '@hono/node-server/conninfo';
import { hostPolicy, misdirectedMessage, type HostPolicy } from './http/host-check';
import { MaintenanceBook } from './maintenance';
import { bodyStream, createMetrics, metricsTokenCheck } from './metrics';
import { SERVER_SOURCE, SHARED_SOURCE, StatusEngine, engineStateFromRows, splitKey, tokenSource, type EngineSnapshot } from './status/engine';
import type { StatusTransition, Store } from './store/types';
import { StoreHealth, reasonText } from './store/health';
import { TransitionBacklog, type TransitionGap } from './history/backlog';
import { Views } from './views';
import { randomUUID } from 'node:crypto';
import { BackupService } from './backup/service';
import { actionSender, configuredNotifySender } from './backup/send';
import { backupRoutes } from './api/backup';
import { causeText } from './status/types';
import { isUnjudged } from './status/rollup';
import { WorkerGateway } from './workers/gateway';
import type { ServerObserver } from './self/observer';
import { selfReason as selfReasonOf } from './self/reason';
import { findingAuditor } from './incidents/audit-findings';

export interface Clock {
  now(): number;
}

export interface PulseDeps {
  estate: Estate;
  store: Store;
  /** Status transitions held in memory while the store cannot take them; default 100,000. */
  transitionBacklogLimit?: number;
  /** The data folder: each state save anchors the audit head there (audit-anchor.json) for audit:verify. */
  auditAnchorDir?: string;
  clock: Clock;
  log: Logger;
  /** Shared secret probe workers present as a bearer token. */
  workerToken: string;
  /** Distinct probe locations one worker credential, and the estate, may claim (default 4 and 64). */
  workerLocations?: { perToken?: number; estate?: number };
  /** Folder holding the built dashboard (index.html); optional in API-only tests. */
  webDir?: string;
  heartbeatMs?: number;
  liveBufferLimitBytes?: number;
  /** Live-feed connections from one client address before 429 (PULSE_LIVE_CONNECTIONS_PER_ADDRESS; default 200). */
  liveConnectionsPerAddress?: number;
  /** Bearer token /metrics requires (PULSE_METRICS_TOKEN); unset or empty: /metrics is public. */
  metricsToken?: string;
  /** Reads fleet tokens named in the estate file (env or file); injectable for tests. */
  readSecret?: ReadSecret;
  /** Wait before retrying a failed backup-mode action, after its n-th attempt (default: exponential, 5 s to 10 min). */
  backupBackoff?: (attempt: number) => number;
  /**
   * The server watching itself (stalls, event-loop delay, heartbeat intake): one per process,
   * so it outlives a reload. main.ts passes a real one; tests that jump a fake clock leave it
   * out (a jump looks exactly like a stall).
   */
  selfObserver?: ServerObserver | null;
  /**
   * Reverse proxies whose X-Forwarded-For / X-Real-IP are believed (PULSE_TRUSTED_PROXIES);
   * default none: every client is its connection's own address.
   */
  trustedProxies?: TrustedProxies;
  /**
   * Which `Host` is answered (PULSE_PUBLIC_URL's and PULSE_ALLOWED_HOSTS); others get 421.
   * Default: loopback names and IP addresses only (see http/host-check.ts).
   */
  hosts?: HostPolicy;
  /** Reloads the estate file without a restart (main.ts provides it). */
  reload?: () => Promise<{ ok: true; practices: number; checks: number } | { ok: false; error: string }>;
  /** Sessions and cross-site rules. */
  auth?: {
    sessionTtlMs?: number;
    /** Cookies only over HTTPS (set when Pulse is served through TLS). */
    secureCookies?: boolean;
    /** Origins besides the request's own allowed to make state-changing requests and open /ws. */
    trustedOrigins?: string[];
    throttle?: LoginThrottle;
  };
}

export function createPulse(deps: PulseDeps) {
  const { estate, store, clock, log } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 5_000;
  const trustedProxies = deps.trustedProxies ?? NO_TRUSTED_PROXIES;
  const hosts = deps.hosts ?? hostPolicy();
  const startedAt = clock.now();
  const engine = new StatusEngine(estate, startedAt);
  engine.recompute(startedAt);
  const backup: BackupService = new BackupService({
    estate,
    store: store.backup,
    now: () => clock.now(),
    newId: randomUUID,
    statusOf: (ods) => {
      const s = engine.status(`practice:${ods}`);
      return s ? { status: s.status, cause: causeText(s.cause), since: s.since } : null;
    },
    send: actionSender({
      notify: configuredNotifySender(estate.backup.notify, log, () => clock.now()),
      now: () => clock.now(),
      onResult: (kind, ok) => metrics.backupAction(kind, ok ? 'ok' : 'failed'),
    }),
    onModeChange: (ods) => {
      const changed = views.refreshModes(ods);
      if (changed.length > 0) hub.publish({ practices: changed, services: [], counts: views.counts(), incidents: [] });
    },
    log,
    ...(deps.backupBackoff ? { backoff: deps.backupBackoff } : {}),
  });
  const views = new Views(estate, engine, (ods) => backup.mode(ods));
  const maintenance = new MaintenanceBook(estate, engine, store.signals);

  const fleets = [...estate.practices.values()].flatMap((p) => (p.fleet ? [[p.ods, p.fleet] as const] : []));
  const observer = deps.selfObserver ?? null;
  // Without an observer (tests), tracking starts now; with one, when main.ts starts accepting heartbeats.
  const fleet =
    fleets.length > 0
      ? new FleetTracker({
          fleets,
          ...(observer ? { listening: observer } : { startedAt }),
          readSecret: deps.readSecret ?? secretReader(),
        })
      : null;

  const history = new HistoryRecorder({ store: store.history, recent: { initialChecks: estate.checks.size }, log });
  const incidents = new IncidentTracker({
    nextId: () => store.incidents.nextIncidentId(),
    nameOf: estateNames(estate),
    icbOf: (ods) => estate.practices.get(ods)?.icb ?? undefined,
    ...estate.incidents,
    // Titles and findings from what the practices' workstations say (silent share, shared software).
    ...(fleet ? { describe: fleetDescriber({ fleet, pcnOf: (ods) => estate.practices.get(ods)?.pcn, now: () => clock.now() }) } : {}),
  });

  let metrics: ReturnType<typeof createMetrics>;
  /** The audit head as last anchored by saveState. */
  let auditAnchor: { seq: number; at: number } | null = null;
  /** Rows of the engine's snapshot for checks and subjects the estate no longer has: deleted by the next save. */
  const staleStateRows: string[] = [];
  let saving: Promise<void> = Promise.resolve();
  const hub = new LiveHub({
    heartbeatMs,
    bufferLimitBytes: deps.liveBufferLimitBytes ?? 4 * 1024 * 1024,
    now: () => clock.now(),
    snapshot: () => ({
      probes: probes(),
      impaired: selfReason(),
      practices: [...views.practices.values()],
      services: [...views.services.values()],
      counts: views.counts(),
      incidents: incidents.open().map(incidentView),
    }),
    allPractices: () => [...views.practices.values()],
    incidentPractices: (id) => incidents.get(id)?.affected ?? [],
    onMessage: (type) => metrics.liveMessage(type),
    onLimited: (what) => metrics.liveLimited(what),
  });

  // Workers run only the kinds they have probes for; pushed checks (fleets) stay here.
  const assignments = (): CheckAssignment[] =>
    [...estate.checks.values()]
      .filter((check) => getCheckKind(check.kind))
      .map(({ subject: _subject, ...assignment }) => assignment);
  const gateway = new WorkerGateway({
    token: deps.workerToken,
    checks: assignments,
    // Receive time is the server's: a worker's clock never orders or ages a result.
    now: () => clock.now(),
    onResults: (results, source) => ingest(results, source),
    onProtocolError: (reason) => log('warn', reason),
    onRejected: (r) =>
      log('warn', `worker results refused (${r.reason}): ${r.count}, up to ${Math.round(r.worstSkewMs / 1000)} s off`, {
        location: r.location,
        pid: r.pid,
        source: r.source,
      }),
    onLocationRejected: (r) => log('warn', `worker refused (location ${r.reason}): ${r.detail}`, { location: r.location, pid: r.pid, source: r.source }),
    maxLocationsPerToken: deps.workerLocations?.perToken,
    maxLocations: deps.workerLocations?.estate,
  });

  /** Whether the store takes writes (disk full, read-only, …): set by every failed write, cleared by the next good one. */
  const storeHealth = new StoreHealth({
    classify: (err) => store.classifyError(err),
    log,
    onFailure: (reason) => metrics.storeUnavailable(reason),
    now: () => clock.now(),
  });
  /** Transitions the store could not take yet: written first when it can (or one exact gap record). */
  const backlog = new TransitionBacklog(deps.transitionBacklogLimit);

  metrics = createMetrics({
    estate,
    storeProblem: () => storeHealth.problem?.reason ?? null,
    transitionBacklog: () => ({ held: backlog.size, dropped: backlog.droppedTotal }),
    auditAnchor: () => auditAnchor,
    now: () => clock.now(),
    practiceCounts: () => views.counts(),
    serviceCounts: () => views.serviceCounts(),
    practices: () => views.practices.values(),
    services: () => views.services.values(),
    openIncidents: () => incidents.open(),
    liveClients: () => hub.size,
    workers: () => gateway.workers(),
    rejectedResults: () => gateway.rejected(),
    rejectedLocations: () => gateway.locationsRejected(),
    selfImpaired: () => selfReason() !== null,
    serverEventLoopDelayMs: () => observer?.health().eventLoopDelayMs ?? 0,
  });
  const metricsAuthorized = metricsTokenCheck(deps.metricsToken);

  /** Results from probe workers: into the engine, the history and the metrics. */
  let lastResultAt: number | null = null;
  function ingest(results: CheckResult[], source: string = SHARED_SOURCE): void {
    if (results.length > 0) lastResultAt = clock.now();
    engine.ingest(results, source);
    // What an impaired observer could not judge is no evidence: it is not history either.
    history.record(results.filter((r) => estate.checks.has(r.checkId) && !isUnjudged(r)));
    metrics.results(results);
  }

  const probed = [...estate.checks.values()].filter((c) => getCheckKind(c.kind));
  const shortest = probed.reduce<{ intervalMs: number; timeoutMs: number } | null>(
    (best, c) => (!best || c.intervalMs < best.intervalMs ? { intervalMs: c.intervalMs, timeoutMs: c.timeoutMs } : best),
    null,
  );
  /** What Pulse knows of itself now; `storeOpen` and `workers` are filled in for /readyz. */
  const facts = (): SelfFacts => ({
    now: clock.now(),
    lastResultAt,
    startedAt,
    probedChecks: probed.length,
    shortestIntervalMs: shortest?.intervalMs ?? 0,
    shortestTimeoutMs: shortest?.timeoutMs ?? 0,
    workers: gateway.workers().length,
    storeOpen: true,
    impaired: selfReason(),
  });
  /**
   * Why Pulse's own view is impaired now, in plain words, or null: each impaired worker (its
   * location and why) and the server itself (a stall, its event loop, heartbeat intake).
   */
  function selfReason(): string | null {
    return selfReasonOf(gateway.impairments(), observer?.impaired());
  }
  async function selfFacts(): Promise<SelfFacts> {
    let storeOpen = true;
    try {
      await store.ping();
    } catch {
      storeOpen = false;
    }
    return { ...facts(), storeOpen };
  }
  /** Whether Pulse's own probes are reporting; sent to every dashboard with each heartbeat. */
  const probes = () => probesState(facts());

  let lastProbes: ReturnType<typeof probes> = 'starting';
  let ticking = false;
  let poked = false;
  let lastPrune = startedAt;
  /** Recomputes statuses, then fans the changes out: live feed first, then the store. */
  async function tick(): Promise<number> {
    // Before the re-entry guard: a skipped observation would itself look like a stall.
    for (const e of observer?.tick(clock.now(), performance.now()) ?? []) {
      if (e.kind === 'stall') metrics.serverStall(e.ms);
      log('warn', e.text, { kind: e.kind, ms: Math.round(e.ms) });
    }
    if (ticking) return 0;
    ticking = true;
    poked = false;
    try {
      const now = clock.now();
      if (fleet) {
        // Only fleets that changed or are due (their status again after a change, for failuresToDown).
        for (const [ods, status] of fleet.evaluateChanged(now, Math.max(estate.status.failuresToDown, estate.status.successesToUp) - 1)) {
          const result = fleetResult(ods, status, now);
          if (result) {
            engine.ingest([result]);
            if (!isUnjudged(result)) history.record([result]);
            metrics.results([result], 'server');
          }
        }
      }
      // Minute summaries once a minute (never throws), retention once an hour.
      void history.flush(now);
      if (now - lastPrune >= 3_600_000) {
        lastPrune = now;
        pruneOnce({ history: store.history, transitions: store }, estate.retention, now).catch((err: unknown) =>
          log('error', 'retention pass failed', { error: String(err) }),
        );
      }
      const changes = engine.recompute(now);
      // Every tick, even without changes: the tracker writes coalesced counts when they fall due.
      const incidentEvents = incidents.update(now, changedSubjects(estate, changes), selfReason());
      if (changes.length === 0 && incidentEvents.length === 0) {
        await catchUpStore(now);
        return 0;
      }
      for (const change of changes) metrics.transition(splitKey(change.subject)[0], change.to);
      const delta = views.apply(changes);
      hub.publish({ ...delta, counts: views.counts(), incidents: changedIncidents(incidentEvents) });
      lastStoreTry = now;
      try {
        await timedWrite('transitions', () => writeTransitions(changes));
        await timedWrite('incidents', () => persistIncidents(incidentEvents));
        await auditFindings(incidentEvents);
        // A tick of blips alone writes nothing, so it proves nothing: while unavailable, a probe write decides.
        if (storeHealth.problem !== null) await store.probeWrite();
        storeHealth.succeeded();
      } catch (err) {
        // The store's own trouble is logged once per change of state (storeHealth); anything else each time.
        if (storeHealth.failed(err) === null) {
          log('error', 'could not store status transitions or incidents', { count: changes.length, error: String(err) });
        }
      }
      return changes.length;
    } finally {
      ticking = false;
    }
  }

  let lastStoreTry = 0;
  /**
   * While the store is unavailable, at most once a second: write the transitions held in
   * memory (or, with none, a probe write), so history catches up and readiness returns.
   */
  async function catchUpStore(now: number): Promise<void> {
    const behind = backlog.size > 0 || backlog.pendingGap !== null;
    if (!behind && storeHealth.problem === null) return;
    if (now - lastStoreTry < 1_000) return;
    lastStoreTry = now;
    try {
      if (behind) await timedWrite('transitions', () => backlog.flush((rows) => store.recordTransitions(rows), recordGap).then(() => undefined));
      else await store.probeWrite();
      storeHealth.succeeded();
    } catch (err) {
      if (storeHealth.failed(err) === null) log('error', 'could not store held status transitions', { count: backlog.size, error: String(err) });
    }
  }

  /** A tick's transitions: straight to the store, or, while it is behind, after what it holds (oldest first). */
  async function writeTransitions(changes: StatusTransition[]): Promise<void> {
    if (backlog.size === 0 && backlog.pendingGap === null) {
      try {
        await store.recordTransitions(changes);
      } catch (err) {
        backlog.push(changes);
        throw err;
      }
      return;
    }
    backlog.push(changes);
    await backlog.flush((rows) => store.recordTransitions(rows), recordGap);
  }

  /** Transitions dropped past the backlog's bound: exactly how many and when, in the audit log. */
  async function recordGap(gap: TransitionGap): Promise<void> {
    log('warn', `status history has a gap: ${gap.dropped} transitions were not stored`, { ...gap });
    await store.accounts.appendAudit({
      at: clock.now(),
      actor: 'system',
      action: 'history.gap',
      subject: null,
      detail: { dropped: gap.dropped, from: new Date(gap.from).toISOString(), to: new Date(gap.to).toISOString() },
    });
  }

  /** One store write, timed for pulse_store_write_duration_seconds (failures counted too). */
  async function timedWrite(operation: 'transitions' | 'incidents', write: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await write();
      metrics.storeWrite(operation, (performance.now() - started) / 1000, true);
    } catch (err) {
      metrics.storeWrite(operation, (performance.now() - started) / 1000, false);
      throw err;
    }
  }

  /** Each new finding about an incident's cause, once, into the audit log (see incidents/audit-findings). */
  const auditFindings = findingAuditor({ accounts: store.accounts, now: () => clock.now() });

  let incidentsBehind = false;
  /** Writes incident events; after a failed write, the next one rewrites everything open (idempotent). */
  async function persistIncidents(events: IncidentEvent[]): Promise<void> {
    try {
      await store.incidents.applyIncidentEvents(incidentsBehind ? [...incidents.snapshotEvents(), ...events] : events);
      incidentsBehind = false;
    } catch (err) {
      incidentsBehind = true;
      throw err;
    }
  }

  function changedIncidents(events: IncidentEvent[]): IncidentView[] {
    const ids = new Set<number>();
    for (const e of events) if (e.type === 'opened' || e.type === 'updated' || e.type === 'resolved') ids.add(e.incident.id);
    return [...ids].flatMap((id) => {
      const incident = incidents.get(id);
      return incident ? [incidentView(incident)] : [];
    });
  }

  /** Loads what the store kept from the last run: people's reports, maintenance, the engine's state, incidents. */
  async function restore(): Promise<void> {
    const now = clock.now();
    await maintenance.load(now);
    await backup.load();
    for (const [ods, report] of await store.signals.reports()) if (estate.practices.has(ods)) engine.setReport(ods, report);
    const saved = await store.signals.loadSnapshot();
    if (saved) {
      try {
        const body = JSON.parse(saved.body) as EngineSnapshot | { version: 3; reports: EngineSnapshot['reports'] };
        // Version 3 is a header over one row per check and subject; 1 and 2 a single blob (an upgrade carries on from it).
        const { dropped } = engine.importState(body.version === 3 ? engineStateFromRows(await store.signals.loadEngineState(), body.reports) : body);
        // Rows of checks and subjects no longer in the estate (removed by a reload) go with the next save.
        staleStateRows.push(...dropped.checks.map((id) => `check:${id}`), ...dropped.subjects);
        // What a revoked worker token contributed before the restart is dropped.
        const live = new Set(
          (await store.accounts.listTokens()).filter((t) => t.kind === 'worker' && t.revokedAt === null).map((t) => tokenSource(t.id)),
        );
        engine.retainSources((source) => source === SHARED_SOURCE || source === SERVER_SOURCE || live.has(source));
      } catch (err) {
        log('warn', 'the saved engine state could not be read; starting from unknown', { error: String(err) });
      }
    }
    // Apply what was restored without recording it as new transitions.
    engine.recompute(now);
    views.rebuild();
    const keys = [
      ...[...estate.services.keys()].map((id) => `service:${id}` as const),
      ...[...estate.practices.keys()].map((ods) => `practice:${ods}` as const),
    ];
    const recent = await store.incidents.recentIncidents(500, 0);
    incidents.restore(
      await store.incidents.openIncidents(),
      keys.map((key) => subjectState(estate, key, engine.status(key)!)),
      recent.filter((i) => i.status === 'resolved'),
    );
  }

  /**
   * Saves the engine's state so a restart carries on exactly where this run stopped, and anchors
   * the audit head outside the audit table: in the snapshot (`auditHead`, an extra field older
   * readers ignore), in audit-anchor.json and as a metric, so cutting the newest entries off shows.
   */
  async function saveState(): Promise<void> {
    // One save at a time: a later save's rows must not be overwritten by an earlier one's last slices.
    const run = saving.then(saveStateOnce, saveStateOnce);
    saving = run.catch(() => {});
    return run;
  }
  async function saveStateOnce(): Promise<void> {
    const now = clock.now();
    const head = await store.accounts.auditHead();
    // Incremental: only the checks and subjects changed since the last save, a slice at a time.
    const changes = engine.takeChanges();
    const stale = staleStateRows.splice(0);
    // Read as each slice is written, so no one stretch of the event loop walks the whole estate.
    function* rows(): Generator<[string, unknown]> {
      for (const id of changes.checks) {
        const row = engine.checkRow(id);
        yield [`check:${id}`, row && row.length > 0 ? row : null];
      }
      for (const key of changes.subjects) yield [key, engine.status(key) ?? null];
      for (const key of stale) yield [key, null];
    }
    const { reports } = engine.exportHeader();
    try {
      await store.signals.saveEngineState({ rows: rows(), header: JSON.stringify({ version: 3, reports, auditHead: { ...head, at: now } }), savedAt: now });
    } catch (err) {
      engine.returnChanges(changes);
      staleStateRows.push(...stale);
      throw err;
    }
    if (deps.auditAnchorDir !== undefined) {
      try {
        // Entries are contiguous from 1 in an intact log, so seq N is N-th from the head's end.
        const hashAt = async (seq: number) => (await store.accounts.auditEntries(1, head.seq - seq))[0]?.hash;
        const advanced = await advanceAuditAnchor(deps.auditAnchorDir, head, hashAt, now);
        if (advanced.kind === 'refused') log('error', `the audit anchor was not moved: ${advanced.reason}`, {});
      } catch (err) {
        log('error', 'could not anchor the audit head in the data folder', { error: String(err) });
      }
    }
    auditAnchor = { seq: head.seq, at: now };
  }

  const ctx = {
    estate,
    engine,
    store,
    views,
    maintenance,
    fleet,
    incidents,
    history,
    backup,
    now: () => clock.now(),
    log,
    poke: () => {
      if (!poked) {
        poked = true;
        queueMicrotask(() => void tick());
      }
    },
  } as ApiContext;

  const authDeps: AuthDeps = {
    accounts: store.accounts,
    estate,
    now: () => clock.now(),
    trustedOrigins: deps.auth?.trustedOrigins ?? [],
  };
  const guard = (permission: Permission, target?: Parameters<typeof requires>[2]) => requires(permission, authDeps, target);
  ctx.accounts = store.accounts;
  ctx.guard = guard;
  ctx.sees = (c) => {
    const scope = scopeOf(c.get('principal'), estate);
    return scope === 'all' ? () => true : scope === 'none' ? () => false : scope;
  };
  ctx.clientAddress = (c) => {
    let peer: string | undefined;
    try {
      peer = getConnInfo(c).remote.address;
    } catch {
      // Not over a Node socket (app.request in tests): no peer to name.
    }
    return clientAddress(peer, (name) => c.req.header(name), trustedProxies);
  };
  ctx.actor = (c) => {
    const p = c.get('principal');
    return p.kind === 'user' ? p.user.username : p.kind === 'display' ? `token:${p.token.name}` : 'anonymous';
  };

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const message = result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
        return c.json(errorBody('BAD_REQUEST', message), 400);
      }
    },
  });

  // Workstation heartbeats (thousands a second) cap their own body at 4 KiB and check their
  // practice's token themselves (server/api/heartbeats.ts): the 64 KiB limit (it builds a web
  // Request per call) and the session/bearer lookup (a database read) are kept off them.
  const exceptHeartbeats =
    (mw: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> =>
    (c, next) =>
      c.req.path.startsWith(HEARTBEAT_PATH_PREFIX) && c.req.method === 'POST' ? next() : mw(c, next);
  app.use(
    '/api/*',
    exceptHeartbeats(
      bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json(errorBody('TOO_LARGE', 'request bodies are limited to 64 KiB'), 413) }),
    ),
  );
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
      referrerPolicy: 'same-origin',
      crossOriginEmbedderPolicy: false,
    }),
  );
  // DNS rebinding: a request addressed to a name Pulse does not answer to goes no further.
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (!hosts.allows(host)) return c.json(errorBody('MISDIRECTED_REQUEST', misdirectedMessage(host ?? '')), 421);
    await next();
  });
  app.use('*', exceptHeartbeats(authenticate(authDeps)));
  const publicRoute = guard('public');
  app.use('*', requestLog(log));
  app.route('/', opsRoutes(ctx, { readiness: async () => readiness(await selfFacts()), storeProblem: () => storeHealth.problem?.reason ?? null, reload: deps.reload ?? null }));
  app.get('/metrics', publicRoute, async (c) => {
    if (metricsAuthorized && !metricsAuthorized(c.req.header('authorization'))) {
      c.header('WWW-Authenticate', 'Bearer realm="pulse-metrics"');
      return c.json(errorBody('UNAUTHENTICATED', 'metrics need the metrics token: Authorization: Bearer <PULSE_METRICS_TOKEN>'), 401);
    }
    const { chunks, bytes } = await metrics.scrapeChunks();
    c.header('Content-Type', metrics.contentType);
    c.header('Content-Length', String(bytes));
    return c.body(bodyStream(chunks));
  });
  app.route('/', practiceRoutes(ctx));
  app.route('/', serviceRoutes(ctx));
  app.route('/', checkRoutes(ctx));
  app.route('/', maintenanceRoutes(ctx));
  app.route('/', heartbeatRoutes(ctx, { ...(observer ? { intake: () => observer.intakeStart() } : {}), onRejected: (reason) => metrics.heartbeatRejected(reason) }));
  app.route('/', incidentRoutes(ctx));
  app.route('/', historyRoutes(ctx));
  app.route('/', backupRoutes(ctx));
  app.route('/', trendRoutes(ctx));
  app.route(
    '/',
    authRoutes(ctx, {
      throttle: deps.auth?.throttle ?? new LoginThrottle(),
      sessionTtlMs: deps.auth?.sessionTtlMs ?? estate.auth.sessionTtlMs,
      secureCookies: deps.auth?.secureCookies ?? false,
      onBreakGlass: (user: User, address: string) => {
        metrics.breakGlass();
        log('error', 'BREAK-GLASS ACCOUNT USED', { username: user.username, icb: user.icb, address });
      },
    }),
  );
  if (estate.auth.oidc) {
    const oidc = createOidcClient(estate.auth.oidc, { readSecret: readSecretRef });
    app.route('/', oidcRoutes(ctx, oidc, estate.auth.oidc, { sessionTtlMs: deps.auth?.sessionTtlMs ?? estate.auth.sessionTtlMs, secureCookies: deps.auth?.secureCookies ?? false }));
  }
  app.route('/', estateOpsRoutes(ctx, { workers: () => gateway.workers(), oidc: () => estate.auth.oidc !== null }));
  // The patients' page: public, no data about people, readable on a phone.
  app.get('/status.css', publicRoute, (c) => c.body(String(PATIENT_PAGE_CSS), 200, { 'content-type': 'text/css; charset=utf-8' }));
  app.get('/status/:ods', publicRoute, (c) => {
    const view = views.practices.get(c.req.param('ods'));
    if (!view) return c.html('<!doctype html><title>Not found</title><p>No practice with that code.</p>', 404);
    const nhs111 = views.services.get(estate.patients.nhs111Service);
    // Short: a caching proxy absorbs a crowd of patients, and a switch into backup mode
    // still reaches them within seconds.
    c.header('Cache-Control', 'public, max-age=15');
    return c.html(
      renderPatientPage({
        practiceName: view.name,
        situation: situationOf(view.mode, view.status),
        // Not monitored: we cannot know, so 111 is offered; monitored: only while it works.
        nhs111Working: !nhs111 || nhs111.status === 'up' || nhs111.status === 'degraded',
        updatedAt: new Date(clock.now()),
        templates: estate.patients.templates,
      }),
    );
  });
  // The API document: generated from the routes, then given its security from their guards
  // (api/openapi.ts). Built once, on first ask: the routes do not change after this point.
  documentPlainRoutes(app.openAPIRegistry, { oidc: estate.auth.oidc !== null });
  let apiDocument: OpenApiDoc | null = null;
  app.get('/api/openapi.json', publicRoute, (c) => {
    apiDocument ??= secureDocument(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'Pulse',
          version: '1',
          description: 'Health monitoring and failover for NHS primary care. Organisation-level data only, never patient data.',
        },
      }) as unknown as OpenApiDoc,
      permissionsOf(app.routes),
      [{ url: '/', description: 'This Pulse (the API is served from the same origin as the dashboard)' }],
    );
    return c.json(apiDocument);
  });
  app.all('/api/*', publicRoute, (c) => c.json(errorBody('NOT_FOUND', `no such API route: ${c.req.method} ${c.req.path}`), 404));

  if (deps.webDir && existsSync(deps.webDir)) {
    const webDir = deps.webDir;
    app.get('/assets/*', publicRoute, serveStatic({ root: webDir }));
    app.get('/favicon.svg', publicRoute, serveStatic({ root: webDir }));
    // The dashboard's pages are one app: each path answers the same shell, which routes itself.
    const shell = serveStatic({ root: webDir, path: 'index.html' });
    for (const page of ['/', '/wall', '/practice/:ods', '/incidents/:id']) app.get(page, publicRoute, shell);
  } else {
    app.get('/', publicRoute, (c) => c.text('The dashboard has not been built: run `npm run build`, then restart Pulse.', 503));
  }

  app.notFound((c) => c.json(errorBody('NOT_FOUND', `nothing at ${c.req.path}`), 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      return c.json(errorBody('BAD_REQUEST', err.message || 'the request could not be read'), err.status);
    }
    // The database's own trouble (disk full, read-only, I/O error): a clear 503, logged once per change.
    const unavailable = storeHealth.failed(err);
    if (unavailable !== null) {
      c.header('Retry-After', '30');
      return c.json(errorBody('STORE_UNAVAILABLE', reasonText(unavailable)), 503);
    }
    log('error', 'request failed', { method: c.req.method, path: c.req.path, error: String(err) });
    return c.json(errorBody('INTERNAL', 'Pulse could not answer this request; the error is in its log.'), 500);
  });

  const upgrades = liveUpgrades({
    authDeps,
    accounts: store.accounts,
    estate,
    hub,
    gateway,
    forgetSource: (source) => engine.forgetSource(source),
    poke: () => ctx.poke(),
    log,
    now: () => clock.now(),
    trustedProxies,
    ...(deps.liveConnectionsPerAddress !== undefined ? { liveConnectionsPerAddress: deps.liveConnectionsPerAddress } : {}),
    onRefused: (reason) => metrics.liveLimited(reason),
  });
  const { recheckSockets } = upgrades;
  /** Upgrades (/ws, /workers) obey the same Host check as HTTP before the live code sees them. */
  const handleUpgrade: typeof upgrades.handleUpgrade = (req, socket, head) => {
    if (hosts.allows(req.headers.host)) return upgrades.handleUpgrade(req, socket, head);
    const body = JSON.stringify(errorBody('MISDIRECTED_REQUEST', misdirectedMessage(req.headers.host ?? '')));
    socket.end(
      `HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };

  function close(reason: string): void {
    hub.closeAll(1001, reason);
    gateway.closeAll(1001, reason);
    upgrades.close();
  }

  return {
    app,
    estate,
    engine,
    views,
    incidents,
    backup,
    hub,
    gateway,
    metrics,
    ingest,
    tick,
    restore,
    saveState,
    /** Writes what is held in memory (the unfinished minute) before the store closes. */
    flushHistory: () => history.close(),
    heartbeat: () => {
      const state = probes();
      const why = selfReason();
      if (state !== lastProbes && state !== 'starting') {
        if (state === 'quiet') log('error', "Pulse's own probe results have stopped", { lastResultAt });
        else if (state === 'impaired') log('error', "Pulse's own monitoring is impaired: what it cannot judge is shown unknown", { reason: why });
        else if (lastProbes === 'quiet') log('info', "Pulse's own probe results are back", { lastResultAt });
        else if (lastProbes === 'impaired') log('info', "Pulse's own monitoring is no longer impaired");
      }
      lastProbes = state;
      hub.heartbeat(state, why);
      gateway.sweep();
      void recheckSockets();
    },
    handleUpgrade,
    /** The heartbeat endpoint is accepting from now: the fleets' grace period starts. */
    acceptingHeartbeats: (now: number) => fleet?.startTracking(now),
    close,
  };
}

export type Pulse = ReturnType<typeof createPulse>;

/** An incident on the live feed: its REST summary with the number of practices, not the list. */
export function incidentView(i: Incident): IncidentView {
  const { affected, peakAffected: _peak, ...rest } = incidentSummary(i);
  return { ...rest, affected: affected.length };
}
