// The status engine: folds check results into check states and recomputes the status of
// every service and practice that could have changed, in dependency order. It decides;
// it never stores, sends or renders (its callers do, with the changes it returns).
import type { CheckResult } from '../../probes/types';
import type { Check, Estate, MaintenanceWindow } from '../config/estate';
import {
  INITIAL_CHECK_STATE,
  applyResult,
  checkStatusAt,
  mergeLocations,
  nextTimeChange,
  rollUp,
  upstreamServices,
  type CheckState,
  type LocationSeen,
  type Rolled,
  type Seen,
} from './rollup';
import { REPORT_CHECK_ID, causeText, type Cause, type StatusLevel } from './types';

/** A person's report that their practice cannot work ("we're down"), rolled up like a check. */
export interface PeopleReport {
  state: 'down' | 'degraded';
  by: string;
  note: string;
  at: number;
}

export type SubjectKey = `service:${string}` | `practice:${string}`;

export interface SubjectStatus {
  status: StatusLevel;
  cause: Cause | null;
  /** Epoch ms the current status level began. */
  since: number;
}

/** One subject whose status or cause changed in a recompute. */
export interface StatusChange {
  subject: SubjectKey;
  from: StatusLevel;
  to: StatusLevel;
  cause: Cause | null;
  at: number;
}

/**
 * Who vouches for a check state: the credential its results came in with. A stored worker
 * token is `token:<id>` (tokenSource), the shared PULSE_WORKER_TOKEN is 'shared', and the
 * server's own judgements (workstation fleets) are 'server'. Revoking a token forgets
 * what it contributed (forgetSource).
 */
export const SHARED_SOURCE = 'shared';
export const SERVER_SOURCE = 'server';
export function tokenSource(tokenId: number): string {
  return `token:${tokenId}`;
}

/**
 * Version 2 adds each check state's source; version 1 (without) is still read, its states
 * counted as the shared token's.
 */
export interface EngineSnapshot {
  version: 2;
  checks: [string, string, CheckState, string][];
  subjects: [SubjectKey, SubjectStatus][];
  reports: [string, PeopleReport][];
}

interface EngineSnapshotV1 {
  version: 1;
  checks: [string, string, CheckState][];
  subjects: [SubjectKey, SubjectStatus][];
  reports: [string, PeopleReport][];
}

/**
 * What the store keeps one row each of (version 3, incremental): read back from those rows,
 * in the shape of version 2. Unlike a version 1 or 2 snapshot (one blob, from before rows),
 * importing it marks nothing unsaved: it is what is stored already.
 */
export interface EngineStateRows {
  version: 3;
  checks: [string, string, CheckState, string][];
  subjects: [SubjectKey, SubjectStatus][];
  reports: [string, PeopleReport][];
}

/** One check's states by location, with their sources: a check's row in the store. */
export type CheckStateRow = [location: string, state: CheckState, source: string][];

/**
 * What changed since the last save, taken by takeChanges: the checks and subjects to write.
 * Ids, not states: the saver reads each one's state (checkRow, status) when it writes its
 * slice, so taking them costs nothing however large the estate.
 */
export interface EngineChanges {
  checks: Set<string>;
  subjects: Set<SubjectKey>;
}

/** One check as seen from one location, and the source whose results made it. */
interface LocationEntry {
  state: CheckState;
  source: string;
}

export interface LocationHealth {
  location: string;
  checks: number;
  failing: number;
  failingAlone: number;
  isolated: boolean;
}

