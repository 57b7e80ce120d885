// Runs a worker's assigned checks forever: each check once per interval at a
// stable phase (derived from its id, aligned to the epoch), so checks spread
// over the interval instead of bursting, and so a restarted worker, or a worker
// at another location, runs a check at the same moments.
// Concurrency is bounded in total and per host (a practice's gateway must not
// be hammered by its own monitoring); every run gets an AbortSignal and a hard
// deadline.
// Built for tens of thousands of checks: due times and deadlines live in one
// min-heap with a single timer armed for the earliest (optionally on a coarse
// grid, so one wake-up starts every run then due), so there is no timer per
// check and no scan of all checks except when the wall clock steps back.
// A check new to the scheduler (all of them on a fresh worker, e.g. after the server
// restarted) whose own slot is further away than a catch-up window (`catchUpFraction` of
// its interval, longer when that would start more than `catchUpRatePerSecond` first runs a
// second, never more than half the interval) runs once, early, inside that window — spread
// evenly over it in the order of their slots, the per-host bound holding — and then at its
// slot as always: every check reports again within a fraction of an interval of being
// assigned, without a burst the worker cannot carry, and steady-state spacing is unchanged.
// It must never sleep on real time in tests (the clock is injected), never let
// one check's failure or hang stop the others, and never know about sockets,
// the server or the meaning of a result.
import { hash } from 'node:crypto';
import { checkKinds, getCheckKind, type CheckKindLookup } from './registry';
import type { CheckAssignment, CheckKind, ProbeOutcome } from './types';

/**
 * One run's result as the scheduler reports it: a CheckResult without its location
 * (the server takes that from the worker's connection). Spelled out rather than
 * `Omit<CheckResult, 'location'>`, which would flatten the ok/failed union and lose
 * `error` and `degraded`; it is assignable to the worker protocol's WorkerResult.
 */
export type RunResult = ProbeOutcome & { checkId: string; at: number; impaired?: string };

/** How a run was scheduled, beside its result: an observer judges its own lateness from it. */
export interface RunTiming {
  /** When the run was due (epoch ms): its slot. */
  dueAt: number;
  /** How late it started (ms): start − due, never negative. */
  startLagMs: number;
}

export type TimerHandle = unknown;

/** Wall clock (epoch ms) and timers; the default uses the real ones. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface SchedulerOptions {
  /** Called once per run, with when it was due and how late it started. Must not throw. */
  onResult(result: RunResult, timing: RunTiming): void;
  /** Most runs in flight at once (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Most runs in flight at once against one host (default DEFAULT_PER_HOST_CONCURRENCY). */
  perHostConcurrency?: number;
  /** Which host a check reaches, for the per-host bound (default: `hostOf(target)`). */
  hostOf?: (assignment: CheckAssignment) => string;
  /**
   * Checks that never wait for one of the total slots (still for their host's): the
   * worker's canary, which must measure the worker itself, not a queue that hanging
   * targets have filled. At most one run each is in flight, so the bound is exceeded by
   * at most their number.
   */
  unbounded?: (assignment: CheckAssignment) => boolean;
  clock?: Clock;
  /** Check kinds by name (default: the registry). */
  kinds?: CheckKindLookup;
  /** How far back the lag figures in `stats()` look (default 60 s). */
  lagWindowMs?: number;
  /**
   * Wake at most once per this many ms (on an epoch-aligned grid) and start
   * everything due by then in one go. Each wake-up of the event loop costs about as
   * much CPU as a probe, so at thousands of runs a second a grid of 10-20 ms halves
   * the CPU per check, for at most that much more start lag. Default 0: exact.
   */
  tickMs?: number;
  /**
   * Catch-up after an assignment: a check new to this scheduler whose slot is further off
   * than this fraction of its interval runs once within that fraction first (0–0.5;
   * default 0: first run at its slot, up to a whole interval later).
   */
  catchUpFraction?: number;
  /**
   * At most this many first runs a second over a catch-up (default: no bound): a large
   * assignment stretches its window up to half the interval rather than bursting.
   */
  catchUpRatePerSecond?: number;
}

