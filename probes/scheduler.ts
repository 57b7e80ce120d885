// Runs a worker's assigned checks forever: each check once per interval at a
// stable phase (derived from its id, aligned to the epoch), so checks spread
// over the interval instead of bursting, and so a restarted worker, or a worker
// at another location, runs a check at the same moments.
// Bounded concurrency; every run gets an AbortSignal and a hard deadline.
// It must never sleep on real time in tests (the clock is injected), never let
// one check's failure or hang stop the others, and never know about sockets,
// the server or the meaning of a result.
import { createHash } from 'node:crypto';
import { checkKinds, getCheckKind, type CheckKindLookup } from './registry';
import type { CheckAssignment, CheckKind, CheckResult, ProbeOutcome } from './types';

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
  /** Stamped on every result. */
  location: string;
  /** Called once per run. Must not throw. */
  onResult(result: CheckResult): void;
  /** Most runs in flight at once (default 64). */
  concurrency?: number;
  clock?: Clock;
  /** Check kinds by name (default: the registry). */
  kinds?: CheckKindLookup;
  /** How far back `stats().lagMs` looks (default 60 s). */
  lagWindowMs?: number;
}

export interface SchedulerStats {
  /** Worst start delay (ms) over the recent window, including runs still waiting for a slot. */
  lagMs: number;
  running: number;
  checks: number;
  /** Runs due but waiting for a free slot. */
  queued: number;
  /** Slots skipped because the previous run of the same check had not started or finished. */
  skippedRuns: number;
}

export const DEFAULT_CONCURRENCY = 64;
/** Shortest interval accepted; anything shorter is reported as an invalid check. */
export const MIN_INTERVAL_MS = 100;
/** How often an invalid check (whose own interval is unusable) reports its error. */
const INVALID_REPORT_INTERVAL_MS = 60_000;

/** Fraction in [0, 1) derived from the check id: the same on every worker and every restart. */
export function phaseOf(checkId: string): number {
  return createHash('sha256').update(checkId).digest().readUInt32BE(0) / 2 ** 32;
}

/** The first due time at or after `now` for a check with this phase and interval. */
export function nextDueAt(now: number, intervalMs: number, phase: number): number {
  const offset = Math.floor(phase * intervalMs);
  return Math.ceil((now - offset) / intervalMs) * intervalMs + offset;
}

type Prepared =
  | { valid: true; kind: CheckKind<unknown>; options: unknown }
  | { valid: false; reason: string };

interface Run {
  controller: AbortController;
  deadline: TimerHandle;
  done: boolean;
}

interface ScheduledCheck {
  assignment: CheckAssignment;
  key: string;
  prepared: Prepared;
  phase: number;
  intervalMs: number;
  nextDue: number;
  timer: TimerHandle | undefined;
  queued: boolean;
  inFlight: Run | undefined;
  removed: boolean;
}

interface QueuedRun {
  check: ScheduledCheck;
  due: number;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function assignmentKey(a: CheckAssignment): string {
  return stableJson({ kind: a.kind, target: a.target, intervalMs: a.intervalMs, timeoutMs: a.timeoutMs, options: a.options });
}

function validInterval(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INTERVAL_MS;
}

/** Max start delay per wall-clock second, kept for a window. */
class LagWindow {
  private readonly buckets: { second: number; maxMs: number }[] = [];
  constructor(private readonly windowMs: number) {}

  record(now: number, lagMs: number): void {
    const second = Math.floor(now / 1000);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.second === second) last.maxMs = Math.max(last.maxMs, lagMs);
    else this.buckets.push({ second, maxMs: lagMs });
    this.prune(now);
  }

  max(now: number): number {
    this.prune(now);
    return this.buckets.reduce((worst, b) => Math.max(worst, b.maxMs), 0);
  }

  private prune(now: number): void {
    const oldest = Math.floor((now - this.windowMs) / 1000);
    while (this.buckets.length > 0 && (this.buckets[0]?.second ?? 0) <= oldest) this.buckets.shift();
  }
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly kinds: CheckKindLookup;
  private readonly concurrency: number;
  private readonly location: string;
  private readonly onResult: (result: CheckResult) => void;
  private readonly checks = new Map<string, ScheduledCheck>();
  private queue: QueuedRun[] = [];
  private running = 0;
  private skippedRuns = 0;
  private stopped = false;
  private readonly lag: LagWindow;

  constructor(options: SchedulerOptions) {
    this.clock = options.clock ?? realClock;
    this.kinds = options.kinds ?? checkKinds;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
    this.location = options.location;
    this.onResult = options.onResult;
    this.lag = new LagWindow(options.lagWindowMs ?? 60_000);
  }

  /** Replaces the whole set. Unchanged ids keep their schedule; removed ids stop at once (no result for a run in flight). */
  setChecks(assignments: readonly CheckAssignment[]): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const wanted = new Map<string, CheckAssignment>();
    for (const a of assignments) wanted.set(a.id, a);

