// The shapes the practice page reads from the REST API (server/api/practices.ts, history.ts):
// only the fields it uses. Types only.
import type { PracticeView } from '../../server/live/protocol';
import type { StatusLevel } from '../../server/status/types';
import type { MinuteSummary, RecentResult } from './charts';

export interface Report {
  state: 'down' | 'degraded';
  by: string;
  note: string;
  at: string;
}

export interface CheckView {
  id: string;
  kind: string;
  intervalMs: number;
  status: StatusLevel;
  detail: string;
  lastResultAt: string | null;
}

export interface PracticeDetail extends PracticeView {
  causeChain: string;
  checks: CheckView[];
  report: Report | null;
  availability: { window: '24h' | '7d' | '30d'; availability: number | null }[];
  /** Its workstations now (null: no agents report to Pulse from this practice). */
  fleet: { status: 'up' | 'degraded' | 'down' | 'unknown'; agents: number; silent: number; expected: number | null; detail: string } | null;
}

export interface CheckHistory {
  id: string;
  minutes: MinuteSummary[];
  recent: RecentResult[];
}