/** What setChecks did: checks it had not been running, and when the last of their first runs is due. */
export interface AssignmentSummary {
  /** Checks new to the scheduler. */
  added: number;
  /** Of those, how many run early (catch-up) rather than at their slot. */
  caughtUp: number;
  /** The latest first run of an added check, in ms from the assignment (0 when none added). */
  firstRunsWithinMs: number;
}

export interface SchedulerStats {
  /** Worst start delay (ms) over the recent window, including runs still waiting for a slot. */
  lagMs: number;
  /** Median start delay (ms) of the runs started in the recent window (0 when none). */
  lagP50Ms: number;
  /** 99th percentile start delay (ms) of the runs started in the recent window (0 when none). */
  lagP99Ms: number;
  running: number;
  checks: number;
  /** Runs due but waiting for a free slot (in total or on their host). */
  queued: number;
  /** Slots skipped because the previous run of the same check had not started or finished. */
  skippedRuns: number;
}

/**
 * Little's law: runs in flight = start rate × time a run takes. 50,000 checks at 30 s
 * on two workers is ~830 starts/s each; at a real-world 200-300 ms per check, plus
 * the few that wait out their timeout, that is several hundred in flight. A socket
 * in flight costs a few KiB, so the default is generous; the per-host bound is what
 * protects the targets.
 */
export const DEFAULT_CONCURRENCY = 1024;
/** Runs in flight against one host at once. */
export const DEFAULT_PER_HOST_CONCURRENCY = 8;
/** Shortest interval accepted; anything shorter is reported as an invalid check. */
export const MIN_INTERVAL_MS = 100;
/** How often an invalid check (whose own interval is unusable) reports its error. */
const INVALID_REPORT_INTERVAL_MS = 60_000;
/** setTimeout's own ceiling (a longer delay fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Fraction in [0, 1) derived from the check id: the same on every worker and every restart. */
export function phaseOf(checkId: string): number {
  // One-shot hash: several times cheaper than createHash() when 50,000 checks arrive at once.
  return hash('sha256', checkId, 'buffer').readUInt32BE(0) / 2 ** 32;
}

/** The first due time at or after `now` for a check with this phase and interval. */
export function nextDueAt(now: number, intervalMs: number, phase: number): number {
  const offset = Math.floor(phase * intervalMs);
  return Math.ceil((now - offset) / intervalMs) * intervalMs + offset;
}

/** Longest catch-up window, as a share of the interval: a catch-up run is at least this far from its slot. */
export const MAX_CATCH_UP_FRACTION = 0.5;

/**
 * The catch-up window for checks of this interval when `added` checks arrive at once:
 * `fraction` of the interval, stretched so that no more than `ratePerSecond` first runs
 * start a second, but never past half the interval (ms, 0 for no catch-up).
 */
export function catchUpWindowMs(intervalMs: number, fraction: number, added: number, ratePerSecond: number): number {
  if (!(fraction > 0)) return 0;
  const byRate = ratePerSecond > 0 && Number.isFinite(ratePerSecond) ? (added / ratePerSecond) * 1000 : 0;
  return Math.floor(Math.min(MAX_CATCH_UP_FRACTION * intervalMs, Math.max(fraction * intervalMs, byRate)));
}

/**
 * A new check's first due time: its slot, when that is within the catch-up window (ms from
 * `now`); otherwise an early run inside the window. Slots (window, interval] map in order
 * onto [0, window): evenly spread when the slots are, and a catch-up run is always at least
 * a window before the slot that follows it (the window is at most half the interval).
 */
export function firstDueAt(now: number, intervalMs: number, phase: number, windowMs: number): { at: number; early: boolean } {
  const slot = nextDueAt(now, intervalMs, phase);
  const wait = slot - now;
  if (windowMs <= 0 || wait <= windowMs) return { at: slot, early: false };
  return { at: now + Math.floor(((wait - windowMs) / (intervalMs - windowMs)) * windowMs), early: true };
}

