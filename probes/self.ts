// A probe worker watching itself: how far behind its scheduler runs, how late its event
// loop fires timers (perf_hooks.monitorEventLoopDelay, over a rolling window), when its
// event loop stopped altogether (a SIGSTOP, a VM pause, a starved CPU: gaps in a short
// timer of its own), whether its loopback canary answers, and the share of its checks
// that time out. From these it says, in plain words, when it cannot judge its targets
// (`ObserverHealth.impaired`), and which failed runs it could not judge (`judge`).
// It must never decide anything about a target (a failure it tags is merely no
// evidence; the server decides), never sleep on real time in tests (clock injected),
// and never grow without bound (every list and window is capped).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { ObserverHealth } from './protocol';
import { realClock, type Clock, type RunResult, type RunTiming, type TimerHandle } from './scheduler';

/** How far back the figures in ObserverHealth look. */
export const DEFAULT_SELF_WINDOW_MS = 10_000;
/** The stall watcher's timer. */
export const DEFAULT_STALL_TICK_MS = 100;
/** A gap in the watcher's timer at least this long is a stall: the worker was not running. */
export const DEFAULT_STALL_MIN_MS = 500;
/**
 * Past these the worker is impaired: its event-loop delay p99, its longest stall in the
 * window. Scheduler lag is reported, never a trigger: runs start late when slow or hanging
 * targets hold every slot (the July 2024 day), and those timeouts are true — a worker that
 * is itself late shows in its event-loop delay and stalls.
 */
export const DEFAULT_IMPAIRED_EVENT_LOOP_DELAY_MS = 1_000;
export const DEFAULT_IMPAIRED_STALL_MS = 1_000;
/** No canary result for this long counts as the canary not answering. */
export const DEFAULT_CANARY_STALE_MS = 7_000;
/** Stalls and canary outages are kept this long (a run can overlap one that ended before it finished), at most this many. */
const HISTORY_MS = 10 * 60_000;
const HISTORY_MAX = 256;
const EVENT_LOOP_RESOLUTION_MS = 20;

/** A stretch of wall-clock time (epoch ms), `to` Infinity while it lasts. */
export interface Interval {
  from: number;
  to: number;
}

/** A time the canary was not answering, and what it said (`timeout`, `refused`...). */
interface Outage extends Interval {
  why: string;
}

/** Event-loop delay over a rolling window. `rotate` once a second; `p99Ms` the window's 99th percentile. */
export interface EventLoopDelaySource {
  rotate(): void;
  p99Ms(): number;
  close(): void;
}

/** One second of event-loop delay samples, as perf_hooks summarises them: how many, and value (ms) at each percentile. */
export interface DelaySecond {
  count: number;
  percentiles: readonly (readonly [percentile: number, ms: number])[];
}

/**
 * The q-quantile (0..1) of several seconds' samples together. perf_hooks' histograms cannot
 * be merged with an event-loop one, so each second is kept as its percentile points, each
 * point standing for the share of that second's samples between it and the point below.
 */
export function mergedQuantile(seconds: readonly DelaySecond[], q: number): number {
  const weighted: [ms: number, weight: number][] = [];
  let total = 0;
  for (const second of seconds) {
    if (second.count <= 0) continue;
    let below = 0;
    for (const [percentile, ms] of [...second.percentiles].sort((a, b) => a[0] - b[0])) {
      const weight = ((percentile - below) / 100) * second.count;
      below = percentile;
      if (weight <= 0) continue;
      weighted.push([ms, weight]);
      total += weight;
    }
  }
  if (total === 0) return 0;
  weighted.sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [ms, weight] of weighted) {
    seen += weight;
    if (seen >= q * total - 1e-9) return ms;
  }
  return weighted[weighted.length - 1]?.[0] ?? 0;
}

