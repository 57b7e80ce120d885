// Backup mode, running: takes a person's (or a policy's) decision through the state machine,
// writes it whole — transitions, new states, the run's outbox actions and the audit entry, in
// one transaction — and only then lets the outbox drainer send anything. `pump()` drains the
// outbox, settles runs whose actions have all finished, and applies automatic-entry policies;
// main.ts calls it on a timer, tests call it directly with an injected clock.
//
// A restart loses nothing and repeats nothing: `load()` reads each practice's state, the
// outbox still holds every unsent action with its idempotency key, and a run whose actions
// all finished before the crash is settled on the first pump.
import type { AuditInput } from '../auth/types';
import type { Estate } from '../config/estate';
import type { Logger } from '../log';
import type { OutboxEnqueue, OutboxItem } from '../store/sqlite/outbox';
import type { StatusLevel } from '../status/types';
import type { BackupPlan, Direction } from './config';
import { next, SYSTEM_ACTOR, type BackupErrorCode } from './machine';
import { OutboxDrainer, type SendResult } from './outbox';
import { autoEnterDue, leaveSuggestion } from './policy';
import type { Backlog, BackupStore, CostEntry, SwitchBatch } from './store';
import type { BackupReasonCode, BackupState, BackupTransition, PracticeBackup } from './types';
import { initialPracticeBackup } from './types';

export interface PracticeNow {
  status: StatusLevel;
  cause: string | null;
  /** Epoch ms the status began. */
  since: number;
}

export interface BackupServiceDeps {
  estate: Estate;
  store: BackupStore;
  now: () => number;
  newId: () => string;
  /** The practice's status now (evidence for decisions, input to the policies). */
  statusOf: (ods: string) => PracticeNow | null;
  /** Sends one outbox action (webhook or notification); never throws. */
  send: (item: OutboxItem) => Promise<SendResult>;
  /** Practices whose mode changed (for the live feed and the metrics). */
  onModeChange: (ods: string[]) => void;
  log: Logger;
  backoff?: (attempt: number) => number;
}

export interface SwitchRequest {
  by: string;
  reasonCode: BackupReasonCode;
  reason: string;
  automatic?: boolean;
  incidentId?: number | null;
}

export interface SwitchResult {
  bulkId: string | null;
  action: Direction;
  switched: string[];
  skipped: { ods: string; code: BackupErrorCode | 'UNKNOWN_PRACTICE'; message: string }[];
}

/** Webhook action payload, decided when the switch is written; nothing is looked up at send time. */
export interface WebhookPayload {
  direction: Direction;
  url: string;
  secret: { env: string } | { file: string };
  timeoutMs: number;
  body: Record<string, unknown>;
}

export interface NotifyPayload {
  direction: Direction;
  channel: 'email' | 'sms';
  to: string;
  templateId: string;
  personalisation: Record<string, string>;
}

/** Actions picked up per drain, and drains per pump round (a round sends at most their product). */
const DRAIN_BATCH = 200;
const DRAIN_BATCHES_PER_ROUND = 25;

export class BackupService {
  private readonly practices = new Map<string, PracticeBackup>();
  private readonly drainer: OutboxDrainer;
  /** Decisions are taken one at a time, so two people switching at once cannot interleave. */
  private lock: Promise<unknown> = Promise.resolve();
  private pumping: Promise<void> | null = null;
  private closed = false;

  /** The practices whose plan enters automatically: the only ones each pump looks at for it. */
  private readonly autoEntering: { practice: { ods: string }; plan: BackupPlan }[];

  constructor(private readonly deps: BackupServiceDeps) {
    this.autoEntering = [...deps.estate.practices.values()].flatMap((practice) => {
      const plan = this.planOf(practice.ods);
      return plan && plan.autoEnterAfterMs !== null ? [{ practice, plan }] : [];
    });
    this.drainer = new OutboxDrainer({
      outbox: deps.store.outbox,
      send: deps.send,
      now: deps.now,
      maxAttempts: deps.estate.backup.maxAttempts,
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
      concurrency: 16,
      batchSize: DRAIN_BATCH,
    });
  }

  /** Reads every practice's backup state from the store (at start and after a reload). */
  async load(): Promise<void> {
    this.practices.clear();
    for (const p of await this.deps.store.states()) if (this.deps.estate.practices.has(p.ods)) this.practices.set(p.ods, p);
  }