/**
 * The machine a target reaches, for the per-host bound: the host name of a URL
 * (`https://gp.example.nhs.uk:8443/x` → `gp.example.nhs.uk`) or of `host:port`
 * (`[::1]:22` → `::1`), lower-cased. The port is left out on purpose: a practice's
 * gateway serving 443 and 8443 is still one gateway.
 */
export function hostOf(target: string): string {
  if (target.includes('://')) {
    try {
      const { hostname } = new URL(target);
      if (hostname !== '') return hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    } catch {
      // Not a URL after all: fall through.
    }
  }
  const hostPort = /^\[([^\]]*)\]:\d+$/.exec(target) ?? /^([^:[\]]*):\d+$/.exec(target);
  return (hostPort?.[1] ?? target).toLowerCase();
}

// ---- data structures -------------------------------------------------------

/** What a heap item carries: its place in the heap (-1 when out), so it can be removed in O(log n). */
interface HeapItem {
  heapIndex: number;
}

/** A binary min-heap of items that know their index; `before(a, b)` says whether a comes out first. */
class MinHeap<T extends HeapItem> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.siftUp(item, this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const index = item.heapIndex;
    if (index < 0 || this.items[index] !== item) return;
    item.heapIndex = -1;
    const last = this.items.pop() as T;
    if (last === item) return;
    this.items[index] = last;
    last.heapIndex = index;
    if (index > 0 && this.before(last, this.items[(index - 1) >> 1] as T)) this.siftUp(last, index);
    else this.siftDown(last, index);
  }

  /** Restores the order after keys were changed in place, in O(n). */
  heapify(): void {
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(this.items[i] as T, i);
  }

  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items.length = 0;
  }

  private siftUp(item: T, from: number): void {
    const items = this.items;
    let i = from;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (!this.before(item, p)) break;
      items[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private siftDown(item: T, from: number): void {
    const items = this.items;
    const n = items.length;
    let i = from;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.before(items[right] as T, items[child] as T)) child = right;
      const c = items[child] as T;
      if (!this.before(c, item)) break;
      items[i] = c;
      c.heapIndex = i;
      i = child;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}

/** First in, first out, O(1) amortised at both ends. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T; // let it be collected
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

// Lag histogram bins: exact below 64 ms, then 32 bins per doubling (≤ 3.2 % wide).
const EXACT_BELOW = 64;
const SUB_BINS = 32;
const LAG_BINS = SUB_BINS + (31 - 5) * SUB_BINS;

function lagBin(ms: number): number {
  const v = Math.min(Math.max(0, Math.floor(ms)), MAX_TIMER_MS);
  if (v < EXACT_BELOW) return v;
  const exponent = 31 - Math.clz32(v); // ≥ 6
  return SUB_BINS + (exponent - 5) * SUB_BINS + ((v >>> (exponent - 5)) & (SUB_BINS - 1));
}

/** The largest lag (ms) that falls in `bin`. */
function lagBinTop(bin: number): number {
  if (bin < EXACT_BELOW) return bin;
  const exponent = Math.floor((bin - SUB_BINS) / SUB_BINS) + 5;
  const sub = (bin - SUB_BINS) % SUB_BINS;
  return (SUB_BINS + sub + 1) * 2 ** (exponent - 5) - 1;
}

interface LagSlot {
  /** Which slot of time (start / slotMs) this holds; -1 when unused. */
  index: number;
  maxMs: number;
  count: number;
  bins: Uint32Array;
}

/**
 * Start delays over a sliding window, as a ring of time slots each holding a
 * histogram: O(1) to record, O(slots × bins) to read, memory fixed whatever the
 * number of checks.
 */
class LagWindow {
  private readonly slotMs: number;
  private readonly slots: LagSlot[];

  constructor(private readonly windowMs: number) {
    // At most ~60 slots, never narrower than a second.
    this.slotMs = Math.max(1000, Math.ceil(windowMs / 60));
    const count = Math.ceil(windowMs / this.slotMs) + 1;
    this.slots = Array.from({ length: count }, () => ({ index: -1, maxMs: 0, count: 0, bins: new Uint32Array(LAG_BINS) }));
  }

  record(now: number, lagMs: number): void {
    const index = Math.floor(now / this.slotMs);
    const slot = this.slots[index % this.slots.length] as LagSlot;
    if (slot.index !== index) {
      slot.index = index;
      slot.maxMs = 0;
      slot.count = 0;
      slot.bins.fill(0);
    }
    slot.maxMs = Math.max(slot.maxMs, lagMs);
    slot.count++;
    const bin = lagBin(lagMs);
    slot.bins[bin] = (slot.bins[bin] ?? 0) + 1;
  }

  /** Worst lag and the given quantiles (nearest rank, to the top of their bin, never above the worst). */
  summary(now: number, quantiles: readonly number[]): { maxMs: number; quantileMs: number[] } {
    const newest = Math.floor(now / this.slotMs);
    const oldest = Math.floor((now - this.windowMs) / this.slotMs);
    let maxMs = 0;
    let total = 0;
    const live: LagSlot[] = [];
    for (const slot of this.slots) {
      if (slot.index <= oldest || slot.index > newest || slot.count === 0) continue;
      live.push(slot);
      maxMs = Math.max(maxMs, slot.maxMs);
      total += slot.count;
    }
    if (total === 0) return { maxMs: 0, quantileMs: quantiles.map(() => 0) };
    const merged = new Uint32Array(LAG_BINS);
    for (const slot of live) for (let b = 0; b < LAG_BINS; b++) merged[b] = (merged[b] ?? 0) + (slot.bins[b] ?? 0);
    const quantileMs = quantiles.map((q) => {
      const rank = Math.max(1, Math.ceil(q * total));
      let seen = 0;
      for (let b = 0; b < LAG_BINS; b++) {
        seen += merged[b] ?? 0;
        if (seen >= rank) return Math.min(lagBinTop(b), maxMs);
      }
      return maxMs;
    });
    return { maxMs, quantileMs };
  }
}

// ---- scheduler state ---------------------------------------------------------

type Prepared =
  | { valid: true; kind: CheckKind<unknown>; options: unknown }
  | { valid: false; reason: string };

/** Runs against one host: in flight or promised a start (`active`), and those kept waiting for it. */
interface HostState {
  key: string;
  checks: number;
  active: number;
  parked: Fifo<QueuedRun>;
}

/** A check; on the timeline at its next due time. */
interface ScheduledCheck extends HeapItem {
  type: 'check';
  /** Next due time (epoch ms). */
  at: number;
  seq: number;
  assignment: CheckAssignment;
  key: string;
  prepared: Prepared;
  phase: number;
  intervalMs: number;
  /** The next due time is a catch-up run, off its phase: the one after is its slot, not `at` + interval. */
  early: boolean;
  host: HostState;
  waiting: QueuedRun | undefined;
  inFlight: Run | undefined;
  removed: boolean;
}

/** A run in flight; on the timeline at its deadline, and off it as soon as it ends. */
interface Run extends HeapItem {
  type: 'run';
  /** Deadline (epoch ms). */
  at: number;
  seq: number;
  check: ScheduledCheck;
  host: HostState;
  controller: AbortController;
  startedAt: number;
  /** The slot it ran for (epoch ms). */
  due: number;
  timeoutMs: number;
  done: boolean;
}

/** Something that must happen at `at`: a check falls due, or a run's deadline passes. */
type TimelineEntry = ScheduledCheck | Run;

/**
 * A run due and waiting for a slot. `reserved`: it holds a slot on its host and
 * sits in the ready heap; otherwise it is parked on its host (removed lazily).
 */
interface QueuedRun extends HeapItem {
  check: ScheduledCheck;
  host: HostState;
  due: number;
  seq: number;
  reserved: boolean;
  cancelled: boolean;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The options as a canonical string; most checks have none, and that case must be cheap (50,000 checks per assignment). */
function optionsKey(options: Record<string, unknown> | undefined): string {
  if (options) for (const _ in options) return stableJson(options);
  return '{}';
}

/** Equal for assignments that would run identically: an unchanged check keeps its schedule and prepared options. */
function assignmentKey(a: CheckAssignment, options: string): string {
  return `${JSON.stringify(a.kind)},${JSON.stringify(a.target)},${a.intervalMs},${a.timeoutMs},${options}`;
}

/** Options validated once per distinct (kind, options) in an assignment, not once per check. */
type ParsedOptions = { ok: true; options: unknown } | { ok: false; reason: string };

function validInterval(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INTERVAL_MS;
}

// Ties go to the entry scheduled first, as timers would fire.
const earlier = (a: TimelineEntry, b: TimelineEntry): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);
const olderDue = (a: QueuedRun, b: QueuedRun): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);