export class StatusEngine {
  /** Per check, its state as seen from each probe location that has reported it, with its source. */
  private readonly checkStates = new Map<string, Map<string, LocationEntry>>();
  /**
   * Each check's merged view as of when it last changed (a result, a forgotten source, or a
   * time-made change found by examineDue): what its subject rolls up from, so a result that
   * changes nothing a subject shows (the usual "up again") costs one look at its own check,
   * not a recompute of every check of its practice.
   */
  private readonly seenCache = new Map<string, Seen>();
  /** Checks whose states changed since the last recompute (results in, sources forgotten, a restore). */
  private readonly changedChecks = new Set<string>();
  private readonly statuses = new Map<SubjectKey, SubjectStatus>();
  private readonly dependants = new Map<string, SubjectKey[]>();
  /** Services in dependency order (a service after everything it depends on). */
  private readonly serviceOrder: string[];
  private readonly dirty = new Set<SubjectKey>();
  private maintenance: MaintenanceWindow[] = [];
  /** The window in force for each subject as of the last recompute. */
  private readonly inMaintenance = new Map<SubjectKey, MaintenanceWindow>();
  private readonly reports = new Map<string, PeopleReport>();
  /** Checks and subjects changed since the last takeChanges: what an incremental save writes. */
  private unsavedChecks = new Set<string>();
  private unsavedSubjects = new Set<SubjectKey>();
  /**
   * When each check must next be looked at for a change time alone makes (stale data, a
   * flapping window ending), and the checks due in each second: a tick examines only those,
   * not all 50,000 checks four times a second.
   */
  private readonly recheckAt = new Map<string, number>();
  private readonly dueBySecond = new Map<number, string[]>();
  private readonly dueSeconds = new MinHeap();

  constructor(
    private readonly estate: Estate,
    startedAt: number,
  ) {
    this.serviceOrder = topologicalOrder(estate);
    const addDependant = (service: string, key: SubjectKey) => {
      const list = this.dependants.get(service) ?? [];
      list.push(key);
      this.dependants.set(service, list);
    };
    for (const s of estate.services.values()) {
      for (const d of s.dependsOn) addDependant(d.service, `service:${s.id}`);
      this.statuses.set(`service:${s.id}`, { status: 'unknown', cause: null, since: startedAt });
    }
    for (const p of estate.practices.values()) {
      for (const d of p.dependsOn) addDependant(d.service, `practice:${p.ods}`);
      this.statuses.set(`practice:${p.ods}`, { status: 'unknown', cause: null, since: startedAt });
    }
    for (const id of estate.checks.keys()) this.checkStates.set(id, new Map());
    // Everything is computed on the first recompute.
    for (const key of this.statuses.keys()) this.dirty.add(key);
    this.maintenance = [...estate.maintenance];
  }

  /**
   * Everything needed to carry on after a restart exactly where we were: each check's state
   * per location, each subject's status and since, and people's reports. Check states keep
   * their real result times, so data that went stale during the restart shows as unknown,
   * and their sources, so a token revoked meanwhile can be forgotten (retainSources).
   */
  exportState(): EngineSnapshot {
    const checks: EngineSnapshot['checks'] = [];
    for (const [id, byLocation] of this.checkStates) {
      for (const [location, { state, source }] of byLocation) checks.push([id, location, state, source]);
    }
    return { version: 2, checks, subjects: [...this.statuses], reports: [...this.reports] };
  }

  /**
   * Restores a snapshot taken by exportState (version 2, or 1 from before sources were
   * kept) or read back from the store's rows (version 3); entries for checks or subjects no
   * longer in the estate are dropped, and named in `dropped` so their rows can be deleted.
   */
  importState(snapshot: EngineSnapshot | EngineSnapshotV1 | EngineStateRows): { dropped: { checks: string[]; subjects: SubjectKey[] } } {
    const dropped = { checks: new Set<string>(), subjects: [] as SubjectKey[] };
    if (snapshot.version !== 1 && snapshot.version !== 2 && snapshot.version !== 3) return { dropped: { checks: [], subjects: [] } };
    // A blob (1, 2) is not in the store's rows yet: the first incremental save writes all of it.
    const fromBlob = snapshot.version !== 3;
    for (const [id, location, state, source] of snapshot.checks as EngineSnapshot['checks']) {
      const byLocation = this.checkStates.get(id);
      if (!byLocation) {
        dropped.checks.add(id);
        continue;
      }
      byLocation.set(location, { state, source: source ?? SHARED_SOURCE });
      this.changedChecks.add(id);
      if (fromBlob) this.unsavedChecks.add(id);
      else this.unsavedChecks.delete(id);
    }
    for (const [key, status] of snapshot.subjects) {
      if (this.statuses.has(key)) {
        this.statuses.set(key, status);
        this.dirty.add(key);
        // (Changed before the import, e.g. by a first recompute: the stored row is what it is now.)
        if (fromBlob) this.unsavedSubjects.add(key);
        else this.unsavedSubjects.delete(key);
      } else dropped.subjects.push(key);
    }
    for (const [ods, report] of snapshot.reports) if (this.estate.practices.has(ods)) this.reports.set(ods, report);
    return { dropped: { checks: [...dropped.checks], subjects: dropped.subjects } };
  }

