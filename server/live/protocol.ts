// The dashboard's live feed over the WebSocket at /ws. Type-only: imported by web/ too.
//
// On connect the server sends `hello`, then a `snapshot` with sequence number `seq`.
// Each later `delta` or `heartbeat` carries seq + 1. A client that sees a gap sends
// `resync` and receives a fresh snapshot. A client that hears nothing for two heartbeat
// intervals must show its data as stale.
import type { Mode, StatusLevel } from '../status/types';

/**
 * `ok`; `starting` (no result yet since start); `quiet` (Pulse's own probe results have
 * stopped); `impaired` (Pulse's own view is impaired — an overloaded or stalled probe worker
 * or server: what it could not judge is shown unknown, and `impaired` on the message says why).
 */
export type ProbesState = 'ok' | 'starting' | 'quiet' | 'impaired';

export const LIVE_PROTOCOL_VERSION = 1;

export interface PracticeView {
  ods: string;
  name: string;
  pcn: string;
  icb: string | null;
  /** Service id of the principal clinical system, e.g. `emis-web`. */
  system: string;
  status: StatusLevel;
  /** One line, e.g. `upstream: emis-web` or `check A81001-gateway: status 503, expected 200`; null when up. */
  cause: string | null;
  mode: Mode;
  /** ISO 8601 time the current status began. */
  since: string;
}

export interface ServiceView {
  id: string;
  name: string;
  kind: 'clinical-system' | 'national' | 'network';
  status: StatusLevel;
  cause: string | null;
  since: string;
  /** Practices that are down or degraded because of this service. */
  practicesAffected: number;
}

export type Counts = Record<StatusLevel, number> & { backup: number; total: number };

/** An incident as the dashboards see it: grouped by root cause, opened and closed automatically. */
export interface IncidentView {
  id: number;
  /** Root cause: `service:emis-web`, `practice:A81001` or `pcn:<name>`. */
  key: string;
  kind: 'service' | 'practice' | 'pcn' | 'endpoints' | 'pulse';
  title: string;
  /**
   * What Pulse found beyond the title, in plain words, or null: for an endpoint-failure
   * incident the software over-represented among the silent workstations (e.g. `94% of silent
   * workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)`); for Pulse's
   * own incident, what impairs it now.
   */
  finding: string | null;
  status: 'open' | 'resolved';
  severity: 'down' | 'degraded';
  openedAt: string;
  resolvedAt: string | null;
  affected: number;
}

export type LiveServerMessage =
  | { type: 'hello'; protocol: number; heartbeatMs: number }
  /** `incidents`: every open incident. */
  | {
      type: 'snapshot';
      seq: number;
      at: string;
      probes: ProbesState;
      /** When `probes` is `impaired`: why, in plain words (e.g. `Pulse's probes in local are overloaded: its event loop runs 4.6 s late`). */
      impaired?: string | null;
      practices: PracticeView[];
      services: ServiceView[];
      counts: Counts;
      incidents: IncidentView[];
    }
  /** `incidents`: incidents opened, changed or resolved in this tick (a resolved one leaves the open list). */
  | { type: 'delta'; seq: number; at: string; practices: PracticeView[]; services: ServiceView[]; counts: Counts; incidents: IncidentView[] }
  /** `probes`: whether Pulse's own probes are reporting (`quiet`: statuses are going stale). */
  | { type: 'heartbeat'; seq: number; at: string; probes: ProbesState; impaired?: string | null };

export type LiveClientMessage = { type: 'resync' };
