// Heartbeats for test/bench/national.ts: drives helper E's load child
// (test/bench/heartbeat-load.ts, interface in its header) over the estate's fleets: every
// practice's 20 agents, one pass over all of them per fleet interval (126,000 agents at
// 5,000/s: a 25.2 s pass, fleets beating every 25 s). Not a test file.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadMessage, LoadReport, LoadRequest } from './heartbeat-load';

export const HEARTBEAT_LOAD = 'test/bench/heartbeat-load.ts';

/** The national rate: 126,000 workstations, 5,000 beats/s. */
const SECONDS_PER_PASS = 126_000 / 5_000;

export interface HeartbeatPlan {
  rate: number;
  fleetInterval: string;
}

export function heartbeatPlan(agents: number): HeartbeatPlan {
  return { rate: Math.round(agents / SECONDS_PER_PASS), fleetInterval: `${Math.floor(SECONDS_PER_PASS)}s` };
}

export type HeartbeatReport = LoadReport;

export interface HeartbeatLoad {
  pid: number;
  /** Starts a measuring interval (the child's interval counters reset). */
  mark(): Promise<void>;
  /** What happened since the last mark or report. */
  report(): Promise<HeartbeatReport>;
  stop(): Promise<void>;
}

export async function startHeartbeats(opts: {
  spawn: (args: string[]) => ChildProcess;
  dir: string;
  url: string;
  practices: string[];
  agentsPerPractice: number;
  token: string;
  plan: HeartbeatPlan;
}): Promise<HeartbeatLoad> {
  const fleets = join(opts.dir, 'fleets.json');
  writeFileSync(fleets, JSON.stringify(opts.practices.map((ods) => ({ ods, token: opts.token, agents: opts.agentsPerPractice }))), { mode: 0o600 });
  const child = opts.spawn(['--import', 'tsx', HEARTBEAT_LOAD, '--url', opts.url, '--fleets', fleets, '--rate', String(opts.plan.rate)]);
  const next = <T extends LoadMessage['type']>(type: T, ms: number): Promise<Extract<LoadMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${HEARTBEAT_LOAD}: no ${type} within ${ms} ms`));
      }, ms);
      const onMessage = (m: LoadMessage): void => {
        if (m.type === 'error') {
          cleanup();
          reject(new Error(`${HEARTBEAT_LOAD}: ${m.message}`));
        } else if (m.type === type) {
          cleanup();
          resolve(m as Extract<LoadMessage, { type: T }>);
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`${HEARTBEAT_LOAD} exited (code ${code})`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const send = (m: LoadRequest): void => {
    child.send(m);
  };
  await next('ready', 60_000);
  send({ type: 'start', rate: opts.plan.rate });
  const report = async (): Promise<HeartbeatReport> => {
    const reply = next('report', 30_000);
    send({ type: 'report' });
    const { type: _t, ...rest } = await reply;
    return rest;
  };
  return {
    pid: child.pid ?? 0,
    mark: async () => {
      await report();
    },
    report,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      send({ type: 'stop' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