export class Scheduler {
  private readonly clock: Clock;
  private readonly kinds: CheckKindLookup;
  private readonly concurrency: number;
  private readonly perHostConcurrency: number;
  private readonly hostKeyOf: (assignment: CheckAssignment) => string;
  private readonly unbounded: (assignment: CheckAssignment) => boolean;
  private readonly onResult: (result: RunResult, timing: RunTiming) => void;
  private readonly checks = new Map<string, ScheduledCheck>();
  private readonly hosts = new Map<string, HostState>();
  /** Hosts with runs parked because the host is at its bound. */
  private readonly parkedHosts = new Set<HostState>();
  /** Every check at its next due time and every run at its deadline; one timer for the earliest. */
  private readonly timeline = new MinHeap<TimelineEntry>(earlier);
  /** Runs whose host has room, oldest due first; they start as total slots free up. */
  private readonly ready = new MinHeap<QueuedRun>(olderDue);
  private readonly lag: LagWindow;
  private readonly tickMs: number;
  private readonly catchUpFraction: number;
  private readonly catchUpRate: number;
  private seq = 0;
  private waitingRuns = 0;
  private running = 0;
  private skippedRuns = 0;
  private stopped = false;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  /** Set while the timer callback works through the timeline: it arms the next timer itself. */
  private inTimer = false;
  private lastNow = -Infinity;