  get(ods: string): PracticeBackup {
    return this.practices.get(ods) ?? initialPracticeBackup(ods, 0);
  }

  mode(ods: string): BackupState {
    return this.practices.get(ods)?.state ?? 'normal';
  }

  /** Practices not in `normal`. */
  active(): PracticeBackup[] {
    return [...this.practices.values()].filter((p) => p.state !== 'normal');
  }

  planOf(ods: string): BackupPlan | null {
    const id = this.deps.estate.practices.get(ods)?.backupPlan;
    return id ? (this.deps.estate.backup.plans.get(id) ?? null) : null;
  }

  enter(ods: string[], request: SwitchRequest, opts: { bulk?: boolean } = {}): Promise<SwitchResult> {
    if (this.closed) return Promise.reject(closedError());
    return this.serial(() => this.switchNow('enter', ods, request, opts.bulk ?? false));
  }

  leave(ods: string[], request: SwitchRequest, opts: { bulk?: boolean } = {}): Promise<SwitchResult> {
    if (this.closed) return Promise.reject(closedError());
    return this.serial(() => this.switchNow('leave', ods, request, opts.bulk ?? false));
  }

  /** What a switch would do now, without doing it: for the confirmation that says how many. */
  preview(direction: Direction, ods: string[]): { switch: string[]; skipped: { ods: string; reason: string }[] } {
    const out = { switch: [] as string[], skipped: [] as { ods: string; reason: string }[] };
    for (const code of ods) {
      const state = this.mode(code);
      const ok = direction === 'enter' ? state === 'normal' : state === 'backup';
      if (ok) out.switch.push(code);
      else out.skipped.push({ ods: code, reason: `${state === 'normal' ? 'not in' : state === 'backup' ? 'already in' : state} backup mode` });
    }
    return out;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async switchNow(direction: Direction, odsList: string[], request: SwitchRequest, bulk: boolean): Promise<SwitchResult> {
    const at = this.deps.now();
    const bulkId = bulk ? this.deps.newId() : null;
    const steps: SwitchBatch['steps'] = [];
    const outbox: OutboxEnqueue[] = [];
    const skipped: SwitchResult['skipped'] = [];
    const automatic = request.automatic ?? false;
    for (const ods of [...new Set(odsList)]) {
      const practice = this.deps.estate.practices.get(ods);
      if (!practice) {
        skipped.push({ ods, code: 'UNKNOWN_PRACTICE', message: `no practice ${ods} in the estate` });
        continue;
      }
      const now = this.deps.statusOf(ods);
      const evidence = { status: now?.status ?? 'unknown', cause: now?.cause ?? null };
      const current = this.practices.get(ods) ?? initialPracticeBackup(ods, 0);
      const step =
        direction === 'enter'
          ? next(current, { type: 'enter', by: request.by, automatic, reasonCode: request.reasonCode, reason: request.reason, evidence, at, bulkId }, { newId: this.deps.newId })
          : next(current, { type: 'leave', by: request.by, reasonCode: request.reasonCode, reason: request.reason, evidence, at, bulkId }, { newId: this.deps.newId });
      if (!step.ok) {
        skipped.push({ ods, code: step.error.code, message: step.error.message });
        continue;
      }
      steps.push(step);
      outbox.push(...this.actionsFor(direction, practice, step.transition, request.incidentId ?? null));
    }
    if (steps.length === 0) return { bulkId, action: direction, switched: [], skipped };
    const switched = steps.map((s) => s.state.ods);
    const audit: AuditInput = {
      at,
      actor: automatic ? SYSTEM_ACTOR : request.by,
      action: `backup.${direction}${bulk ? '.bulk' : ''}`,
      subject: switched.length === 1 ? `practice:${switched[0]}` : `practices:${switched.length}`,
      detail: {
        practices: switched,
        reasonCode: request.reasonCode,
        reason: request.reason.trim(),
        automatic,
        bulkId,
        incidentId: request.incidentId ?? null,
        runs: Object.fromEntries(steps.map((s) => [s.state.ods, s.transition.runId])),
        evidence: Object.fromEntries(steps.map((s) => [s.state.ods, s.transition.evidence])),
        actions: outbox.length,
      },
    };
    // Written before anything is sent: the outbox rows are the promise to send.
    await this.deps.store.recordSwitch({ steps, outbox, audit });
    for (const s of steps) this.practices.set(s.state.ods, s.state);
    this.deps.onModeChange(switched);
    this.deps.log('info', `backup mode: ${direction} recorded`, { practices: switched.length, by: audit.actor, bulkId, actions: outbox.length });
    // Runs with nothing to send settle at once; the rest on the next pump.
    await this.settleRuns(switched);
    void this.pump();
    return { bulkId, action: direction, switched, skipped };
  }

  /** The outbox rows of one run: one per webhook, one per notification recipient. */
  private actionsFor(
    direction: Direction,
    practice: { ods: string; name: string },
    t: BackupTransition,
    incidentId: number | null,
  ): OutboxEnqueue[] {
    const plan = this.planOf(practice.ods);
    if (!plan) return [];
    const statusPage = this.deps.estate.backup.publicUrl
      ? new URL(`/status/${practice.ods}`, this.deps.estate.backup.publicUrl).toString()
      : null;
    const items: OutboxEnqueue[] = [];
    plan.actions.forEach((action, i) => {
      if (!action.on.includes(direction)) return;
      const base = { ods: practice.ods, runId: t.runId, kind: action.kind, name: action.name };
      if (action.kind === 'webhook') {
        const idempotencyKey = `${t.runId}:${i}`;
        const payload: WebhookPayload = {
          direction,
          url: action.url,
          secret: action.secret,
          timeoutMs: action.timeoutMs,
          body: {
            event: direction === 'enter' ? 'practice.backup.enter' : 'practice.backup.leave',
            ods: practice.ods,
            practice: practice.name,
            action: action.name,
            runId: t.runId,
            bulkId: t.bulkId,
            incidentId,
            reasonCode: t.reasonCode,
            reason: t.reason,
            by: t.by,
            automatic: t.automatic,
            at: new Date(t.at).toISOString(),
            evidence: t.evidence,
            statusPage,
          },
        };
        items.push({ ...base, idempotencyKey, payload });
      } else {
        action.to.forEach((to, j) => {
          const payload: NotifyPayload = {
            direction,
            channel: action.channel,
            to,
            templateId: action.template,
            personalisation: {
              practice_name: practice.name,
              ods_code: practice.ods,
              change: direction === 'enter' ? 'is switching to its business continuity plan (backup mode)' : 'is returning to normal working',
              reason: t.reason,
              decided_by: t.by,
              status_page: statusPage ?? '',
            },
          };
          items.push({ ...base, idempotencyKey: `${t.runId}:${i}:${j}`, payload });
        });
      }
    });
    return items;
  }

  /**
   * One round: send what is due, settle finished runs, apply the automatic-entry policies.
   * Overlapping calls share the round in progress.
   */
  pump(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.pumping ??= (async () => {
      try {
        // Batch after batch while batches come back full (a bulk switch queues thousands),
        // up to a bound so a round ends and runs settle.
        for (let batch = 0; batch < DRAIN_BATCHES_PER_ROUND && !this.closed; batch++) {
          if ((await this.drainer.drainOnce()).sent < DRAIN_BATCH) break;
        }
        await this.serial(() => this.settleRuns(this.active().map((p) => p.ods)));
        await this.autoEnter();
      } catch (err) {
        this.deps.log('error', 'backup mode: pump failed', { error: String(err) });
      } finally {
        this.pumping = null;
      }
    })();
    return this.pumping;
  }

  /**
   * Stops pumping and refuses new switches (a reload or shutdown); resolves when the round in
   * progress and every decision already queued have been written, so a service that replaces
   * this one and then calls `load()` sees them all (a switch written after that load would be
   * invisible to it, and it could enter the same practice a second time).
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
    for (let queued = this.lock; ; queued = this.lock) {
      await queued;
      if (queued === this.lock) break;
    }
  }

  /**
   * Takes switches again after `close()`, when the service meant to replace this one could
   * not start (a reload that failed half-way): reads the states back first, so nothing
   * written meanwhile is missed.
   */
  async reopen(): Promise<void> {
    await this.load();
    this.closed = false;
  }

  /**
   * Moves each practice whose run has no action still in flight to `backup` or `normal`.
   * One query for all of them: after a bulk switch every pump round looks at thousands.
   */
  private async settleRuns(odsList: string[]): Promise<void> {
    const running = odsList.flatMap((ods) => {
      const p = this.practices.get(ods);
      return p && (p.state === 'entering' || p.state === 'leaving') && p.runId ? [{ p, runId: p.runId }] : [];
    });
    if (running.length === 0) return;
    const counts = await this.deps.store.outbox.countsOfRuns(running.map((r) => r.runId));
    const steps: SwitchBatch['steps'] = [];
    for (const { p, runId } of running) {
      const c = counts.get(runId);
      if (c && c.pending + c.retrying > 0) continue;
      const step = next(p, { type: 'actions-settled', runId, at: this.deps.now() }, { newId: this.deps.newId });
      if (step.ok) steps.push(step);
    }
    if (steps.length === 0) return;
    await this.deps.store.recordSwitch({ steps, outbox: [], audit: null });
    for (const s of steps) this.practices.set(s.state.ods, s.state);
    this.deps.onModeChange(steps.map((s) => s.state.ods));
  }

  /**
   * Enters every practice whose plan's `autoEnterAfter` has run out. Those due in the same
   * round under the same plan and reason are one recorded act (one transaction, one audit
   * entry naming them all, like a bulk switch): a national outage makes thousands due at once,
   * and one act each would hold the event loop for seconds.
   */
  private async autoEnter(): Promise<void> {
    const now = this.deps.now();
    const due = new Map<string, { plan: BackupPlan; reasonCode: BackupReasonCode; ods: string[] }>();
    for (const { practice, plan } of this.autoEntering) {
      const status = this.deps.statusOf(practice.ods);
      if (!status) continue;
      const view = { status: status.status, statusSince: status.since, backup: this.get(practice.ods) };
      if (autoEnterDue(now, view, { autoEnterAfterMs: plan.autoEnterAfterMs })) {
        const reasonCode = reasonFromCause(status.cause, this.deps.estate);
        const key = `${plan.id}\n${reasonCode}`;
        const group = due.get(key) ?? { plan, reasonCode, ods: [] };
        group.ods.push(practice.ods);
        due.set(key, group);
      }
    }
    for (const d of due.values()) {
      if (this.closed) return;
      const minutes = Math.round(d.plan.autoEnterAfterMs! / 60_000);
      await this.enter(d.ods, {
        by: SYSTEM_ACTOR,
        automatic: true,
        reasonCode: d.reasonCode,
        reason: `down for ${minutes} minute${minutes === 1 ? '' : 's'}: automatic entry (plan "${d.plan.id}", autoEnterAfter)`,
      });
    }
  }

  /** Whether leaving is suggested now (never automatic). */
  suggestion(ods: string): { suggestLeave: boolean; healthyForMs: number } {
    const plan = this.planOf(ods);
    const status = this.deps.statusOf(ods);
    if (!status) return { suggestLeave: false, healthyForMs: 0 };
    const s = leaveSuggestion(
      this.deps.now(),
      { status: status.status, statusSince: status.since, backup: this.get(ods) },
      { suggestLeaveAfterMs: plan?.suggestLeaveAfterMs ?? null },
    );
    return { suggestLeave: s.suggest, healthyForMs: s.healthyForMs };
  }

  /** The run people are working through: the latest enter or leave, and its direction. */
  async currentRun(ods: string): Promise<{ runId: string; direction: Direction; enterRunId: string | null } | null> {
    const transitions = await this.deps.store.transitionsOf(ods, 50);
    const latest = transitions.find((t) => t.to === 'entering' || t.to === 'leaving');
    if (!latest) return null;
    const direction: Direction = latest.to === 'entering' ? 'enter' : 'leave';
    const enter = transitions.find((t) => t.to === 'entering');
    return { runId: latest.runId, direction, enterRunId: enter?.runId ?? null };
  }

  /**
   * `currentRun` without its `enterRunId`, for many practices: a practice not in `normal`
   * carries its run (entering/backup: the enter run; leaving: the leave run), so only those
   * back in `normal` are looked up in their transitions.
   */
  async runsOf(odsList: string[]): Promise<Map<string, { runId: string; direction: Direction } | null>> {
    const out = new Map<string, { runId: string; direction: Direction } | null>();
    for (const ods of odsList) {
      const p = this.practices.get(ods);
      if (p && p.state !== 'normal' && p.runId) out.set(ods, { runId: p.runId, direction: p.state === 'leaving' ? 'leave' : 'enter' });
      else {
        const run = await this.currentRun(ods);
        out.set(ods, run ? { runId: run.runId, direction: run.direction } : null);
      }
    }
    return out;
  }

  async tickChecklist(ods: string, itemId: string, done: boolean, by: string): Promise<void> {
    return this.serial(async () => {
      const run = await this.currentRun(ods);
      if (!run) throw new BackupRequestError('NO_RUN', `${ods} has never been in backup mode: there is no checklist to tick`);
      const plan = this.planOf(ods);
      const item = plan?.checklist.find((c) => c.id === itemId && c.on.includes(run.direction));
      if (!item) {
        const known = plan?.checklist.filter((c) => c.on.includes(run.direction)).map((c) => c.id) ?? [];
        throw new BackupRequestError('NOT_FOUND', `no checklist item "${itemId}" for ${run.direction === 'enter' ? 'entering' : 'leaving'} backup mode at ${ods} (items: ${known.join(', ') || 'none'})`);
      }
      const at = this.deps.now();
      await this.deps.store.tickChecklist(
        { runId: run.runId, ods, itemId, done, by, at },
        { at, actor: by, action: done ? 'backup.checklist.tick' : 'backup.checklist.untick', subject: `practice:${ods}`, detail: { item: itemId, text: item.text, runId: run.runId } },
      );
    });
  }

  async markReadiness(ods: string, itemId: string, done: boolean, by: string): Promise<void> {
    const plan = this.planOf(ods);
    const item = plan?.readiness.find((r) => r.id === itemId);
    if (!item) {
      throw new BackupRequestError('NOT_FOUND', `no readiness item "${itemId}" at ${ods} (items: ${plan?.readiness.map((r) => r.id).join(', ') || 'none'})`);
    }
    const at = this.deps.now();
    await this.deps.store.markReadiness(
      { ods, itemId, done, by, at },
      { at, actor: by, action: 'backup.readiness', subject: `practice:${ods}`, detail: { item: itemId, text: item.text, done } },
    );
  }

  async setBacklog(ods: string, counts: Pick<Backlog, 'urgentReferrals' | 'prescriptions' | 'consultations'>, by: string): Promise<void> {
    const at = this.deps.now();
    await this.deps.store.setBacklog(
      { ods, ...counts, updatedAt: at, updatedBy: by },
      { at, actor: by, action: 'backup.backlog', subject: `practice:${ods}`, detail: { ...counts } },
    );
  }

  async addCost(ods: string, entry: { description: string; amountPence: number; incidentId: number | null }, by: string): Promise<CostEntry> {
    const at = this.deps.now();
    return this.deps.store.addCost(
      { ods, at, by, ...entry },
      { at, actor: by, action: 'backup.cost', subject: `practice:${ods}`, detail: { ...entry } },
    );
  }
}

/** A request the service refuses (unknown item, nothing to tick; closed); the API answers 404/409/503. */
export class BackupRequestError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'NO_RUN' | 'UNAVAILABLE',
    message: string,
  ) {
    super(message);
  }
}

/** A switch asked of a service that a reload (or shutdown) has closed; the API answers 503. */
function closedError(): BackupRequestError {
  return new BackupRequestError('UNAVAILABLE', 'Pulse is reloading its configuration or shutting down; nothing was switched, try again in a moment');
}

/** A reason code for an automatic entry, from the one-line cause. */
export function reasonFromCause(cause: string | null, estate: Estate): BackupReasonCode {
  const upstream = cause ? /^upstream: ([a-z0-9-]+)/.exec(cause) : null;
  if (upstream) {
    const kind = estate.services.get(upstream[1]!)?.kind;
    if (kind === 'clinical-system') return 'clinical-system-down';
    if (kind === 'network') return 'network-down';
    return 'other';
  }
  if (cause && /fleet/.test(cause)) return 'workstations-down';
  return 'other';
}