/** The real source: monitorEventLoopDelay, summarised and reset each second, the last `windowMs` of seconds kept. */
export function eventLoopDelayWindow(windowMs = DEFAULT_SELF_WINDOW_MS): EventLoopDelaySource {
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  histogram.enable();
  const keep = Math.max(1, Math.ceil(windowMs / 1000));
  const seconds: DelaySecond[] = [];
  const current = (): DelaySecond => ({
    count: histogram.count,
    percentiles: [...histogram.percentiles].map(([p, ns]) => [p, ns / 1e6] as const),
  });
  return {
    rotate() {
      seconds.push(current());
      if (seconds.length > keep) seconds.shift();
      histogram.reset();
    },
    p99Ms: () => mergedQuantile([...seconds, current()], 0.99),
    close: () => histogram.disable(),
  };
}

/** `4.6 s`, `40 s`, `3 min 20 s`: a duration as an operator reads it. */
export function describeDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

export interface SelfWatchOptions {
  /** Wall clock (the scheduler's): results' `at` and the stall intervals are on it. */
  clock?: Clock;
  /** Measures the gaps; default performance.now() with the real clock, else the injected clock's now(). */
  monotonicNow?: () => number;
  windowMs?: number;
  stallTickMs?: number;
  stallMinMs?: number;
  impairedEventLoopDelayMs?: number;
  impairedStallMs?: number;
  canaryStaleMs?: number;
  /** Default: eventLoopDelayWindow(windowMs). */
  eventLoopDelay?: EventLoopDelaySource;
}

interface CanaryState {
  ok: boolean;
  latencyMs: number;
  detail: string;
  /** What it was, short: `timeout`, `refused`, `status`... */
  why: string;
  finishedAt: number;
}

interface TimeoutSlot {
  index: number;
  finished: number;
  timedOut: number;
}

/** A worker's watch over itself. `start()` arms its timer; feed it every finished run and every canary result. */
export class SelfWatch {
  private readonly clock: Clock;
  private readonly monotonicNow: () => number;
  private readonly windowMs: number;
  private readonly stallTickMs: number;
  private readonly stallMinMs: number;
  private readonly impairedEventLoopDelayMs: number;
  private readonly impairedStallMs: number;
  private readonly canaryStaleMs: number;
  private eventLoopDelay: EventLoopDelaySource | undefined;
  private readonly ownsEventLoopDelay: boolean;
  private readonly stallList: Interval[] = [];
  private readonly canaryOutages: Outage[] = [];
  private readonly timeouts: TimeoutSlot[];
  private canary: CanaryState | undefined;
  /** When the canary was put in the scheduler (staleness counts from then until its first result). */
  private canaryExpectedSince: number | undefined;
  private lastSeenMono: number;
  private lastRotateMono: number;
  private timer: TimerHandle | undefined;
  private running = false;
  private delayCache: { at: number; ms: number } | undefined;

  constructor(options: SelfWatchOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.monotonicNow = options.monotonicNow ?? (this.clock === realClock ? () => performance.now() : () => this.clock.now());
    this.windowMs = options.windowMs ?? DEFAULT_SELF_WINDOW_MS;
    this.stallTickMs = options.stallTickMs ?? DEFAULT_STALL_TICK_MS;
    this.stallMinMs = options.stallMinMs ?? DEFAULT_STALL_MIN_MS;
    this.impairedEventLoopDelayMs = options.impairedEventLoopDelayMs ?? DEFAULT_IMPAIRED_EVENT_LOOP_DELAY_MS;
    this.impairedStallMs = options.impairedStallMs ?? DEFAULT_IMPAIRED_STALL_MS;
    this.canaryStaleMs = options.canaryStaleMs ?? DEFAULT_CANARY_STALE_MS;
    this.eventLoopDelay = options.eventLoopDelay;
    this.ownsEventLoopDelay = options.eventLoopDelay === undefined;
    const slots = Math.ceil(this.windowMs / 1000) + 1;
    this.timeouts = Array.from({ length: slots }, () => ({ index: -1, finished: 0, timedOut: 0 }));
    this.lastSeenMono = this.monotonicNow();
    this.lastRotateMono = this.lastSeenMono;
  }