  constructor(options: SchedulerOptions) {
    this.clock = options.clock ?? realClock;
    this.kinds = options.kinds ?? checkKinds;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
    this.perHostConcurrency = Math.max(1, Math.floor(options.perHostConcurrency ?? DEFAULT_PER_HOST_CONCURRENCY));
    this.hostKeyOf = options.hostOf ?? ((a) => hostOf(a.target));
    this.unbounded = options.unbounded ?? (() => false);
    this.onResult = options.onResult;
    this.lag = new LagWindow(options.lagWindowMs ?? 60_000);
    this.tickMs = Math.max(0, options.tickMs ?? 0);
    const fraction = options.catchUpFraction ?? 0;
    this.catchUpFraction = Number.isFinite(fraction) ? Math.min(MAX_CATCH_UP_FRACTION, Math.max(0, fraction)) : 0;
    const rate = options.catchUpRatePerSecond ?? Infinity;
    this.catchUpRate = rate > 0 ? rate : Infinity;
  }

  /**
   * Replaces the whole set. Unchanged ids keep their schedule; removed ids stop at once (no
   * result for a run in flight); new ids are caught up (catchUpFraction).
   */
  setChecks(assignments: readonly CheckAssignment[]): AssignmentSummary {
    const summary: AssignmentSummary = { added: 0, caughtUp: 0, firstRunsWithinMs: 0 };
    if (this.stopped) return summary;
    const now = this.clock.now();
    this.lastNow = Math.max(this.lastNow, now);
    const wanted = new Map<string, CheckAssignment>();
    for (const a of assignments) wanted.set(a.id, a);
    const parsedOptions = new Map<string, ParsedOptions>();

    for (const [id, check] of this.checks) {
      if (!wanted.has(id)) this.remove(check);
    }
    let incoming = 0;
    if (this.catchUpFraction > 0) for (const id of wanted.keys()) if (!this.checks.has(id)) incoming++;
    const windows = new Map<number, number>();
    const windowFor = (intervalMs: number): number => {
      let w = windows.get(intervalMs);
      if (w === undefined) windows.set(intervalMs, (w = catchUpWindowMs(intervalMs, this.catchUpFraction, incoming, this.catchUpRate)));
      return w;
    };
    for (const [id, assignment] of wanted) {
      const options = optionsKey(assignment.options);
      const key = assignmentKey(assignment, options);
      const existing = this.checks.get(id);
      if (existing && existing.key === key) continue;
      const intervalMs = validInterval(assignment.intervalMs) ? assignment.intervalMs : INVALID_REPORT_INTERVAL_MS;
      const prepared = this.prepare(assignment, options, parsedOptions);
      const host = this.hostFor(assignment);
      if (existing) {
        existing.assignment = assignment;
        existing.key = key;
        existing.prepared = prepared;
        if (existing.host !== host) {
          // A run waiting or in flight stays counted against the host it was queued for.
          existing.host.checks--;
          this.forgetHostIfIdle(existing.host);
          existing.host = host;
          host.checks++;
        }
        if (existing.intervalMs !== intervalMs) {
          existing.intervalMs = intervalMs;
          this.timeline.remove(existing);
          existing.at = nextDueAt(now, intervalMs, existing.phase);
          existing.early = false;
          this.enter(existing);
        }
        continue;
      }
      const phase = phaseOf(id);
      const first = firstDueAt(now, intervalMs, phase, windowFor(intervalMs));
      summary.added++;
      if (first.early) summary.caughtUp++;
      summary.firstRunsWithinMs = Math.max(summary.firstRunsWithinMs, first.at - now);
      const check: ScheduledCheck = {
        type: 'check',
        heapIndex: -1,
        at: first.at,
        seq: 0,
        assignment,
        key,
        prepared,
        phase,
        intervalMs,
        early: first.early,
        host,
        waiting: undefined,
        inFlight: undefined,
        removed: false,
      };
      host.checks++;
      this.checks.set(id, check);
      this.enter(check);
    }
    this.pump();
    this.arm();
    return summary;
  }

