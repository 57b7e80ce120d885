// Prometheus metrics for one Pulse instance, on its own registry (so tests can run several
// servers in one process). Labels come from bounded sets only: status, check kind, error
// class, location, message type. Never URLs or free text.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CLASSES } from '../probes/types';
import { STATUS_LEVELS, type StatusLevel } from './status/types';

export interface MetricsSources {
  practiceCounts: () => Record<StatusLevel, number> & { backup: number };
  serviceCounts: () => Record<StatusLevel, number>;
  liveClients: () => number;
  workers: () => { location: string; lagMs: number }[];
}

export function createMetrics(sources: MetricsSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

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
    help: 'Practices currently in backup (business continuity) mode.',
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
  const checkResults = new Counter({
    name: 'pulse_check_results_total',
    help: 'Check results received from probe workers, by check kind and result (ok or an error class).',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'pulse_status_transitions_total',
    help: 'Status changes of practices and services, by new status.',
    labelNames: ['subject', 'to'] as const,
    registers: [registry],
  });
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
    help: 'Worst recent scheduling lag reported by the probe workers of each location.',
    labelNames: ['location'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const worst = new Map<string, number>();
      for (const w of sources.workers()) worst.set(w.location, Math.max(worst.get(w.location) ?? 0, w.lagMs));
      for (const [location, lagMs] of worst) this.set({ location }, lagMs / 1000);
    },
  });

  const breakGlass = new Counter({
    name: 'pulse_break_glass_signins_total',
    help: 'Sign-ins with a sealed break-glass account. Any increase should page someone.',
    registers: [registry],
  });

  return {
    registry,
    breakGlass() {
      breakGlass.inc();
    },
    checkResult(kind: string, result: 'ok' | (typeof ERROR_CLASSES)[number]) {
      checkResults.inc({ kind, result });
    },
    transition(subject: 'practice' | 'service', to: StatusLevel) {
      transitions.inc({ subject, to });
    },
    liveMessage(type: string) {
      liveMessages.inc({ type });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