  /** Arms the stall watcher (and, by default, the event-loop delay monitor). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.eventLoopDelay ??= eventLoopDelayWindow(this.windowMs);
    this.lastSeenMono = this.monotonicNow();
    this.lastRotateMono = this.lastSeenMono;
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ownsEventLoopDelay) {
      this.eventLoopDelay?.close();
      this.eventLoopDelay = undefined;
    }
  }

  /**
   * The worker is running now: a gap since it last was, at least stallMinMs, is a stall.
   * The timer calls this; so does judging a result, because after a pause the run's own
   * deadline may fire before the watcher's timer does.
   */
  observe(): void {
    const mono = this.monotonicNow();
    const gap = mono - this.lastSeenMono;
    this.lastSeenMono = Math.max(this.lastSeenMono, mono);
    if (gap >= this.stallMinMs) {
      const to = this.clock.now();
      this.remember(this.stallList, { from: to - gap, to });
    }
    if (mono - this.lastRotateMono >= 1000) {
      this.lastRotateMono = mono;
      this.eventLoopDelay?.rotate();
    }
  }

  /** Stalls seen (oldest first), for tests and logs. */
  stalls(): readonly Interval[] {
    return this.stallList;
  }

  /** The canary is now in the scheduler: from here on, no answer for canaryStaleMs counts as not answering. */
  expectCanary(): void {
    this.canaryExpectedSince ??= this.clock.now();
  }

  /** A canary run finished. */
  recordCanary(result: RunResult): void {
    this.observe();
    const now = this.clock.now();
    const outage = this.canaryOutages[this.canaryOutages.length - 1];
    const open = outage !== undefined && outage.to === Infinity;
    if (!result.ok && !open) this.remember(this.canaryOutages, { from: result.at, to: Infinity, why: result.error });
    if (result.ok && open) outage.to = now;
    this.canary = {
      ok: result.ok,
      latencyMs: result.latencyMs,
      detail: (result.detail ?? (result.ok ? 'answered' : result.error)).slice(0, 200),
      why: result.ok ? 'answered' : result.error,
      finishedAt: now,
    };
  }

  /** A real check's run finished (for the share of timeouts). */
  recordFinished(result: RunResult): void {
    const index = Math.floor(this.clock.now() / 1000);
    const slot = this.timeouts[index % this.timeouts.length] as TimeoutSlot;
    if (slot.index !== index) {
      slot.index = index;
      slot.finished = 0;
      slot.timedOut = 0;
    }
    slot.finished++;
    if (!result.ok && result.error === 'timeout') slot.timedOut++;
  }

  /**
   * Plain words why this run cannot be judged, or null. Only a run that failed or was
   * degraded can be: a success is a success whatever the worker's state. It cannot be
   * judged when the worker stalled while it ran, when the canary was not answering while
   * it ran, or when the event loop is running late past its threshold now. A late *start*
   * alone does not falsify a run: its timeout is counted from when it started, and on the
   * July 2024 day runs start late because hanging gateways hold every slot — those
   * timeouts are the outage, not Pulse's trouble.
   */
  judge(result: RunResult, timing: RunTiming): string | null {
    if (result.ok && result.degraded === undefined) return null;
    this.observe();
    const now = this.clock.now();
    // The run as it measured itself: a deadline that fired late after a pause measures the pause too.
    const from = result.at;
    const to = result.at + result.latencyMs;
    const reasons: string[] = [];
    void timing;
    const stall = longestOverlapping(this.stallList, from, to);
    if (stall > 0) reasons.push(`stalled for ${describeDuration(stall)}`);
    const delay = this.eventLoopDelayMs();
    if (delay > this.impairedEventLoopDelayMs) reasons.push(eventLoopWords(delay));
    const canary = this.canaryNow(now);
    const outage = this.canaryOutages.findLast((o) => o.from < to && o.to > from);
    if (canary && !canary.ok) reasons.push(canaryWords(canary.why));
    else if (outage) reasons.push(canaryWords(outage.why));
    return reasons.length > 0 ? reasons.join('; ') : null;
  }