    for (const [id, check] of this.checks) {
      if (!wanted.has(id)) this.remove(check);
    }
    for (const [id, assignment] of wanted) {
      const key = assignmentKey(assignment);
      const existing = this.checks.get(id);
      if (existing && existing.key === key) continue;
      const intervalMs = validInterval(assignment.intervalMs) ? assignment.intervalMs : INVALID_REPORT_INTERVAL_MS;
      const prepared = this.prepare(assignment);
      if (existing) {
        existing.assignment = assignment;
        existing.key = key;
        existing.prepared = prepared;
        if (existing.intervalMs !== intervalMs) {
          existing.intervalMs = intervalMs;
          existing.nextDue = nextDueAt(now, intervalMs, existing.phase);
          this.arm(existing);
        }
        continue;
      }
      const phase = phaseOf(id);
      const check: ScheduledCheck = {
        assignment,
        key,
        prepared,
        phase,
        intervalMs,
        nextDue: nextDueAt(now, intervalMs, phase),
        timer: undefined,
        queued: false,
        inFlight: undefined,
        removed: false,
      };
      this.checks.set(id, check);
      this.arm(check);
    }
    this.pump();
  }

  stats(): SchedulerStats {
    const now = this.clock.now();
    let lagMs = this.lag.max(now);
    for (const waiting of this.queue) lagMs = Math.max(lagMs, now - waiting.due);
    return {
      lagMs: Math.round(lagMs),
      running: this.running,
      checks: this.checks.size,
      queued: this.queue.length,
      skippedRuns: this.skippedRuns,
    };
  }

  /** Stops every check and timer; runs in flight are aborted and report nothing. Final. */
  stop(): void {
    this.stopped = true;
    for (const check of this.checks.values()) this.remove(check);
    this.queue = [];
  }

  private prepare(a: CheckAssignment): Prepared {
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
    const parsed = kind.options.safeParse(a.options ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'options'}: ${i.message}`);
      return { valid: false, reason: `options: ${issues.join('; ')}` };
    }
    return { valid: true, kind, options: parsed.data };
  }

  private arm(check: ScheduledCheck): void {
    if (check.timer !== undefined) this.clock.clearTimeout(check.timer);
    const delay = Math.min(Math.max(0, check.nextDue - this.clock.now()), check.intervalMs);
    check.timer = this.clock.setTimeout(() => this.onDue(check), delay);
  }

  private onDue(check: ScheduledCheck): void {
    check.timer = undefined;
    if (check.removed) return;
    const now = this.clock.now();
    if (check.nextDue - now > check.intervalMs) {
      // The wall clock went back: find the slot again rather than waiting it out.
      check.nextDue = nextDueAt(now, check.intervalMs, check.phase);
      this.arm(check);
      return;
    }
    const due = check.nextDue;
    check.nextDue = due + check.intervalMs;
    // Slots missed entirely (process paused, clock jumped) are skipped, not replayed.
    if (check.nextDue <= now) check.nextDue = nextDueAt(now + 1, check.intervalMs, check.phase);
    this.arm(check);

    if (check.queued || check.inFlight) {
      this.skippedRuns++;
      return;
    }
    check.queued = true;
    this.queue.push({ check, due });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift();
      if (!next) break;
      next.check.queued = false;
      if (next.check.removed) continue;
      this.start(next.check, next.due);
    }
  }

  private start(check: ScheduledCheck, due: number): void {
    const at = this.clock.now();
    this.lag.record(at, Math.max(0, at - due));
    const { prepared, assignment } = check;
    if (!prepared.valid) {
      this.emit(check, at, { ok: false, latencyMs: 0, error: 'error', detail: `invalid check: ${prepared.reason}` });
      return;
    }

    const controller = new AbortController();
    const timeoutMs = assignment.timeoutMs;
    const run: Run = { controller, deadline: undefined, done: false };
    check.inFlight = run;
    this.running++;

    const finish = (outcome: ProbeOutcome): void => {
      if (run.done) return;
      run.done = true;
      this.clock.clearTimeout(run.deadline);
      this.running--;
      if (check.inFlight === run) check.inFlight = undefined;
      try {
        if (!check.removed) this.emit(check, at, outcome);
      } finally {
        this.pump();
      }
    };

    // The deadline wins even if the probe ignores its signal.
    run.deadline = this.clock.setTimeout(() => {
      finish({
        ok: false,
        latencyMs: Math.max(0, this.clock.now() - at),
        error: 'timeout',
        detail: `no result within ${timeoutMs} ms`,
      });
      controller.abort();
    }, timeoutMs);

    let pending: Promise<ProbeOutcome>;
    try {
      pending = prepared.kind.run(assignment.target, prepared.options, { signal: controller.signal, timeoutMs });
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(finish, (err: unknown) => {
      finish({
        ok: false,
        latencyMs: Math.max(0, this.clock.now() - at),
        error: 'error',
        detail: `probe failed: ${err instanceof Error ? err.message : String(err)}`,
      });
    });
  }

  private emit(check: ScheduledCheck, at: number, outcome: ProbeOutcome): void {
    this.onResult({ ...outcome, checkId: check.assignment.id, at, location: this.location });
  }

  private remove(check: ScheduledCheck): void {
    check.removed = true;
    if (check.timer !== undefined) {
      this.clock.clearTimeout(check.timer);
      check.timer = undefined;
    }
    const run = check.inFlight;
    if (run && !run.done) {
      run.done = true;
      this.clock.clearTimeout(run.deadline);
      this.running--;
      run.controller.abort();
    }
    check.inFlight = undefined;
    if (check.queued) {
      this.queue = this.queue.filter((q) => q.check !== check);
      check.queued = false;
    }
    this.checks.delete(check.assignment.id);
  }
}