  /**
   * Every check and subject changed since the last call (by a result, a forgotten source or
   * a recompute), and forgets that they changed: an incremental save writes just these,
   * reading each with checkRow and status. If that save fails, hand them back with
   * returnChanges so the next one writes them. (One that changes again meanwhile is simply
   * marked again, and written again next time.)
   */
  takeChanges(): EngineChanges {
    const changes = { checks: this.unsavedChecks, subjects: this.unsavedSubjects };
    this.unsavedChecks = new Set();
    this.unsavedSubjects = new Set();
    return changes;
  }

  /** A check's states by location with their sources (its snapshot row); null for a check not in the estate. */
  checkRow(id: string): CheckStateRow | null {
    const byLocation = this.checkStates.get(id);
    if (!byLocation) return null;
    const row: CheckStateRow = [];
    for (const [location, { state, source }] of byLocation) row.push([location, state, source]);
    return row;
  }

  /** What an incremental save's header holds besides the audit head: people's reports (few, small). */
  exportHeader(): { reports: [string, PeopleReport][] } {
    return { reports: [...this.reports] };
  }

  /** Marks what a failed save took as unsaved again (their current state is written next time). */
  returnChanges(changes: EngineChanges): void {
    for (const id of changes.checks) this.unsavedChecks.add(id);
    for (const key of changes.subjects) this.unsavedSubjects.add(key);
  }

  /** How many checks and subjects changed since the last takeChanges. */
  get unsaved(): { checks: number; subjects: number } {
    return { checks: this.unsavedChecks.size, subjects: this.unsavedSubjects.size };
  }

  /** Replaces the maintenance windows (from the file and the API); they start and end by themselves. */
  setMaintenance(windows: MaintenanceWindow[]): void {
    this.maintenance = [...windows];
  }

  /** Records (or, with null, clears) a person's report for a practice. */
  setReport(ods: string, report: PeopleReport | null): void {
    if (!this.estate.practices.has(ods)) throw new RangeError(`no practice ${ods}`);
    if (report) this.reports.set(ods, report);
    else this.reports.delete(ods);
    this.dirty.add(`practice:${ods}`);
  }

  report(ods: string): PeopleReport | null {
    return this.reports.get(ods) ?? null;
  }

  /** The window in force for a subject now, if any. */
  maintenanceOf(key: SubjectKey): MaintenanceWindow | null {
    return this.inMaintenance.get(key) ?? null;
  }

  /**
   * Folds results in; unknown check ids are counted and ignored (a worker may lag a reload).
   * `source` is the credential they came in with (SHARED_SOURCE, tokenSource(id)); the
   * server's own results (fleets) default to SERVER_SOURCE.
   */
  ingest(results: CheckResult[], source: string = SERVER_SOURCE): { accepted: number; unknown: number } {
    let accepted = 0;
    let unknown = 0;
    for (const result of results) {
      const check = this.estate.checks.get(result.checkId);
      const byLocation = this.checkStates.get(result.checkId);
      if (!check || !byLocation) {
        unknown++;
        continue;
      }
      const entry = byLocation.get(result.location);
      const state = entry?.state ?? INITIAL_CHECK_STATE;
      const next = applyResult(state, result, this.estate.status);
      // A result ignored as out of order does not make its source the state's.
      if (!entry || next !== state) {
        byLocation.set(result.location, { state: next, source });
        this.unsavedChecks.add(result.checkId);
        // Its subject is recomputed only if what the check shows changed (lookAgain).
        this.changedChecks.add(result.checkId);
      }
      accepted++;
    }
    return { accepted, unknown };
  }

  /**
   * Forgets every check state `source` contributed (its token was revoked): those checks
   * show what the other sources say, or unknown now, and their subjects are recomputed on
   * the next recompute. Returns how many states were dropped.
   */
  forgetSource(source: string): number {
    return this.retainSources((s) => s !== source);
  }

