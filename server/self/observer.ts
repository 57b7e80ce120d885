// The server watching itself: gaps between its own ticks (a GC pause, a VM migration, a
// SIGSTOP, a starved CPU), the wall clock against the monotonic clock, event-loop delay,
// and how far behind heartbeat intake runs. From these it keeps the wall-clock stretches
// Pulse was not listening (so fleet silence is judged only over time it was), and says in
// plain words when it cannot judge now (`impaired`), for Pulse's self-incident.
// It must never decide anything about the estate, never read a clock it was not handed
// (both clocks are injected), and never grow without bound (every list is capped).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { spokenDuration } from './duration';

export { spokenDuration } from './duration';

/** A stretch of wall-clock time (epoch ms). */
export interface Interval {
  from: number;
  to: number;
}

/**
 * Event-loop delay over a rolling window: `rotate()` when a window ends, `p99Ms()` the 99th
 * percentile (ms) over the last whole window and the current one. The same shape as the
 * probe workers' source (probes/self.ts), so either can be passed.
 */
export interface EventLoopDelaySource {
  rotate(): void;
  p99Ms(): number;
  close(): void;
}

/** The real source: perf_hooks.monitorEventLoopDelay; the larger of the last window's p99 and the current one's. */
export function eventLoopDelaySource(resolutionMs = 20): EventLoopDelaySource {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  let previous = 0;
  const current = () => (histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0);
  return {
    rotate() {
      previous = current();
      histogram.reset();
    },
    p99Ms: () => Math.max(previous, current()),
    close: () => histogram.disable(),
  };
}

export interface ServerObserverOptions {
  /** The server's tick (ms). */
  tickMs: number;
  /** A gap between ticks longer than this (monotonic ms) is a stall; default max(1 s, 4 × tickMs). */
  stallAfterMs?: number;
  /** Wall gap and monotonic gap differing by more than this is a wall-clock jump; default 1 s. */
  wallJumpMs?: number;
  /**
   * After a stall, `impaired` stays set until Pulse has listened this long (monotonic time
   * since the stall ended, minus any later stall); default 10 s. Long enough for what queued
   * during the pause (heartbeats, worker batches) to be drained and for a duty cycle of
   * stalls (every few seconds) to read as one impairment, not a flapping one; short enough
   * that the self-incident closes within a fleet interval of Pulse seeing again. What a
   * stall hid from the fleets is covered by the listening rule, not by this hold.
   */
  settleMs?: number;
  /** Event-loop delay p99 at or above this makes the server impaired; default 1 s. */
  eventLoopLimitMs?: number;
  /** Heartbeat intake this far behind (oldest unfinished request, or slowest recent one) makes it impaired; default 2 s. */
  intakeLimitMs?: number;
  /** The event-loop p99 and the intake's slowest-request figure look back one to two windows; default 5 s. */
  windowMs?: number;
  /** Unobserved intervals are kept this long (wall ms) and at most maxIntervals of them; default 7 days (the fleet's default forgetAfter), 1024. */
  keepMs?: number;
  maxIntervals?: number;
  /** Monotonic clock for intake timing and the settle hold; default performance.now. Must be the clock tick() is given. */
  monoNow?: () => number;
  /** Event-loop delay; default the real one (perf_hooks). null: not measured. */
  eventLoop?: EventLoopDelaySource | null;
}

/** Something log-worthy a tick found. */
export interface TickEvent {
  kind: 'stall' | 'wall-jump';
  /** The stall's length, or the jump (wall gap − monotonic gap: negative when the clock went back). */
  ms: number;
  text: string;
}

/** For /metrics and /readyz. */
export interface ServerHealth {
  /** How late the last tick came (gap − tickMs, ≥ 0). */
  tickLagMs: number;
  eventLoopDelayMs: number;
  /** Stalls since start, their total length, and the last one's. */
  stalls: number;
  stalledMsTotal: number;
  lastStallMs: number;
  wallJumps: number;
  /** Heartbeat requests started and not finished, and how far behind intake runs. */
  intakeInFlight: number;
  intakeBehindMs: number;
  /** Wall time recorded as not listened, within the kept history. */
  unobservedMs: number;
  impaired: string | null;
}

const DEFAULTS = {
  wallJumpMs: 1_000,
  settleMs: 10_000,
  eventLoopLimitMs: 1_000,
  intakeLimitMs: 2_000,
  windowMs: 5_000,
  keepMs: 7 * 86_400_000,
  maxIntervals: 1024,
};

interface HeldStall {
  ms: number;
  /** Monotonic time it ended, and the stalled total then (later stalls do not count as listening). */
  endMono: number;
  stalledTotalAtEnd: number;
}

/**
 * Call `tick(Date.now(), performance.now())` at the start of every server tick, before the
 * fleets are evaluated. Between two ticks, the wall-clock stretch counts as **not listened**
 * when:
 * - the monotonic gap exceeds `stallAfterMs` (the process was not running: nothing was read);
 * - the wall clock jumped forward by more than `wallJumpMs` (wall time passed that Pulse
 *   never lived through: beats stamped before it would otherwise look that much older);
 * - the server was overloaded at the tick (event-loop delay or heartbeat intake past their
 *   limits): beats may be waiting unread.
 * A wall clock that went back is reported only (beats then look newer, never silent).
 */
