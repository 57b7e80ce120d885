// Prometheus metrics for one Pulse instance, on its own registry (so tests can run several
// servers in one process). The catalogue, its labels and their worst-case series counts are
// in docs/metrics.md. Labels come from bounded sets only (ODS code, PCN, ICB, service, check
// id, check kind, probe location, status and fixed enumerations): never URLs or free text.
//
// Two kinds of family. The small ones are prom-client metrics, most filled by collect
// callbacks at scrape time. The per-check and per-practice ones (≈ 195,000 series at 6,300
// practices × 8 checks) are written straight to text at scrape time from the state the
// server already holds, each series' line encoded once at start: going through prom-client's
// label objects for that many series would cost several times the scrape budget (bench:
// test/bench/metrics.ts). Nothing is updated per check per tick; ingest only records each
// check's newest result per probe location.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ObserverHealth } from '../probes/protocol';
import { ERROR_CLASSES, type CheckResult } from '../probes/types';
import { HEARTBEAT_REJECT_REASONS, type HeartbeatRejectReason } from './api/heartbeats';
import type { Estate } from './config/estate';
import { FLEET_CHECK_KIND } from './fleet/toResult';
import type { IncidentKind } from './incidents';
import type { PracticeView, ServiceView } from './live/protocol';
import { MAX_CLOCK_SKEW_MS, isUnjudged, staleAfterMs } from './status/rollup';
import { STATUS_LEVELS, type StatusLevel } from './status/types';
import { LOCATION_REJECT_REASONS, REJECT_REASONS, type LocationRejectReason, type RejectReason } from './workers/gateway';
import { STORE_UNAVAILABLE_REASONS, type StoreUnavailableReason } from './store/health';

export interface MetricsSources {
  estate: Estate;
  /** Server clock, epoch ms. */
  now: () => number;
  practiceCounts: () => Record<StatusLevel, number> & { backup: number };
  serviceCounts: () => Record<StatusLevel, number>;
  practices: () => Iterable<PracticeView>;
  services: () => Iterable<ServiceView>;
  openIncidents: () => Iterable<{ kind: IncidentKind }>;
  liveClients: () => number;
  /** The connected probe workers (gateway.workers()): lag, and their own view of their health. */
  workers: () => { location: string; lagMs: number; self?: ObserverHealth | null; impaired?: string | null }[];
  /** Results the gateway refused for their time, by reason (gateway.rejected()). */
  rejectedResults?: () => Readonly<Record<RejectReason, number>>;
  /** Worker hellos the gateway refused for their location, by reason (gateway.locationsRejected()). */
  rejectedLocations?: () => Readonly<Record<LocationRejectReason, number>>;
  /** True while Pulse's self-incident is open (some observer, a worker or the server, cannot judge). */
  selfImpaired?: () => boolean;
  /** The server's own event-loop delay (ms) as its self-watch judges it (p99 over its window). */
  serverEventLoopDelayMs?: () => number;
  /** Why the store refuses writes now (disk full, read-only, …), or null while it takes them. */
  storeProblem?: () => StoreUnavailableReason | null;
  /** Status transitions held in memory for the store, and those dropped past the bound. */
  transitionBacklog?: () => { held: number; dropped: number };
  /** The audit head last anchored outside the table (with each state save), or null before the first. */
  auditAnchor?: () => { seq: number; at: number } | null;
}

export const INCIDENT_KINDS: readonly IncidentKind[] = ['service', 'practice', 'pcn', 'endpoints', 'pulse'];

export const STORE_OPERATIONS = ['transitions', 'incidents'] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];
export type BackupActionResult = 'ok' | 'failed';

/** The newest result of one check from one probe location. */
interface LocationResult {
  location: string;
  /** When the run started (worker clock, epoch ms), as the engine judges freshness. */
  at: number;
  ok: boolean;
  latencyMs: number;
  /** False when the observer was impaired and the run failed or was slow: no evidence, not counted as fresh. */
  judged: boolean;
}