  /**
   * The worker's health now, with its scheduler's lag as a figure. Lag is not a reason to
   * disbelieve the timeouts (see DEFAULT_IMPAIRED_EVENT_LOOP_DELAY_MS): it is shown and
   * alerted on (PulseSchedulerLagging); a worker starved of CPU shows in its stalls and
   * event-loop delay.
   */
  health(lagMs: number): ObserverHealth {
    this.observe();
    const now = this.clock.now();
    const eventLoopDelayMs = Math.round(this.eventLoopDelayMs());
    let stalledMs = 0;
    for (const stall of this.stallList) if (stall.to > now - this.windowMs) stalledMs = Math.max(stalledMs, stall.to - stall.from);
    stalledMs = Math.round(stalledMs);
    const canary = this.canaryNow(now);
    let finished = 0;
    let timedOut = 0;
    const newest = Math.floor(now / 1000);
    const oldest = Math.floor((now - this.windowMs) / 1000);
    for (const slot of this.timeouts) {
      if (slot.index <= oldest || slot.index > newest) continue;
      finished += slot.finished;
      timedOut += slot.timedOut;
    }
    const reasons: string[] = [];
    if (stalledMs > this.impairedStallMs) reasons.push(`stalled for ${describeDuration(stalledMs)}`);
    if (eventLoopDelayMs > this.impairedEventLoopDelayMs) reasons.push(eventLoopWords(eventLoopDelayMs));
    if (canary && !canary.ok) reasons.push(canaryWords(canary.why));
    return {
      lagMs: Math.round(lagMs),
      eventLoopDelayMs,
      stalledMs,
      canary: canary ? { ok: canary.ok, latencyMs: Math.round(canary.latencyMs), detail: canary.detail } : null,
      timeoutShare: finished > 0 ? timedOut / finished : 0,
      impaired: reasons.length > 0 ? reasons.join('; ') : null,
    };
  }

  /** The event-loop delay p99, worked out at most once per stall tick (judge runs for every failure). */
  private eventLoopDelayMs(): number {
    const mono = this.monotonicNow();
    if (this.delayCache === undefined || mono - this.delayCache.at >= this.stallTickMs) {
      this.delayCache = { at: mono, ms: this.eventLoopDelay?.p99Ms() ?? 0 };
    }
    return this.delayCache.ms;
  }

  /** The canary's state now: its last result, or not answering when it has been silent too long. */
  private canaryNow(now: number): CanaryState | undefined {
    const since = this.canary?.finishedAt ?? this.canaryExpectedSince;
    if (since !== undefined && now - since > this.canaryStaleMs) {
      const silent = now - since;
      const stale: CanaryState = {
        ok: false,
        latencyMs: this.canary?.latencyMs ?? 0,
        detail: `no answer for ${describeDuration(silent)}`,
        why: `no answer for ${describeDuration(silent)}`,
        finishedAt: since,
      };
      return stale;
    }
    return this.canary;
  }

  private remember<T extends Interval>(list: T[], interval: T): void {
    list.push(interval);
    const cutoff = this.clock.now() - HISTORY_MS;
    while (list.length > HISTORY_MAX || (list.length > 0 && (list[0] as T).to < cutoff)) list.shift();
  }

  private arm(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.observe();
      this.arm();
    }, this.stallTickMs);
  }
}

/** The longest of the (finished) intervals overlapping [from, to], 0 if none. */
function longestOverlapping(list: readonly Interval[], from: number, to: number): number {
  let longest = 0;
  for (const interval of list) if (interval.from < to && interval.to > from) longest = Math.max(longest, interval.to - interval.from);
  return longest;
}

function eventLoopWords(ms: number): string {
  return `its event loop runs ${describeDuration(ms)} late`;
}

function canaryWords(why: string): string {
  return `its loopback canary is not answering (${why})`;
}