export class ServerObserver {
  readonly #tickMs: number;
  readonly #stallAfterMs: number;
  readonly #o: typeof DEFAULTS;
  readonly #monoNow: () => number;
  readonly #eventLoop: EventLoopDelaySource | null;

  #last: { wall: number; mono: number } | null = null;
  #intervals: Interval[] = [];
  #held: HeldStall[] = [];
  #stalls = 0;
  #stalledTotal = 0;
  #lastStallMs = 0;
  #wallJumps = 0;
  #tickLagMs = 0;
  #windowStart: number | null = null;
  #eventLoopMs = 0;
  #eventLoopQuietUntil: number | null = null;

  // Heartbeat intake: start times of unfinished requests (insertion order = oldest first),
  // and the slowest finished request in the current and the previous window.
  readonly #inFlight = new Map<number, number>();
  #nextIntake = 0;
  #slowBucketStart: number | null = null;
  #slowCurrent = 0;
  #slowPrevious = 0;

  constructor(opts: ServerObserverOptions) {
    this.#tickMs = opts.tickMs;
    this.#stallAfterMs = opts.stallAfterMs ?? Math.max(1_000, 4 * opts.tickMs);
    this.#o = {
      wallJumpMs: opts.wallJumpMs ?? DEFAULTS.wallJumpMs,
      settleMs: opts.settleMs ?? DEFAULTS.settleMs,
      eventLoopLimitMs: opts.eventLoopLimitMs ?? DEFAULTS.eventLoopLimitMs,
      intakeLimitMs: opts.intakeLimitMs ?? DEFAULTS.intakeLimitMs,
      windowMs: opts.windowMs ?? DEFAULTS.windowMs,
      keepMs: opts.keepMs ?? DEFAULTS.keepMs,
      maxIntervals: opts.maxIntervals ?? DEFAULTS.maxIntervals,
    };
    this.#monoNow = opts.monoNow ?? (() => performance.now());
    this.#eventLoop = opts.eventLoop === undefined ? eventLoopDelaySource() : opts.eventLoop;
  }

  /** Stalls seen since start. */
  get stalls(): number {
    return this.#stalls;
  }

  /** One server tick at wall time `wallNow` (epoch ms) and monotonic time `monoNow` (ms). Returns what is worth logging. */
  tick(wallNow: number, monoNow: number): TickEvent[] {
    const last = this.#last;
    this.#last = { wall: wallNow, mono: monoNow };
    if (last === null) {
      this.#sampleEventLoop(monoNow, false);
      return [];
    }

    const events: TickEvent[] = [];
    const monoGap = monoNow - last.mono;
    const wallGap = wallNow - last.wall;
    this.#tickLagMs = Math.max(0, monoGap - this.#tickMs);

    const stalled = monoGap > this.#stallAfterMs;
    if (stalled) {
      this.#stalls++;
      this.#stalledTotal += monoGap;
      this.#lastStallMs = monoGap;
      this.#held.push({ ms: monoGap, endMono: monoNow, stalledTotalAtEnd: this.#stalledTotal });
      if (this.#held.length > 64) this.#held.shift();
      events.push({ kind: 'stall', ms: monoGap, text: `the server stalled for ${spokenDuration(monoGap)}` });
    }
    this.#sampleEventLoop(monoNow, stalled);
    const jump = wallGap - monoGap;
    if (Math.abs(jump) > this.#o.wallJumpMs) {
      this.#wallJumps++;
      events.push({
        kind: 'wall-jump',
        ms: jump,
        text: `the wall clock jumped ${jump > 0 ? 'forward' : 'back'} ${spokenDuration(Math.abs(jump))}`,
      });
    }
    const overloaded = this.#overload(monoNow) !== null;
    if ((stalled || jump > this.#o.wallJumpMs || overloaded) && wallGap > 0) this.#addUnobserved(last.wall, wallNow);
    this.#prune(wallNow);
    return events;
  }

  /** The stretches of [from, to] (wall ms) Pulse was not listening, clipped to it. */
  unobserved(from: number, to: number): Interval[] {
    const out: Interval[] = [];
    for (const i of this.#intervals) {
      const a = Math.max(from, i.from);
      const b = Math.min(to, i.to);
      if (b > a) out.push({ from: a, to: b });
    }
    return out;
  }

  /** How much of [from, to] (wall ms) Pulse was listening: its length less the unobserved stretches in it. */
  listenedMs(from: number, to: number): number {
    if (!(to > from)) return 0;
    let missed = 0;
    for (const i of this.#intervals) {
      const a = Math.max(from, i.from);
      const b = Math.min(to, i.to);
      if (b > a) missed += b - a;
    }
    return Math.max(0, to - from - missed);
  }

  /**
   * Why the server cannot judge now, in plain words, or null. In order: a recent stall
   * (held until `settleMs` of listening since it ended; the longest one held is named),
   * event-loop delay, heartbeat intake. The hold and intake ages are on the monotonic
   * clock (`monoNow`), so a wall-clock jump can neither shorten nor stretch them.
   */
  impaired(): string | null {
    const mono = this.#monoNow();
    this.#held = this.#held.filter((h) => mono - h.endMono - (this.#stalledTotal - h.stalledTotalAtEnd) < this.#o.settleMs);
    if (this.#held.length > 0) {
      const longest = Math.max(...this.#held.map((h) => h.ms));
      return `the server stalled for ${spokenDuration(longest)}`;
    }
    return this.#overload(mono);
  }

  /** Heartbeat intake: call when a request starts; call the returned function once when it is finished (idempotent). */
  intakeStart(): () => void {
    const id = this.#nextIntake++;
    this.#inFlight.set(id, this.#monoNow());
    return () => {
      const started = this.#inFlight.get(id);
      if (started === undefined) return;
      this.#inFlight.delete(id);
      const now = this.#monoNow();
      this.#rollSlow(now);
      this.#slowCurrent = Math.max(this.#slowCurrent, now - started);
    };
  }

  health(): ServerHealth {
    const mono = this.#monoNow();
    let unobservedMs = 0;
    for (const i of this.#intervals) unobservedMs += i.to - i.from;
    return {
      tickLagMs: this.#tickLagMs,
      eventLoopDelayMs: this.#eventLoopMs,
      stalls: this.#stalls,
      stalledMsTotal: this.#stalledTotal,
      lastStallMs: this.#lastStallMs,
      wallJumps: this.#wallJumps,
      intakeInFlight: this.#inFlight.size,
      intakeBehindMs: this.#intakeBehind(mono),
      unobservedMs,
      impaired: this.impaired(),
    };
  }

  /** Stops the event-loop monitor. */
  close(): void {
    this.#eventLoop?.close();
  }

  /**
   * A stall is already counted as one (and held): the event-loop histogram, which records
   * the same pause as one huge delay, is cleared and not read for a window after it, so the
   * time Pulse is listening again is not also marked unheard as "overloaded".
   */
  #sampleEventLoop(mono: number, stalled: boolean): void {
    if (!this.#eventLoop) return;
    if (stalled) this.#eventLoopQuietUntil = mono + this.#o.windowMs;
    if (this.#eventLoopQuietUntil !== null) {
      this.#eventLoop.rotate();
      this.#eventLoop.rotate();
      this.#windowStart = mono;
      this.#eventLoopMs = 0;
      if (mono >= this.#eventLoopQuietUntil) this.#eventLoopQuietUntil = null;
      return;
    }
    if (this.#windowStart === null) this.#windowStart = mono;
    else if (mono - this.#windowStart >= this.#o.windowMs) {
      this.#eventLoop.rotate();
      this.#windowStart = mono;
    }
    this.#eventLoopMs = this.#eventLoop.p99Ms();
  }

  #overload(mono: number): string | null {
    if (this.#eventLoopMs >= this.#o.eventLoopLimitMs) {
      return `the server's event loop is ${spokenDuration(this.#eventLoopMs)} behind`;
    }
    const behind = this.#intakeBehind(mono);
    if (behind >= this.#o.intakeLimitMs) return `heartbeat intake is ${spokenDuration(behind)} behind`;
    return null;
  }

  #intakeBehind(mono: number): number {
    this.#rollSlow(mono);
    let oldest = 0;
    for (const started of this.#inFlight.values()) {
      oldest = mono - started;
      break;
    }
    return Math.max(oldest, this.#slowCurrent, this.#slowPrevious);
  }

  #rollSlow(mono: number): void {
    if (this.#slowBucketStart === null) {
      this.#slowBucketStart = mono;
      return;
    }
    const elapsed = mono - this.#slowBucketStart;
    if (elapsed < this.#o.windowMs) return;
    this.#slowPrevious = elapsed < 2 * this.#o.windowMs ? this.#slowCurrent : 0;
    this.#slowCurrent = 0;
    this.#slowBucketStart = mono;
  }

  /** Adds [from, to], merging with any interval it touches; the list stays sorted and disjoint. */
  #addUnobserved(from: number, to: number): void {
    let merged: Interval = { from, to };
    const kept: Interval[] = [];
    for (const i of this.#intervals) {
      if (i.to < merged.from || i.from > merged.to) kept.push(i);
      else merged = { from: Math.min(i.from, merged.from), to: Math.max(i.to, merged.to) };
    }
    kept.push(merged);
    kept.sort((a, b) => a.from - b.from);
    this.#intervals = kept;
  }

  #prune(wallNow: number): void {
    const horizon = wallNow - this.#o.keepMs;
    if (this.#intervals.length > 0 && this.#intervals[0]!.to < horizon) {
      this.#intervals = this.#intervals.filter((i) => i.to >= horizon);
    }
    if (this.#intervals.length > this.#o.maxIntervals) {
      this.#intervals = this.#intervals.slice(this.#intervals.length - this.#o.maxIntervals);
    }
  }
}