  /** Keeps only the check states whose source passes `keep` (on restore: the tokens that still exist). */
  retainSources(keep: (source: string) => boolean): number {
    let dropped = 0;
    for (const [id, byLocation] of this.checkStates) {
      for (const [location, entry] of byLocation) {
        if (keep(entry.source)) continue;
        byLocation.delete(location);
        this.unsavedChecks.add(id);
        this.changedChecks.add(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Every source some check state holds now. */
  sources(): Set<string> {
    const out = new Set<string>();
    for (const byLocation of this.checkStates.values()) for (const { source } of byLocation.values()) out.add(source);
    return out;
  }

  /**
   * Recomputes what may have changed as of `now`: subjects with new results, subjects
   * whose checks went stale, and everything downstream of a subject that changed.
   */
  recompute(now: number): StatusChange[] {
    this.markStale(now);
    for (const id of this.changedChecks) this.lookAgain(id, now);
    this.changedChecks.clear();
    const changes: StatusChange[] = [];
    // Services first, in dependency order, then practices: each sees its inputs final.
    for (const id of this.serviceOrder) {
      const key: SubjectKey = `service:${id}`;
      if (this.dirty.has(key)) this.update(key, now, changes);
    }
    for (const key of this.dirty) if (key.startsWith('practice:')) this.update(key, now, changes);
    this.dirty.clear();
    return changes;
  }

  status(key: SubjectKey): SubjectStatus | undefined {
    return this.statuses.get(key);
  }

  /** One check as of `now`: merged status and detail, time of the latest result, and each location's view. */
  checkStatus(
    id: string,
    now: number,
  ): { status: StatusLevel; detail: string; lastAt: number | null; locations: { location: string; status: StatusLevel; detail: string }[] } | undefined {
    const check = this.estate.checks.get(id);
    const byLocation = this.checkStates.get(id);
    if (!check || !byLocation) return undefined;
    let lastAt: number | null = null;
    for (const { state } of byLocation.values()) if (state.lastAt !== null) lastAt = Math.max(lastAt ?? 0, state.lastAt);
    const { status, detail } = this.seen(id, now);
    return { status, detail, lastAt, locations: this.seenByLocation(id, now).map((v) => ({ location: v.location, status: v.status, detail: v.detail })) };
  }

  /**
   * Each probe location's view of its checks: how many it reports, how many it sees failing,
   * and how many only it sees failing while another location sees them up. A location that
   * alone sees most of its checks failing has lost its own network: it is `isolated`, and
   * the problem is the location, not the estate. `counts` narrows the checks counted (a caller's
   * scope: a scoped caller must not learn how much of the rest of the estate is failing).
   */
  locations(now: number, counts: (check: Check) => boolean = () => true): LocationHealth[] {
    const out = new Map<string, Omit<LocationHealth, 'isolated'>>();
    for (const [id, check] of this.estate.checks) {
      if (!counts(check)) continue;
      const views = this.seenByLocation(id, now).filter((v) => v.status !== 'unknown');
      const othersUp = (location: string) => views.some((v) => v.location !== location && v.status === 'up');
      for (const v of views) {
        const row = out.get(v.location) ?? { location: v.location, checks: 0, failing: 0, failingAlone: 0 };
        row.checks++;
        if (v.status === 'down' || v.status === 'suspected') {
          row.failing++;
          if (othersUp(v.location)) row.failingAlone++;
        }
        out.set(v.location, row);
      }
    }
    return [...out.values()]
      .map((row) => ({ ...row, isolated: row.checks >= 3 && row.failingAlone / row.checks >= 0.5 }))
      .sort((a, b) => a.location.localeCompare(b.location));
  }

  private seenByLocation(id: string, now: number): LocationSeen[] {
    const check = this.estate.checks.get(id)!;
    return [...this.checkStates.get(id)!].map(([location, { state }]) => ({
      location,
      ...checkStatusAt(state, now, check.intervalMs, check.timeoutMs),
    }));
  }

  /** The check's merged status across locations (quorum), as of `now`. */
  private seen(id: string, now: number): Seen {
    const byLocation = this.checkStates.get(id)!;
    if (byLocation.size === 1) {
      // One location (the usual case): its view is the check's, without the merge's lists.
      const check = this.estate.checks.get(id)!;
      const { state } = byLocation.values().next().value!;
      const own = checkStatusAt(state, now, check.intervalMs, check.timeoutMs);
      return { status: own.status, detail: own.detail };
    }
    const views = this.seenByLocation(id, now);
    if (views.length === 0) return { status: 'unknown', detail: 'no result yet' };
    return mergeLocations(views, this.estate.status.quorum);
  }

  /** Practices whose status comes from each service (anywhere along their cause chain). */
  practicesAffected(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const ods of this.estate.practices.keys()) {
      const s = this.statuses.get(`practice:${ods}`)!;
      if (s.status === 'up') continue;
      for (const service of new Set(upstreamServices(s.cause))) counts.set(service, (counts.get(service) ?? 0) + 1);
    }
    return counts;
  }

  private markStale(now: number): void {
    const active = new Map<SubjectKey, MaintenanceWindow>();
    for (const w of this.maintenance) {
      if (w.start <= now && now < w.end && this.statuses.has(w.subject)) {
        const current = active.get(w.subject);
        if (!current || w.end > current.end) active.set(w.subject, w);
      }
    }
    for (const key of new Set([...active.keys(), ...this.inMaintenance.keys()])) {
      if (active.get(key) !== this.inMaintenance.get(key)) this.dirty.add(key);
    }
    this.inMaintenance.clear();
    for (const [key, w] of active) this.inMaintenance.set(key, w);

    this.examineDue(now);
  }

  /** Looks at every check due by `now`: one whose status time has changed makes its subject dirty. */
  private examineDue(now: number): void {
    const nowSecond = Math.floor(now / DUE_BUCKET_MS);
    let notYet: string[] | null = null;
    while (this.dueSeconds.size > 0 && this.dueSeconds.peek() <= nowSecond) {
      const second = this.dueSeconds.pop();
      const ids = this.dueBySecond.get(second) ?? [];
      this.dueBySecond.delete(second);
      for (const id of ids) {
        const at = this.recheckAt.get(id);
        // Rescheduled to another second since (or already examined): that entry stands.
        if (at === undefined || Math.floor(at / DUE_BUCKET_MS) !== second) continue;
        if (at > now) {
          (notYet ??= []).push(id);
          continue;
        }
        this.recheckAt.delete(id);
        if (this.estate.checks.has(id)) this.lookAgain(id, now);
      }
    }
    if (notYet) for (const id of notYet) this.addDue(id, this.recheckAt.get(id)!);
  }

  /**
   * Takes the check's view as of `now` into the cache and schedules its next look; its
   * subject is recomputed when what it contributes changed: its status, or, for a check
   * that is not up, its words (an up check's detail, e.g. its latency, is in no cause).
   */
  private lookAgain(id: string, now: number): Seen {
    const next = this.seen(id, now);
    const prev = this.seenCache.get(id);
    this.seenCache.set(id, next);
    this.scheduleRecheck(id, now);
    if (!prev || prev.status !== next.status || (next.status !== 'up' && prev.detail !== next.detail)) {
      const check = this.estate.checks.get(id)!;
      this.dirty.add(`${check.subject.type}:${check.subject.id}`);
    }
    return next;
  }

  /** Schedules the check's next look at the earliest time its status could change by time alone. */
  private scheduleRecheck(id: string, now: number): void {
    const check = this.estate.checks.get(id)!;
    let at = Infinity;
    for (const { state } of this.checkStates.get(id)!.values()) {
      const t = nextTimeChange(state, now, check.intervalMs, check.timeoutMs);
      if (t < at) at = t;
    }
    const before = this.recheckAt.get(id);
    if (at === Infinity) {
      this.recheckAt.delete(id);
      return;
    }
    this.recheckAt.set(id, at);
    // Already listed under that second: the one entry serves.
    if (before === undefined || Math.floor(before / DUE_BUCKET_MS) !== Math.floor(at / DUE_BUCKET_MS)) this.addDue(id, at);
  }

  private addDue(id: string, at: number): void {
    const second = Math.floor(at / DUE_BUCKET_MS);
    const list = this.dueBySecond.get(second);
    if (list) list.push(id);
    else {
      this.dueBySecond.set(second, [id]);
      this.dueSeconds.push(second);
    }
  }

  private update(key: SubjectKey, now: number, changes: StatusChange[]): void {
    const next = this.compute(key, now);
    const prev = this.statuses.get(key)!;
    const sameCause = causeText(prev.cause) === causeText(next.cause);
    if (prev.status === next.status && sameCause) return;
    this.statuses.set(key, {
      status: next.status,
      cause: next.cause,
      since: prev.status === next.status ? prev.since : now,
    });
    this.unsavedSubjects.add(key);
    changes.push({ subject: key, from: prev.status, to: next.status, cause: next.cause, at: now });
    const [type, id] = splitKey(key);
    if (type === 'service') for (const dependant of this.dependants.get(id) ?? []) this.dirty.add(dependant);
  }

  private compute(key: SubjectKey, now: number): Rolled {
    const [type, id] = splitKey(key);
    const subject = type === 'service' ? this.estate.services.get(id)! : this.estate.practices.get(id)!;
    const own = subject.checks.map((checkId) => {
      const { status, detail } = this.seenCache.get(checkId) ?? this.lookAgain(checkId, now);
      return { id: checkId, status, detail };
    });
    // Planned work: its own failures are expected, so they raise nothing.
    const window = this.inMaintenance.get(key);
    if (window) {
      return { status: 'maintenance', cause: { kind: 'maintenance', reason: window.reason, author: window.author, until: window.end } };
    }
    const report = type === 'practice' ? this.reports.get(id) : undefined;
    if (report) {
      const when = new Date(report.at).toISOString().slice(11, 16);
      own.push({
        id: REPORT_CHECK_ID,
        status: report.state,
        detail: `reported ${report.state} by ${report.by} at ${when} UTC${report.note ? `: ${report.note}` : ''}`,
      });
    }
    const deps = subject.dependsOn.map((d) => {
      const s = this.statuses.get(`service:${d.service}`)!;
      return { service: d.service, impact: d.impact, status: s.status, cause: s.cause };
    });
    return rollUp(own, deps);
  }
}

/** Checks due for a look are listed per second; a tick takes the seconds that have begun. */
const DUE_BUCKET_MS = 1_000;

/** A binary min-heap of numbers (the seconds that have checks due). */
class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): number {
    return this.items[0]!;
  }
  push(value: number): void {
    const a = this.items;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= value) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = value;
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const child = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[child]! >= last) break;
        a[i] = a[child]!;
        i = child;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * The store's rows of an incremental snapshot (`check:<id>` → its CheckStateRow; a subject key
 * → its status) with the header's reports, as a version 3 snapshot for importState.
 * A row that is not one of these throws, naming its key.
 */