/** One check: its newest results; its lines are at its position in the tables. */
interface CheckRecord {
  /** Results received for its kind, by RESULT_LABELS index (shared by the checks of a kind). */
  counts: number[];
  /** False for workstation-fleet heartbeats: the server judges them, nothing is timed. */
  timed: boolean;
  /** A result older than this is no longer fresh (the engine's rule: 2 × interval + timeout). */
  staleMs: number;
  /** By location: found per result without a scan (the gateway bounds how many there are). */
  locations: Map<string, LocationResult>;
  /** The newest certificate notAfter seen (epoch ms), kept while later runs fail without one. */
  certExpiresAt: number | null;
}

/**
 * `result` label values of pulse_check_results_total: ok, the error classes, then `impaired`
 * (a failure or slow run while its worker could not judge: not the target's fault).
 */
const RESULT_LABELS = ['ok', ...ERROR_CLASSES, 'impaired'] as const;
const ERROR_INDEX = new Map<string, number>(ERROR_CLASSES.map((e, i) => [e, i + 1]));
const IMPAIRED_INDEX = RESULT_LABELS.length - 1;

export function createMetrics(sources: MetricsSources) {
  const { estate } = sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // --- Checks ---------------------------------------------------------------------------
  // Counted by kind as results arrive (an array increment), handed to prom-client at scrape time.
  const resultCounts = new Map<string, number[]>();
  new Counter({
    name: 'pulse_check_results_total',
    help: 'Check results received from probe workers, by check kind and result (ok or an error class).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, counts] of resultCounts) {
        counts.forEach((n, i) => {
          if (n > 0) this.inc({ kind, result: RESULT_LABELS[i]! }, n);
        });
      }
    },
  });
  let lastResultAt = sources.now();
  new Gauge({
    name: 'pulse_last_result_timestamp_seconds',
    help: 'When the newest probe result reached the server (Unix seconds; the start time until the first). Stops moving when no worker reports: the dead-man\'s switch.',
    registers: [registry],
    collect() {
      this.set(lastResultAt / 1000);
    },
  });

  // --- Practices and services -------------------------------------------------------------
  new Gauge({
    name: 'pulse_practices',
    help: 'Practices by current status.',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = sources.practiceCounts();
      for (const status of STATUS_LEVELS) this.set({ status }, counts[status]);
    },
  });
  new Gauge({
    name: 'pulse_practices_in_backup_mode',
    help: 'Practices currently in backup (business continuity) mode, including those entering or leaving it.',
    registers: [registry],
    collect() {
      this.set(sources.practiceCounts().backup);
    },
  });
  new Gauge({
    name: 'pulse_services',
    help: 'Shared services (clinical systems, national services, networks) by current status.',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = sources.serviceCounts();
      for (const status of STATUS_LEVELS) this.set({ status }, counts[status]);
    },
  });
  new Gauge({
    name: 'pulse_service_status',
    help: 'Current status of each shared service, one-hot: 1 for its status, 0 for the other levels.',
    labelNames: ['service', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources.services()) {
        for (const status of STATUS_LEVELS) this.set({ service: s.id, status }, s.status === status ? 1 : 0);
      }
    },
  });
  const transitions = new Counter({
    name: 'pulse_status_transitions_total',
    help: 'Status changes of practices and services, by subject type and new status.',
    labelNames: ['subject_type', 'to'] as const,
    registers: [registry],
  });

  // --- Incidents and backup mode -----------------------------------------------------------
  new Gauge({
    name: 'pulse_incidents_open',
    help: "Open incidents by kind: a shared service (root cause), a practice failing on its own, a PCN (suspected common cause), endpoints failing across many practices at once, or Pulse itself (it cannot see).",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<IncidentKind, number>(INCIDENT_KINDS.map((k) => [k, 0]));
      for (const i of sources.openIncidents()) counts.set(i.kind, (counts.get(i.kind) ?? 0) + 1);
      for (const [kind, n] of counts) this.set({ kind }, n);
    },
  });
  const backupActions = new Counter({
    name: 'pulse_backup_actions_total',
    help: 'Backup-mode action attempts (webhooks, notifications), by action kind and result; a retried action counts each attempt.',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });

  // --- The server itself -------------------------------------------------------------------
  new Gauge({
    name: 'pulse_websocket_clients',
    help: 'Dashboard WebSocket connections open now.',
    registers: [registry],
    collect() {
      this.set(sources.liveClients());
    },
  });
  const liveMessages = new Counter({
    name: 'pulse_websocket_messages_total',
    help: 'Messages sent to dashboards, by type.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const liveLimited = new Counter({
    name: 'pulse_websocket_limited_total',
    help: 'Live-feed work refused or put off: snapshot-deferred (socket over its buffer limit), resync-coalesced, flood-closed (code 4429), address-limit (upgrade answered 429).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'pulse_worker_connections',
    help: 'Probe workers connected now, by location.',
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of sources.workers()) this.inc({ location: w.location });
    },
  });
  new Gauge({
    name: 'pulse_scheduler_lag_seconds',
    help: 'Worst recent start delay of checks behind schedule, as reported by the probe workers of each location.',
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const worst = new Map<string, number>();
      for (const w of sources.workers()) worst.set(w.location, Math.max(worst.get(w.location) ?? 0, w.lagMs));
      for (const [location, lagMs] of worst) this.set({ location }, lagMs / 1000);
    },
  });
  const storeWrites = new Histogram({
    name: 'pulse_store_write_duration_seconds',
    help: "Time to write one tick's status transitions, or its incident events, to the store.",
    labelNames: ['operation'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const storeFailures = new Counter({
    name: 'pulse_store_write_failures_total',
    help: 'Store writes that failed, by operation (the error is in the log).',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  for (const operation of STORE_OPERATIONS) {
    storeWrites.zero({ operation });
    storeFailures.inc({ operation }, 0);
  }
  new Counter({
    name: 'pulse_worker_results_rejected_total',
    help: 'Probe results refused because their time was more than the allowed skew from when they arrived: future (dated ahead) or late (finished long before).',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      const counts = sources.rejectedResults?.();
      this.reset();
      for (const reason of REJECT_REASONS) this.inc({ reason }, counts?.[reason] ?? 0);
    },
  });
  new Counter({
    name: 'pulse_worker_connections_rejected_total',
    help: "Probe-worker connections closed at their hello for its location: invalid (not a location name), token_limit (its token already claimed its most distinct locations), estate_limit (the estate already has its most).",
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      const counts = sources.rejectedLocations?.();
      this.reset();
      for (const reason of LOCATION_REJECT_REASONS) this.inc({ reason }, counts?.[reason] ?? 0);
    },
  });
  new Gauge({
    name: 'pulse_worker_impaired',
    help: "1 while a probe worker of the location says it cannot judge (behind, stalled, its canary failing) or its health reports stopped: its failures are not counted as the targets'.",
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const by = new Map<string, number>();
      for (const w of sources.workers()) by.set(w.location, Math.max(by.get(w.location) ?? 0, w.impaired ? 1 : 0));
      for (const [location, v] of by) this.set({ location }, v);
    },
  });
  new Gauge({
    name: 'pulse_worker_event_loop_delay_seconds',
    help: "Event-loop delay (p99 over the worker's last window) of the worst probe worker of each location, as it reports it.",
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const worst = new Map<string, number>();
      for (const w of sources.workers()) {
        if (w.self) worst.set(w.location, Math.max(worst.get(w.location) ?? 0, w.self.eventLoopDelayMs));
      }
      for (const [location, ms] of worst) this.set({ location }, ms / 1000);
    },
  });
  new Gauge({
    name: 'pulse_worker_canary_up',
    help: "1 when every probe worker of the location that runs a canary (a target that must always answer) saw it answer, 0 when any did not.",
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const by = new Map<string, number>();
      for (const w of sources.workers()) {
        const canary = w.self?.canary;
        if (canary) by.set(w.location, Math.min(by.get(w.location) ?? 1, canary.ok ? 1 : 0));
      }
      for (const [location, v] of by) this.set({ location }, v);
    },
  });
  new Gauge({
    name: 'pulse_self_impaired',
    help: "1 while Pulse's own self-incident is open: one of its observers (a probe worker or the server) cannot judge, so what it cannot see is shown unknown.",
    registers: [registry],
    collect() {
      this.set(sources.selfImpaired?.() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pulse_server_event_loop_delay_seconds',
    help: "The server's event-loop delay as its self-watch judges it (p99 over its window).",
    registers: [registry],
    collect() {
      this.set((sources.serverEventLoopDelayMs?.() ?? 0) / 1000);
    },
  });
  // The audit head as last anchored: Prometheus' history of it is a witness outside Pulse's data
  // folder that the log once reached this far. The hash stays in audit-anchor.json (no label per hash).
  new Gauge({
    name: 'pulse_audit_head_sequence',
    help: 'Sequence number of the newest audit entry when the head was last anchored (with each engine state save). Must never go down.',
    registers: [registry],
    collect() {
      const anchor = sources.auditAnchor?.();
      if (anchor) this.set(anchor.seq);
    },
  });
  new Gauge({
    name: 'pulse_audit_head_anchored_timestamp_seconds',
    help: 'When the audit head was last anchored (Unix seconds).',
    registers: [registry],
    collect() {
      const anchor = sources.auditAnchor?.();
      if (anchor) this.set(anchor.at / 1000);
    },
  });
  new Gauge({
    name: 'pulse_store_available',
    help: '1 while the store takes writes; 0 after a write failed for the database itself (disk full, read-only, I/O error), until one succeeds.',
    registers: [registry],
    collect() {
      this.set(sources.storeProblem?.() ? 0 : 1);
    },
  });
  const storeUnavailable = new Counter({
    name: 'pulse_store_failures_total',
    help: 'Store operations (writes, sign-ins, reads) that failed for the database itself, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of STORE_UNAVAILABLE_REASONS) storeUnavailable.inc({ reason }, 0);
  new Gauge({
    name: 'pulse_history_transitions_pending',
    help: 'Status transitions held in memory because the store could not take them; written when it can.',
    registers: [registry],
    collect() {
      this.set(sources.transitionBacklog?.().held ?? 0);
    },
  });
  new Counter({
    name: 'pulse_history_transitions_dropped_total',
    help: 'Status transitions dropped from the in-memory backlog past its bound (each gap is one history.gap audit entry).',
    registers: [registry],
    collect() {
      const dropped = sources.transitionBacklog?.().dropped ?? 0;
      this.reset();
      this.inc(dropped);
    },
  });
  const serverStalls = new Counter({
    name: 'pulse_server_stalls_total',
    help: 'Times the server found it had not run for far longer than its tick (a GC pause, a VM migration, SIGSTOP, a starved CPU).',
    registers: [registry],
  });
  const serverStalled = new Counter({
    name: 'pulse_server_stalled_seconds_total',
    help: 'Time the server spent stalled, summed over pulse_server_stalls_total.',
    registers: [registry],
  });
  const heartbeatsRejected = new Counter({
    name: 'pulse_heartbeats_rejected_total',
    help: "Workstation heartbeats answered 429: rate_limited (the practice token sent more than 10 × its agents' expected rate) or too_many_agents (a new agent past the practice's most).",
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of HEARTBEAT_REJECT_REASONS) heartbeatsRejected.inc({ reason }, 0);
  const breakGlass = new Counter({
    name: 'pulse_break_glass_signins_total',
    help: 'Sign-ins with a sealed break-glass account. Any increase should page someone.',
    registers: [registry],
  });

  // --- Per-check and per-practice families, written as text at scrape time ------------------
  // Every series' line is encoded once, end to end in a table. A scrape copies long runs of
  // it natively and patches value bytes: the success lines are stored with value 1 (a run
  // breaks at a failing or silent check), the practice lines with value 0 (one byte per
  // practice is patched to 1). Only durations and expiry dates are formatted per scrape.
  const checks = new Map<string, CheckRecord>();
  const successLines: string[] = [];
  const durationLabels: string[] = [];
  const expiryLabels: string[] = [];
  for (const c of estate.checks.values()) {
    const id = escape(c.id);
    const kind = escape(c.kind);
    let counts = resultCounts.get(c.kind);
    if (!counts) resultCounts.set(c.kind, (counts = new Array<number>(RESULT_LABELS.length).fill(0)));
    checks.set(c.id, {
      counts,
      timed: c.kind !== FLEET_CHECK_KIND,
      staleMs: staleAfterMs(c.intervalMs, c.timeoutMs),
      locations: new Map(),
      certExpiresAt: null,
    });
    successLines.push(`pulse_check_success{check="${id}",kind="${kind}",subject="${c.subject.type}:${escape(c.subject.id)}"} 1\n`);
    durationLabels.push(`pulse_check_duration_seconds{check="${id}",kind="${kind}"} `);
    expiryLabels.push(`pulse_check_certificate_expiry_timestamp_seconds{check="${id}"} `);
  }
  const checkList = [...checks.values()];
  const successTable = new SeriesTexts(successLines);
  const durationTable = new SeriesTexts(durationLabels);
  const expiryTable = new SeriesTexts(expiryLabels);
  const practiceIndex = new Map<string, number>();
  const practiceLines: string[] = [];
  for (const p of estate.practices.values()) {
    practiceIndex.set(p.ods, practiceIndex.size);
    const labels = `ods="${escape(p.ods)}",pcn="${escape(p.pcn)}",icb="${escape(p.icb ?? '')}"`;
    for (const status of STATUS_LEVELS) practiceLines.push(`pulse_practice_status{${labels},status="${status}"} 0\n`);
  }
  const practiceTable = new SeriesTexts(practiceLines);
  const statusIndex = new Map<StatusLevel, number>(STATUS_LEVELS.map((status, i) => [status, i]));
  const headers = {
    success: header('pulse_check_success', 'gauge', 'Whether the newest result of each check passed: 1 when it passed at every probe location with a fresh result, 0 when it failed at any; absent while no location has a fresh result.'),
    duration: header('pulse_check_duration_seconds', 'gauge', 'How long the newest fresh result of each check took; absent while no location has a fresh result.'),
    expiry: header('pulse_check_certificate_expiry_timestamp_seconds', 'gauge', 'notAfter of the server certificate (Unix seconds), from the newest result of the check that carried one.'),
    checks: header('pulse_checks', 'gauge', 'Checks by the state of their newest results: passing, failing, or no_data (no fresh result from any location; pulse_check_success absent).'),
    practices: header('pulse_practice_status', 'gauge', 'Current status of each practice, one-hot: 1 for its status, 0 for the other six levels.'),
  };
  /** Scratch for one scrape: each check's newest fresh latency, NaN when it has none. */
  const newestLatencyMs = new Float64Array(checkList.length);
  /** The previous body's size, to size the next; at first, a guess from the tables. */
  let lastSize = successTable.bytes + durationTable.bytes + practiceTable.bytes + 65_536;

  /** The per-check and per-practice families, after `head` (prom-client's text). */
  function render(head: string): Buffer<ArrayBuffer> {
    const now = sources.now();
    // One buffer per scrape, sized from the previous one.
    const out = new TextWriter(lastSize * 1.05 + head.length * 3);
    out.text(head);
    if (!head.endsWith('\n')) out.byte(NEWLINE);

    out.text(headers.success);
    let passing = 0;
    let failing = 0;
    let noData = 0;
    let run = 0; // start (in successTable) of the lines not yet copied
    for (let i = 0; i < checkList.length; i++) {
      const c = checkList[i]!;
      let failed = false;
      let newest: LocationResult | null = null;
      for (const l of c.locations.values()) {
        if (now - l.at > c.staleMs || l.at - now > MAX_CLOCK_SKEW_MS || !l.judged) continue;
        if (!l.ok) failed = true;
        if (!newest || l.at > newest.at) newest = l;
      }
      newestLatencyMs[i] = newest ? newest.latencyMs : Number.NaN;
      if (!newest) {
        noData++;
        successTable.copyTo(out, run, successTable.start(i)); // the run ends before this line
        run = successTable.start(i + 1);
      } else if (failed) {
        failing++;
        successTable.copyTo(out, run, successTable.start(i + 1) - 2); // up to its value byte
        out.byte(ZERO);
        out.byte(NEWLINE);
        run = successTable.start(i + 1);
      } else {
        passing++;
      }
    }
    successTable.copyTo(out, run, successTable.bytes);

    out.text(headers.duration);
    for (let i = 0; i < checkList.length; i++) {
      const latencyMs = newestLatencyMs[i]!;
      if (Number.isNaN(latencyMs) || !checkList[i]!.timed) continue;
      durationTable.copyTo(out, durationTable.start(i), durationTable.start(i + 1));
      out.text(String(latencyMs / 1000));
      out.byte(NEWLINE);
    }
    out.text(headers.expiry);
    for (let i = 0; i < checkList.length; i++) {
      const notAfter = checkList[i]!.certExpiresAt;
      if (notAfter === null) continue;
      expiryTable.copyTo(out, expiryTable.start(i), expiryTable.start(i + 1));
      out.text(String(notAfter / 1000));
      out.byte(NEWLINE);
    }
    out.text(`${headers.checks}pulse_checks{state="passing"} ${passing}\npulse_checks{state="failing"} ${failing}\npulse_checks{state="no_data"} ${noData}\n`);

    // Every practice is in the views (they are built from the same estate): all lines at 0,
    // then each practice's current status set to 1.
    out.text(headers.practices);
    const base = out.length;
    practiceTable.copyTo(out, 0, practiceTable.bytes);
    for (const p of sources.practices()) {
      const i = practiceIndex.get(p.ods);
      if (i === undefined) continue;
      out.set(base + practiceTable.start(i * STATUS_LEVELS.length + statusIndex.get(p.status)! + 1) - 2, ONE);
    }
    const body = out.done();
    lastSize = body.length;
    return body;
  }

  return {
    registry,
    contentType: registry.contentType,
    /** The whole exposition, UTF-8: prom-client's families, then the per-check and per-practice ones. */
    async scrape(): Promise<Buffer<ArrayBuffer>> {
      return render(await registry.metrics());
    },
    /**
     * Results for the per-check series (results for unknown checks are ignored). From probe
     * workers, they are also counted and move the dead-man's switch; the server's own
     * (workstation-fleet heartbeats, judged every tick) only update their checks' series.
     */
    results(results: readonly CheckResult[], from: 'workers' | 'server' = 'workers'): void {
      if (results.length === 0) return;
      const fromWorkers = from === 'workers';
      if (fromWorkers) lastResultAt = sources.now();
      for (const r of results) {
        const c = checks.get(r.checkId);
        if (!c) continue;
        const judged = !isUnjudged(r);
        if (fromWorkers) c.counts[!judged ? IMPAIRED_INDEX : r.ok ? 0 : ERROR_INDEX.get(r.error)!]!++;
        const l = c.locations.get(r.location);
        if (!l) {
          c.locations.set(r.location, { location: r.location, at: r.at, ok: r.ok, latencyMs: r.latencyMs, judged });
        } else if (r.at >= l.at || l.at - r.at > MAX_CLOCK_SKEW_MS) {
          l.at = r.at;
          l.ok = r.ok;
          l.latencyMs = r.latencyMs;
          l.judged = judged;
        } else {
          continue; // older than what this location already reported
        }
        if (r.certExpiresAt !== undefined && Number.isFinite(r.certExpiresAt)) c.certExpiresAt = r.certExpiresAt;
      }
    },
    transition(subjectType: 'practice' | 'service', to: StatusLevel) {
      transitions.inc({ subject_type: subjectType, to });
    },
    liveMessage(type: string) {
      liveMessages.inc({ type });
    },
    liveLimited(reason: 'snapshot-deferred' | 'resync-coalesced' | 'flood-closed' | 'address-limit') {
      liveLimited.inc({ reason });
    },
    /** One store operation failed for the database itself (see store/health.ts). */
    storeUnavailable(reason: StoreUnavailableReason) {
      storeUnavailable.inc({ reason });
    },
    storeWrite(operation: StoreOperation, seconds: number, ok: boolean) {
      storeWrites.observe({ operation }, seconds);
      if (!ok) storeFailures.inc({ operation });
    },
    /** One backup-mode action attempt: `kind` is `webhook` or `notify`. */
    backupAction(kind: string, result: BackupActionResult) {
      backupActions.inc({ kind, result });
    },
    breakGlass() {
      breakGlass.inc();
    },
    /** A workstation heartbeat refused with 429. */
    heartbeatRejected(reason: HeartbeatRejectReason) {
      heartbeatsRejected.inc({ reason });
    },
    /** The server found it had not run for `ms` (its self-watch calls this once per stall). */
    serverStall(ms: number) {
      serverStalls.inc();
      serverStalled.inc(Math.max(0, ms) / 1000);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The optional bearer token for /metrics: a check of the Authorization header, in
 * constant time (both sides hashed to the same length first). Null when no token is set.
 */
export function metricsTokenCheck(token: string | undefined): ((authorization: string | undefined) => boolean) | null {
  if (!token) return null;
  const expected = sha256(token);
  return (authorization) => {
    const presented = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    return presented !== undefined && timingSafeEqual(sha256(presented), expected);
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function header(name: string, type: 'gauge' | 'counter', help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

/** A label value in the text format: backslash, double quote and newline escaped. */
function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const NEWLINE = 0x0a;
const ZERO = 0x30;
const ONE = 0x31;

/** Lines encoded once as UTF-8, end to end in one buffer (one object, not one per series). */
class SeriesTexts {
  private readonly buffer: Buffer;
  private readonly starts: Uint32Array;

  constructor(texts: readonly string[]) {
    this.starts = new Uint32Array(texts.length + 1);
    let size = 0;
    texts.forEach((t, i) => {
      this.starts[i] = size;
      size += Buffer.byteLength(t);
    });
    this.starts[texts.length] = size;
    this.buffer = Buffer.alloc(size);
    texts.forEach((t, i) => this.buffer.write(t, this.starts[i]!));
  }

  get bytes(): number {
    return this.buffer.length;
  }

  /** Where text `i` starts; `start(n)` is the end of the last. */
  start(i: number): number {
    return this.starts[i]!;
  }

  copyTo(out: TextWriter, from: number, to: number): void {
    out.copy(this.buffer, from, to);
  }
}

/** An append-only UTF-8 buffer that grows when it must. */
class TextWriter {
  private buffer: Buffer<ArrayBuffer>;
  private at = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, Math.ceil(capacity)));
  }

  get length(): number {
    return this.at;
  }

  private room(n: number): void {
    if (this.at + n <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + n));
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buffer[this.at++] = b;
  }

  /** Overwrites one byte already written. */
  set(position: number, b: number): void {
    this.buffer[position] = b;
  }

  text(s: string): void {
    this.room(s.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    this.at += this.buffer.write(s, this.at);
  }

  /**
   * Copies bytes [start, end) of `source`. Short spans (one label text) in a plain loop:
   * Node 20's Buffer#copy and subarray allocate a view per call, which at 100,000 calls a
   * scrape costs more than the copying. Long runs natively.
   */
  copy(source: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.room(n);
    const target = this.buffer;
    if (n >= 256) {
      target.set(source.subarray(start, end), this.at);
      this.at += n;
      return;
    }
    let at = this.at;
    for (let i = start; i < end; i++) target[at++] = source[i]!;
    this.at = at;
  }

  done(): Buffer<ArrayBuffer> {
    return this.buffer.subarray(0, this.at);
  }
}