  stats(): SchedulerStats {
    const now = this.clock.now();
    const { maxMs, quantileMs } = this.lag.summary(now, [0.5, 0.99]);
    const oldestWaiting = this.oldestWaitingDue();
    const lagMs = oldestWaiting === undefined ? maxMs : Math.max(maxMs, now - oldestWaiting);
    return {
      lagMs: Math.round(lagMs),
      lagP50Ms: Math.round(quantileMs[0] ?? 0),
      lagP99Ms: Math.round(quantileMs[1] ?? 0),
      running: this.running,
      checks: this.checks.size,
      queued: this.waitingRuns,
      skippedRuns: this.skippedRuns,
    };
  }

  /** Stops every check and timer; runs in flight are aborted and report nothing. Final. */
  stop(): void {
    this.stopped = true;
    for (const check of this.checks.values()) this.remove(check);
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.timeline.clear();
    this.ready.clear();
    this.parkedHosts.clear();
    this.hosts.clear();
    this.waitingRuns = 0;
  }

  private prepare(a: CheckAssignment, optionsKey: string, parsedOptions: Map<string, ParsedOptions>): Prepared {
    const kind = getCheckKind(a.kind, this.kinds);
    if (!kind) {
      return { valid: false, reason: `unknown check kind "${a.kind}" (known: ${Object.keys(this.kinds).join(', ')})` };
    }
    if (!validInterval(a.intervalMs)) {
      return { valid: false, reason: `intervalMs ${a.intervalMs} is below the minimum of ${MIN_INTERVAL_MS}` };
    }
    if (!(Number.isFinite(a.timeoutMs) && a.timeoutMs > 0)) {
      return { valid: false, reason: `timeoutMs ${a.timeoutMs} must be a positive number` };
    }
    const targetError = kind.validateTarget(a.target);
    if (targetError) return { valid: false, reason: `target: ${targetError}` };
    const cacheKey = `${a.kind}\u0000${optionsKey}`;
    let parsed = parsedOptions.get(cacheKey);
    if (!parsed) {
      const result = kind.options.safeParse(a.options ?? {});
      parsed = result.success
        ? { ok: true, options: result.data }
        : { ok: false, reason: result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'options'}: ${i.message}`).join('; ') };
      parsedOptions.set(cacheKey, parsed);
    }
    if (!parsed.ok) return { valid: false, reason: `options: ${parsed.reason}` };
    // Shared by every check with the same options: kinds treat their options as read-only.
    return { valid: true, kind, options: parsed.options };
  }

  private hostFor(assignment: CheckAssignment): HostState {
    let key: string;
    try {
      key = this.hostKeyOf(assignment);
    } catch {
      key = assignment.target;
    }
    let host = this.hosts.get(key);
    if (!host) {
      host = { key, checks: 0, active: 0, parked: new Fifo<QueuedRun>() };
      this.hosts.set(key, host);
    }
    return host;
  }

  private forgetHostIfIdle(host: HostState): void {
    if (host.checks === 0 && host.active === 0 && host.parked.size === 0 && this.hosts.get(host.key) === host) {
      this.hosts.delete(host.key);
    }
  }

  // ---- the timeline: one heap, one timer ----

  private enter(entry: TimelineEntry): void {
    entry.seq = ++this.seq;
    this.timeline.push(entry);
  }

  /** Makes sure the one timer fires when the earliest entry is due. */
  private arm(): void {
    if (this.stopped || this.inTimer) return;
    const top = this.timeline.peek();
    if (!top) {
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    const fireAt = this.tickMs > 0 ? Math.ceil(top.at / this.tickMs) * this.tickMs : top.at;
    // An earlier timer is harmless (it finds nothing due and re-arms); only a later one must move.
    if (this.timer !== undefined && this.timerAt <= fireAt) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, fireAt - this.clock.now()), MAX_TIMER_MS);
    this.timerAt = fireAt;
    this.timer = this.clock.setTimeout(() => this.onTimer(), delay);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = this.clock.now();
    if (now < this.lastNow) this.realign(now);
    this.lastNow = now;
    this.inTimer = true;
    try {
      for (let top = this.timeline.peek(); top && top.at <= now; top = this.timeline.peek()) {
        this.timeline.pop();
        if (top.type === 'run') this.expire(top);
        else this.onDue(top, now);
      }
      this.pump();
    } finally {
      this.inTimer = false;
      this.arm();
    }
  }

  /**
   * The wall clock went back: a check whose next slot is now more than an
   * interval away finds its slot again rather than waiting the difference out,
   * and no deadline stays further off than its timeout. O(checks), only when the
   * clock steps back.
   */
  private realign(now: number): void {
    let changed = false;
    for (const check of this.checks.values()) {
      if (check.at - now > check.intervalMs) {
        check.at = nextDueAt(now, check.intervalMs, check.phase);
        check.early = false;
        changed = true;
      }
      const run = check.inFlight;
      if (run && run.at - now > run.timeoutMs) {
        run.at = now + run.timeoutMs;
        changed = true;
      }
    }
    if (changed) this.timeline.heapify();
  }

  private onDue(check: ScheduledCheck, now: number): void {
    const due = check.at;
    if (check.early) {
      // A catch-up run: the next is its own slot (at least a catch-up window away).
      check.early = false;
      check.at = nextDueAt(due + 1, check.intervalMs, check.phase);
    } else check.at = due + check.intervalMs;
    // Slots missed entirely (process paused, clock jumped) are skipped, not replayed.
    if (check.at <= now) check.at = nextDueAt(now + 1, check.intervalMs, check.phase);
    this.enter(check);

    if (check.waiting || check.inFlight) {
      this.skippedRuns++;
      return;
    }
    const host = check.host;
    const queued: QueuedRun = { heapIndex: -1, check, host, due, seq: ++this.seq, reserved: false, cancelled: false };
    check.waiting = queued;
    this.waitingRuns++;
    if (host.active < this.perHostConcurrency) {
      host.active++;
      queued.reserved = true;
      if (this.unbounded(check.assignment)) {
        check.waiting = undefined;
        this.waitingRuns--;
        this.start(queued);
        return;
      }
      this.ready.push(queued);
    } else {
      host.parked.push(queued);
      this.parkedHosts.add(host);
    }
  }

  // ---- slots ----

  /** A run on `host` ended or gave up its place: the oldest run parked on that host gets it. */
  private releaseHostSlot(host: HostState): void {
    host.active--;
    for (let next = host.parked.shift(); next; next = host.parked.shift()) {
      if (next.cancelled) continue;
      host.active++;
      next.reserved = true;
      this.ready.push(next);
      break;
    }
    if (host.parked.size === 0) this.parkedHosts.delete(host);
    this.forgetHostIfIdle(host);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency) {
      const next = this.ready.pop();
      if (!next) break;
      next.check.waiting = undefined;
      this.waitingRuns--;
      this.start(next);
    }
  }

  private oldestWaitingDue(): number | undefined {
    let oldest = this.ready.peek()?.due;
    for (const host of this.parkedHosts) {
      while (host.parked.peek()?.cancelled) host.parked.shift();
      const head = host.parked.peek();
      if (head && (oldest === undefined || head.due < oldest)) oldest = head.due;
    }
    return oldest;
  }

  private start(queued: QueuedRun): void {
    const { check, host, due } = queued;
    const at = this.clock.now();
    this.lag.record(at, Math.max(0, at - due));
    const { prepared, assignment } = check;
    if (!prepared.valid) {
      this.releaseHostSlot(host);
      this.emit(check, at, due, { ok: false, latencyMs: 0, error: 'error', detail: `invalid check: ${prepared.reason}` });
      return;
    }

    const controller = new AbortController();
    const timeoutMs = assignment.timeoutMs;
    const run: Run = { type: 'run', heapIndex: -1, at: at + timeoutMs, seq: 0, check, host, controller, startedAt: at, due, timeoutMs, done: false };
    check.inFlight = run;
    this.running++;
    this.enter(run);
    this.arm();

    let pending: Promise<ProbeOutcome>;
    try {
      pending = prepared.kind.run(assignment.target, prepared.options, { signal: controller.signal, timeoutMs });
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (outcome) => this.finish(run, outcome),
      (err: unknown) =>
        this.finish(run, {
          ok: false,
          latencyMs: Math.max(0, this.clock.now() - at),
          error: 'error',
          detail: `probe failed: ${err instanceof Error ? err.message : String(err)}`,
        }),
    );
  }

  /** The deadline wins even if the probe ignores its signal. */
  private expire(run: Run): void {
    this.finish(run, {
      ok: false,
      latencyMs: Math.max(0, this.clock.now() - run.startedAt),
      error: 'timeout',
      detail: `no result within ${run.timeoutMs} ms`,
    });
    run.controller.abort();
  }

  private finish(run: Run, outcome: ProbeOutcome): void {
    if (run.done) return;
    run.done = true;
    this.timeline.remove(run);
    this.running--;
    const { check } = run;
    if (check.inFlight === run) check.inFlight = undefined;
    try {
      if (!check.removed) this.emit(check, run.startedAt, run.due, outcome);
    } finally {
      this.releaseHostSlot(run.host);
      this.pump();
    }
  }

  private emit(check: ScheduledCheck, at: number, due: number, outcome: ProbeOutcome): void {
    this.onResult({ ...outcome, checkId: check.assignment.id, at }, { dueAt: due, startLagMs: Math.max(0, at - due) });
  }

  private remove(check: ScheduledCheck): void {
    check.removed = true;
    this.timeline.remove(check);
    const run = check.inFlight;
    check.inFlight = undefined;
    if (run && !run.done) {
      run.done = true;
      this.timeline.remove(run);
      this.running--;
      run.controller.abort();
      this.releaseHostSlot(run.host);
    }
    const queued = check.waiting;
    check.waiting = undefined;
    if (queued && !queued.cancelled) {
      queued.cancelled = true;
      this.waitingRuns--;
      if (queued.reserved) {
        this.ready.remove(queued);
        this.releaseHostSlot(queued.host);
      }
    }
    this.checks.delete(check.assignment.id);
    check.host.checks--;
    this.forgetHostIfIdle(check.host);
  }
}
