// The prom-client families: everything but the per-check and per-practice ones, on the
// instance's own registry. Most are filled by collect callbacks at scrape time from what the
// server already holds; the rest are counters and a histogram the server moves as things happen.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HEARTBEAT_REJECT_REASONS } from '../api/heartbeats';
import type { IncidentKind } from '../incidents';
import { STATUS_LEVELS } from '../status/types';
import { STORE_UNAVAILABLE_REASONS } from '../store/health';
import { LOCATION_REJECT_REASONS, REJECT_REASONS } from '../workers/gateway';
import { RESULT_LABELS, type CheckSeries } from './checks';
import type { MetricsSources } from './index';

export const INCIDENT_KINDS: readonly IncidentKind[] = ['service', 'practice', 'pcn', 'endpoints', 'pulse'];

export const STORE_OPERATIONS = ['transitions', 'incidents'] as const;
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/** Registers the families on `registry`; returns those the server moves itself. */
export function registerFamilies(registry: Registry, sources: MetricsSources, checks: CheckSeries, lastResultAt: () => number) {
  // --- Checks ---------------------------------------------------------------------------
  // Counted by kind as results arrive (an array increment), handed to prom-client at scrape time.
  new Counter({
    name: 'pulse_check_results_total',
    help: 'Check results received from probe workers, by check kind and result (ok or an error class).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      checks.kinds.forEach((kind, k) => {
        for (let i = 0; i < RESULT_LABELS.length; i++) {
          const n = checks.counts[k * RESULT_LABELS.length + i]!;
          if (n > 0) this.inc({ kind, result: RESULT_LABELS[i]! }, n);
        }
      });
    },
  });
  new Gauge({
    name: 'pulse_last_result_timestamp_seconds',
    help: 'When the newest probe result reached the server (Unix seconds; the start time until the first). Stops moving when no worker reports: the dead-man\'s switch.',
    registers: [registry],
    collect() {
      this.set(lastResultAt() / 1000);
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

  return { transitions, backupActions, liveMessages, liveLimited, storeWrites, storeFailures, storeUnavailable, serverStalls, serverStalled, heartbeatsRejected, breakGlass };
}