export function engineStateFromRows(rows: readonly [string, unknown][], reports: [string, PeopleReport][]): EngineStateRows {
  const checks: EngineStateRows['checks'] = [];
  const subjects: EngineStateRows['subjects'] = [];
  for (const [key, body] of rows) {
    if (key.startsWith('check:')) {
      if (!Array.isArray(body)) throw new TypeError(`engine_state row ${key} is not a list of location states`);
      const id = key.slice('check:'.length);
      for (const [location, state, source] of body as CheckStateRow) checks.push([id, location, state, source]);
    } else if (key.startsWith('service:') || key.startsWith('practice:')) {
      subjects.push([key as SubjectKey, body as SubjectStatus]);
    } else {
      throw new TypeError(`engine_state row ${key} is neither a check nor a subject`);
    }
  }
  return { version: 3, checks, subjects, reports };
}

export function splitKey(key: SubjectKey): ['service' | 'practice', string] {
  const at = key.indexOf(':');
  return [key.slice(0, at) as 'service' | 'practice', key.slice(at + 1)];
}

function topologicalOrder(estate: Estate): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const visit = (id: string) => {
    if (done.has(id)) return;
    done.add(id); // the loader has already rejected cycles
    for (const d of estate.services.get(id)?.dependsOn ?? []) visit(d.service);
    order.push(id);
  };
  for (const id of estate.services.keys()) visit(id);
  return order;
}
