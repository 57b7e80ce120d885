// Groups status changes into incidents by root cause, so an outage of one service is one
// incident listing every practice it affects, not an alarm storm of one per practice.
// In memory and deterministic: the clock and the id sequence are passed in, and every
// change comes back as events for the caller to persist. It never stores, sends or renders.
//
// Rules (Alertmanager-style grouping, with its lesson: whatever is grouped must still resolve):
// - A subject that is down or degraded belongs to exactly one open incident, keyed by its
//   root cause (see rootCause.ts); practices failing on their own checks that start together
//   are grouped into one `pcn:<pcn>` or one `estate:endpoints` incident (see grouping.ts).
//   When the estate incident opens, the practice and PCN incidents of the practices starting
//   it are folded into it ('grouped' on both timelines); they resolve pointing at it.
// - Group wait (Alertmanager's `group_wait`): a practice that starts failing on its own
//   checks opens its own or a PCN incident only `groupWaitMs` after it started; until then
//   it is in no incident and joins the estate group (or an open PCN incident) directly if
//   that forms, so a day on which practices fail one after another opens one incident, not
//   an alarm for each of the first few. One that recovers within the wait opens nothing.
//   Services are never delayed, and neither is any status: only the practice's incident.
// - A member that is `recovering`, `suspected` or `unknown` stays where it is (never opens
//   anything): an incident is not declared over before recovery is confirmed, nor because
//   the data went missing. `up`, `maintenance` or a different root cause take it out.
// - An incident with no members left is resolved at once.
// - Pulse's own impairment is one `pulse:self` incident with no members, open while the
//   caller says Pulse is impaired (`update`'s `self`); it never holds a practice.
import type { SubjectKey } from '../status/engine';
import { DEFAULT_INCIDENT_RULES, type IncidentRules } from './config';
import { groupsToForm, type LocalFailure } from './grouping';
import { Descriptions, type DescribeIncident } from './describe';
import { SYSTEM_LABEL, copy, fail, invalid, isHeld, isLocalKind, kindOf, notFound, signatureOf, summary } from './records';
import { Pass, affectedLog, findingLog, newTracked, restoredTracked, type CoalescedLog, type Tracked } from './tracked';
import { isFailing, rootCause } from './rootCause';
import {
  ENDPOINTS_KEY,
  SELF_KEY,
  noteInput,
  referenceInput,
  type AnnotateResult,
  type Incident,
  type IncidentEvent,
  type IncidentKey,
  type IncidentSeverity,
  type NoteInput,
  type ReferenceInput,
  type SubjectState,
} from './types';
import { groupedInto, resolvedText, titleOf } from './wording';

export { duration } from './wording';
export type { DescribeIncident, IncidentDescription } from './describe';

export interface IncidentTrackerOptions extends Partial<IncidentRules> {
  /** The next incident id; the store's sequence. */
  nextId(): number;
  /** Display name of a service or PCN key (e.g. `service:emis-web` → `EMIS Web`); falls back to the id. */
  nameOf?(key: IncidentKey): string | undefined;
  /** A practice's ICB, for each ICB's own peak (`Incident.peakByIcb`). */
  icbOf?(ods: string): string | undefined;
  /** At most one `affected` (and one `finding`) timeline entry per incident this often. Default 60 s. */
  affectedCoalesceMs?: number;
  /** Resolved incidents kept in memory for `get` and post-incident notes. Default 500. */
  retainResolved?: number;
  /**
   * Describes practice, PCN and endpoints incidents (title, finding) when they open and again
   * every `describeEveryMs` (default 10 s) while they are open, whether or not their practices
   * changed (what describe sees, such as silent workstations, changes on its own).
   */
  describe?: DescribeIncident;
  describeEveryMs?: number;
}

interface SubjectRecord extends SubjectState {
  /** When it began failing on its own checks (practices), kept while it is held; else null. */
  localSince: number | null;
}

export class IncidentTracker {
  private readonly nextId: () => number;
  private readonly nameOf: (key: IncidentKey) => string | undefined;
  private readonly icbOf: (ods: string) => string | undefined;
  private readonly rules: IncidentRules;
  private readonly coalesceMs: number;
  private readonly retainResolved: number;
  private readonly descriptions: Descriptions | null;

  /** Open incidents and the most recently resolved ones, by id. */
  private readonly incidents = new Map<number, Tracked>();
  private readonly openByKey = new Map<IncidentKey, number>();
  private readonly memberOf = new Map<SubjectKey, number>();
  private readonly subjects = new Map<SubjectKey, SubjectRecord>();
  /** Practices failing on their own checks now. */
  private readonly localFailing = new Set<SubjectKey>();
  /** Open incidents whose affected count differs from the one last written to the timeline. */
  private readonly pending = new Set<number>();
  /** Open incidents whose finding differs from the one last written to the timeline. */
  private readonly findingPending = new Set<number>();
  private resolvedOrder: number[] = [];
  /** After a restore: subjects to re-place, and incidents left empty, on the next update. */
  private readonly unplaced = new Set<SubjectKey>();
  private readonly orphans = new Set<number>();

  constructor(options: IncidentTrackerOptions) {
    this.nextId = options.nextId;
    this.nameOf = options.nameOf ?? (() => undefined);
    this.icbOf = options.icbOf ?? (() => undefined);
    this.rules = {
      pcnThreshold: options.pcnThreshold ?? DEFAULT_INCIDENT_RULES.pcnThreshold,
      pcnWindowMs: options.pcnWindowMs ?? DEFAULT_INCIDENT_RULES.pcnWindowMs,
      endpoints: options.endpoints ?? DEFAULT_INCIDENT_RULES.endpoints,
      groupWaitMs: options.groupWaitMs ?? DEFAULT_INCIDENT_RULES.groupWaitMs,
    };
    this.coalesceMs = options.affectedCoalesceMs ?? 60_000;
    this.retainResolved = options.retainResolved ?? 500;
    this.descriptions = options.describe ? new Descriptions(options.describe, options.describeEveryMs ?? 10_000) : null;
  }

  /**
   * Folds in the subjects whose status or cause changed (any others may be included: an
   * unchanged state changes nothing) and returns what to persist. Call it on every tick,
   * with an empty list when nothing changed, so coalesced entries are written, group waits
   * end on time and descriptions are renewed.
   *
   * `self`: why Pulse's own monitoring is impaired now (plain words), or null when it is not;
   * while a reason is given the `pulse:self` incident is open with it as its finding.
   * Omitted (undefined): Pulse's own incident stays as it was.
   */
  update(now: number, changed: SubjectState[], self?: string | null): IncidentEvent[] {
    const pass = new Pass(now);
    const toPlace = new Set<SubjectKey>(this.unplaced);
    this.unplaced.clear();
    for (const id of this.orphans) this.touch(this.incidents.get(id)!, pass);
    this.orphans.clear();
    for (const key of toPlace) {
      const rec = this.subjects.get(key)!;
      if (rec.localSince === null && this.isLocalFailure(rec)) rec.localSince = now;
    }

    const changedPcns = new Set<string>();
    let anyLocal = false;
    for (const state of changed) {
      const prev = this.subjects.get(state.key);
      const rec: SubjectRecord = { key: state.key, status: state.status, cause: state.cause, pcn: state.pcn, name: state.name, localSince: null };
      rec.localSince = this.localSince(prev, rec, now);
      this.subjects.set(rec.key, rec);
      toPlace.add(rec.key);
      if (this.isLocalFailure(rec)) {
        this.localFailing.add(rec.key);
        anyLocal = true;
        if (rec.pcn !== null) changedPcns.add(rec.pcn);
      } else {
        this.localFailing.delete(rec.key);
      }
    }
    // Practices whose group wait is over, with no group formed for them: their own or their PCN's turn.
    for (const key of this.localFailing) {
      const rec = this.subjects.get(key)!;
      if (this.memberOf.has(key) || this.waiting(rec, now)) continue;
      toPlace.add(key);
      anyLocal = true;
      if (rec.pcn !== null) changedPcns.add(rec.pcn);
    }

    const grouping = new Map<SubjectKey, IncidentKey>();
    const groups = groupsToForm({
      now,
      rules: this.rules,
      failing: this.localFailures(now),
      changedPcns: [...changedPcns].sort(),
      anyChanged: anyLocal,
      isOpen: (key) => this.openByKey.has(key),
    });
    for (const group of groups) {
      const members = new Set(group.starting);
      // The estate incident takes over the practice and PCN incidents of those starting it, whole:
      // every member still failing on its own or held (one now failing because of a service goes there).
      if (group.key === ENDPOINTS_KEY) {
        for (const key of group.starting) {
          const current = this.incidentOf(key);
          if (!current || (current.incident.kind !== 'practice' && current.incident.kind !== 'pcn')) continue;
          for (const m of current.members) {
            const rec = this.subjects.get(m);
            if (rec && (this.isLocalFailure(rec) || isHeld(rec.status))) members.add(m);
          }
        }
      }
      for (const key of members) {
        grouping.set(key, group.key);
        toPlace.add(key);
      }
    }

    for (const key of [...toPlace].sort()) this.place(key, grouping.get(key), pass);
    if (self !== undefined) this.setSelf(self, pass);
    this.finalise(pass);
    this.flush(this.pending, affectedLog, pass);
    this.flush(this.findingPending, findingLog, pass);
    return this.emit(pass);
  }

  /** Adds a note by a person; allowed on open and (retained) resolved incidents. */
  addNote(id: number, input: NoteInput, now: number, icb?: string | null): AnnotateResult {
    const tracked = this.incidents.get(id);
    if (!tracked) return fail('INCIDENT_NOT_FOUND', notFound(id));
    const parsed = noteInput.safeParse(input);
    if (!parsed.success) return invalid('INVALID_NOTE', 'note', parsed.error.issues[0]!);
    const pass = new Pass(now);
    this.touch(tracked, pass);
    tracked.incident.timeline.push({ at: now, type: 'note', text: parsed.data.text, by: parsed.data.by, ...(icb !== undefined ? { icb } : {}) });
    return { ok: true, incident: copy(tracked.incident), events: this.emit(pass) };
  }

  /** Records an IT service desk or supplier incident number on an open incident. Adding one twice is a no-op. */
  addReference(id: number, input: ReferenceInput, now: number, icb?: string | null): AnnotateResult {
    const tracked = this.incidents.get(id);
    if (!tracked) return fail('INCIDENT_NOT_FOUND', notFound(id));
    if (tracked.incident.status !== 'open') {
      return fail('INCIDENT_RESOLVED', `incident #${id} is resolved: references can only be added to open incidents (add a note instead)`);
    }
    const parsed = referenceInput.safeParse(input);
    if (!parsed.success) return invalid('INVALID_REFERENCE', 'reference', parsed.error.issues[0]!);
    const { system, reference, by } = parsed.data;
    const incident = tracked.incident;
    const same = (r: { system: string; reference: string }) => r.system === system && r.reference.toLowerCase() === reference.toLowerCase();
    if (incident.references.some(same)) return { ok: true, incident: copy(incident), events: [] };
    const pass = new Pass(now);
    this.touch(tracked, pass);
    const whose = icb !== undefined ? { icb } : {};
    incident.references.push({ system, reference, by, at: now, ...whose });
    incident.timeline.push({ at: now, type: 'reference', text: `${SYSTEM_LABEL[system]} reference ${reference}`, by, ...whose });
    return { ok: true, incident: copy(incident), events: this.emit(pass) };
  }

  /**
   * Carries on after a restart: the open incidents as stored (same ids, timelines and
   * members), the latest known state of subjects, and optionally recently resolved
   * incidents (for `get` and post-incident notes). Emits nothing; the next `update`
   * reconciles — a member now up leaves (and its incident resolves), a failing subject
   * in no incident joins or opens one, held members stay; Pulse's own incident stays open
   * with its stored finding until `update` is told otherwise. Nothing is reopened or duplicated.
   * A practice failing on its own in no incident (still in its group wait) carries on waiting
   * from its state's `since` when given (a wait already over ends on the next update), else
   * its wait starts again on the next update.
   */
  restore(open: Incident[], subjects: SubjectState[], resolved: Incident[] = []): void {
    this.incidents.clear();
    this.openByKey.clear();
    this.memberOf.clear();
    this.subjects.clear();
    this.localFailing.clear();
    this.pending.clear();
    this.findingPending.clear();
    this.descriptions?.clear();
    this.unplaced.clear();
    this.orphans.clear();
    this.resolvedOrder = [];

    const byResolution = resolved
      .filter((i) => i.status === 'resolved')
      .sort((a, b) => (a.resolvedAt ?? 0) - (b.resolvedAt ?? 0) || a.id - b.id);
    for (const incident of byResolution) {
      this.incidents.set(incident.id, newTracked(copy(incident), 0));
      this.resolvedOrder.push(incident.id);
    }
    this.evictResolved();

    for (const stored of [...open].filter((i) => i.status === 'open').sort((a, b) => a.id - b.id)) {
      const incident = copy(stored);
      incident.finding ??= null;
      const t = restoredTracked(incident);
      this.incidents.set(incident.id, t);
      // Drift (two open incidents for one cause or one subject): the first keeps it; an
      // incident left with no members is resolved on the next update.
      if (!this.openByKey.has(incident.key)) this.openByKey.set(incident.key, incident.id);
      else this.orphans.add(incident.id);
      for (const key of incident.subjects) {
        if (this.memberOf.has(key) || this.orphans.has(incident.id)) continue;
        t.members.add(key);
        this.memberOf.set(key, incident.id);
      }
      const memberless = incident.kind === 'pulse' && this.openByKey.get(incident.key) === incident.id;
      if (t.members.size === 0 && !memberless) this.orphans.add(incident.id);
      if (affectedLog.differs(t)) this.pending.add(incident.id);
      if (findingLog.differs(t)) this.findingPending.add(incident.id);
      this.descriptions?.watch(t, true);
    }

    for (const state of subjects) {
      const rec: SubjectRecord = { ...state, localSince: null };
      const member = this.incidentOf(rec.key);
      if (this.isLocalFailure(rec) && member && (member.incident.key === rec.key || member.incident.kind === 'pcn' || member.incident.kind === 'endpoints')) {
        rec.localSince = member.incident.openedAt;
      } else if (!member && state.since !== undefined && rec.key.startsWith('practice:') && (this.isLocalFailure(rec) || isHeld(rec.status))) {
        rec.localSince = state.since;
      }
      this.subjects.set(rec.key, rec);
      if (this.isLocalFailure(rec)) this.localFailing.add(rec.key);
      else this.localFailing.delete(rec.key);
      this.unplaced.add(rec.key);
    }
  }

  /**
   * Keeps a resolved incident loaded from the store in memory (among the retained ones), so
   * a post-incident note can be added to one resolved too long ago to still be held.
   * Ignores open incidents and ones already held.
   */
  remember(incident: Incident): void {
    if (incident.status !== 'resolved' || this.incidents.has(incident.id)) return;
    this.incidents.set(incident.id, newTracked(copy(incident), 0));
    this.resolvedOrder.push(incident.id);
    this.evictResolved();
  }

  /** Open incidents, oldest first. */
  open(): Incident[] {
    return [...this.openByKey.values()].sort((a, b) => a - b).map((id) => copy(this.incidents.get(id)!.incident));
  }

  /** An open or recently resolved incident. */
  get(id: number): Incident | undefined {
    const tracked = this.incidents.get(id);
    return tracked ? copy(tracked.incident) : undefined;
  }

  /**
   * Until when a practice failing on its own checks waits for its group before it opens its
   * own incident (epoch ms); undefined when it is not waiting (in an incident, or not failing).
   * After an update every time given is later than that update's `now`.
   */
  waitingUntil(key: SubjectKey): number | undefined {
    const rec = this.subjects.get(key);
    if (!rec || !this.localFailing.has(key) || this.memberOf.has(key) || rec.localSince === null) return undefined;
    return rec.localSince + this.rules.groupWaitMs;
  }

  /** The open incident a subject belongs to, if any. */
  forSubject(key: SubjectKey): Incident | undefined {
    const id = this.memberOf.get(key);
    return id === undefined ? undefined : copy(this.incidents.get(id)!.incident);
  }

  /**
   * Events that rewrite every incident held in memory in full: replaying them is harmless
   * (upserts, and entries already stored are skipped), so after a failed write the caller
   * can repair the store with them instead of keeping failed batches.
   */
  snapshotEvents(): IncidentEvent[] {
    const events: IncidentEvent[] = [];
    for (const id of [...this.incidents.keys()].sort((a, b) => a - b)) {
      const incident = this.incidents.get(id)!.incident;
      events.push({ type: 'updated', incident: summary(incident) });
      incident.timeline.forEach((entry, seq) => events.push({ type: 'timeline', id, seq, entry: { ...entry } }));
      incident.references.forEach((reference, seq) => events.push({ type: 'reference', id, seq, reference: { ...reference } }));
    }
    return events;
  }

  // ---- placement ----------------------------------------------------------------------

  private place(key: SubjectKey, group: IncidentKey | undefined, pass: Pass): void {
    const rec = this.subjects.get(key);
    if (!rec) return;
    const current = this.incidentOf(key);
    const target = group ?? this.targetOf(rec, current?.incident.key ?? null, pass.now);
    if (current && current.incident.key === target) {
      this.touch(current, pass);
      return;
    }
    const next = target === null ? undefined : this.ensureOpen(target, pass);
    if (current) this.leave(current, key, next, group !== undefined, pass);
    if (next) {
      this.touch(next, pass);
      next.members.add(key);
      this.memberOf.set(key, next.incident.id);
    }
  }

  /** The incident key a subject belongs in now, given the one it is in. */
  private targetOf(rec: SubjectRecord, currentKey: IncidentKey | null, now: number): IncidentKey | null {
    if (isFailing(rec.status)) {
      const root = rootCause(rec.key, rec.status, rec.cause)!;
      if (root !== rec.key || !rec.key.startsWith('practice:')) return root;
      const pcnKey: IncidentKey | null = rec.pcn === null ? null : `pcn:${rec.pcn}`;
      // Failing locally: stay in its own, its PCN's or the estate's incident; join an open estate or PCN incident.
      if (currentKey !== null && (currentKey === rec.key || currentKey === pcnKey || currentKey === ENDPOINTS_KEY)) return currentKey;
      if (this.openByKey.has(ENDPOINTS_KEY)) return ENDPOINTS_KEY;
      if (pcnKey !== null && this.openByKey.has(pcnKey)) return pcnKey;
      // Nothing to join yet: its own incident only once its group wait is over.
      return this.waiting(rec, now) ? null : rec.key;
    }
    return isHeld(rec.status) ? currentKey : null;
  }

  private ensureOpen(key: IncidentKey, pass: Pass): Tracked {
    const existing = this.openByKey.get(key);
    if (existing !== undefined) return this.incidents.get(existing)!;
    const id = this.nextId();
    if (this.incidents.has(id)) throw new Error(`incident id ${id} from the sequence is already in use`);
    const kind = kindOf(key);
    const incident: Incident = {
      id,
      key,
      kind,
      title: '',
      finding: null,
      status: 'open',
      // Pulse's own trouble is never an outage of anything it watches.
      severity: kind === 'pulse' ? 'degraded' : 'down',
      openedAt: pass.now,
      resolvedAt: null,
      affected: [],
      peakAffected: 0,
      subjects: [],
      timeline: [],
      references: [],
    };
    const t = newTracked(incident, pass.now);
    this.incidents.set(id, t);
    this.openByKey.set(key, id);
    pass.opened.add(id);
    pass.touched.set(id, { tracked: t, timelineFrom: 0, referencesFrom: 0, signature: '', severity: incident.severity });
    return t;
  }

  private leave(from: Tracked, key: SubjectKey, to: Tracked | undefined, grouped: boolean, pass: Pass): void {
    this.touch(from, pass);
    from.members.delete(key);
    this.memberOf.delete(key);
    const id = from.incident.id;
    if (!to) {
      pass.recovered.add(id);
      return;
    }
    const moved = pass.movedTo.get(id) ?? new Set<number>();
    moved.add(to.incident.id);
    pass.movedTo.set(id, moved);
    const folds = from.incident.kind === 'practice' || (from.incident.kind === 'pcn' && to.incident.kind === 'endpoints');
    if (grouped && folds && !pass.groupedInto.has(id)) {
      pass.groupedInto.set(id, to.incident.id);
      pass.groupedFrom.set(to.incident.id, [...(pass.groupedFrom.get(to.incident.id) ?? []), id]);
      from.incident.timeline.push({ at: pass.now, type: 'grouped', text: groupedInto(to.incident.id, to.incident.kind, this.nameFor(to.incident.key)) });
    }
  }

  private setSelf(reason: string | null, pass: Pass): void {
    const id = this.openByKey.get(SELF_KEY);
    const open = id === undefined ? undefined : this.incidents.get(id)!;
    if (reason === null) {
      if (open) {
        this.touch(open, pass);
        this.resolve(open, pass);
      }
      return;
    }
    const self = open ?? this.ensureOpen(SELF_KEY, pass);
    this.touch(self, pass);
    self.incident.finding = reason;
  }

  // ---- after placement ----------------------------------------------------------------

  private finalise(pass: Pass): void {
    const byId = () => [...pass.touched.keys()].sort((a, b) => a - b);
    for (const id of byId()) this.settle(pass.touched.get(id)!.tracked, pass);
    this.descriptions?.describeDue(pass, (id) => this.incidents.get(id), (t) => this.touch(t, pass));
    for (const id of byId()) this.word(pass.touched.get(id)!.tracked, pass);
  }

  /** Resolves an incident left empty; brings the lists and severity of the others up to date. */
  private settle(tracked: Tracked, pass: Pass): void {
    const incident = tracked.incident;
    if (incident.status !== 'open') return;
    if (incident.kind === 'pulse') {
      if (this.openByKey.get(incident.key) !== incident.id) this.resolve(tracked, pass);
      return;
    }
    if (tracked.members.size === 0) {
      this.resolve(tracked, pass);
      return;
    }
    const members = [...tracked.members].sort();
    const statuses = members.map((k) => this.subjects.get(k)?.status);
    const severity: IncidentSeverity | null = statuses.includes('down') ? 'down' : statuses.includes('degraded') ? 'degraded' : null;
    if (severity) incident.severity = severity;
    incident.subjects = members;
    incident.affected = members.filter((k) => k.startsWith('practice:')).map((k) => k.slice('practice:'.length));
    incident.peakAffected = Math.max(incident.peakAffected, incident.affected.length);
    const byIcb = new Map<string, number>();
    for (const ods of incident.affected) {
      const icb = this.icbOf(ods);
      if (icb !== undefined) byIcb.set(icb, (byIcb.get(icb) ?? 0) + 1);
    }
    if (byIcb.size > 0) {
      const peaks = (incident.peakByIcb ??= {});
      for (const [icb, n] of byIcb) peaks[icb] = Math.max(peaks[icb] ?? 0, n);
    }
    this.descriptions?.watch(tracked);
  }

  /** The title, and the timeline entries an opening or a severity change writes at once. */
  private word(tracked: Tracked, pass: Pass): void {
    const incident = tracked.incident;
    const id = incident.id;
    if (incident.status !== 'open') return;
    incident.title = tracked.describedTitle ?? titleOf(incident, {
      name: this.nameFor(incident.key),
      members: () => [...tracked.members].flatMap((k) => this.subjects.get(k) ?? []),
      own: this.subjects.get(incident.key as SubjectKey),
    });
    const count = incident.affected.length;
    if (pass.opened.has(id)) {
      incident.timeline.push({ at: pass.now, type: 'opened', text: incident.title, ...(incident.kind === 'pulse' ? {} : { count }) });
      tracked.loggedCount = count;
      tracked.loggedAt = pass.now;
      const from = pass.groupedFrom.get(id);
      if (from) {
        const list = from.map((old) => `#${old} (${this.incidents.get(old)!.incident.affected.join(', ')})`).join(', ');
        incident.timeline.push({ at: pass.now, type: 'grouped', text: `took over ${list}` });
      }
      if (incident.finding !== null) findingLog.write(tracked, pass.now);
    } else if (incident.severity !== pass.touched.get(id)!.severity) {
      incident.timeline.push({ at: pass.now, type: 'severity', text: `severity ${incident.severity} (was ${pass.touched.get(id)!.severity})` });
    }
    for (const [pending, log] of [[this.pending, affectedLog], [this.findingPending, findingLog]] as const) {
      if (log.differs(tracked)) pending.add(id);
      else pending.delete(id);
    }
  }

  private resolve(tracked: Tracked, pass: Pass): void {
    const incident = tracked.incident;
    const id = incident.id;
    incident.status = 'resolved';
    incident.resolvedAt = pass.now;
    if (this.openByKey.get(incident.key) === id) this.openByKey.delete(incident.key);
    this.pending.delete(id);
    this.findingPending.delete(id);
    this.descriptions?.forget(id);
    pass.resolved.add(id);
    const moved = pass.movedTo.get(id);
    const text = resolvedText(incident, pass.now, pass.groupedInto.get(id), moved && !pass.recovered.has(id) ? [...moved] : undefined);
    incident.timeline.push({ at: pass.now, type: 'resolved', text });
    this.resolvedOrder.push(id);
  }

  /** Writes the latest value of a coalesced log once its interval since the last entry has passed. */
  private flush(pending: Set<number>, log: CoalescedLog, pass: Pass): void {
    for (const id of [...pending].sort((a, b) => a - b)) {
      const tracked = this.incidents.get(id)!;
      if (!log.differs(tracked)) {
        pending.delete(id);
        continue;
      }
      if (pass.now - log.lastAt(tracked) < this.coalesceMs) continue;
      this.touch(tracked, pass);
      log.write(tracked, pass.now);
      pending.delete(id);
    }
  }

  private emit(pass: Pass): IncidentEvent[] {
    const events: IncidentEvent[] = [];
    for (const id of [...pass.touched.keys()].sort((a, b) => a - b)) {
      const { tracked, timelineFrom, referencesFrom, signature } = pass.touched.get(id)!;
      const incident = tracked.incident;
      if (pass.opened.has(id)) events.push({ type: 'opened', incident: summary(incident) });
      else if (pass.resolved.has(id)) events.push({ type: 'resolved', incident: summary(incident) });
      else if (signatureOf(incident) !== signature) events.push({ type: 'updated', incident: summary(incident) });
      for (let seq = timelineFrom; seq < incident.timeline.length; seq++) {
        events.push({ type: 'timeline', id, seq, entry: { ...incident.timeline[seq]! } });
      }
      for (let seq = referencesFrom; seq < incident.references.length; seq++) {
        events.push({ type: 'reference', id, seq, reference: { ...incident.references[seq]! } });
      }
    }
    this.evictResolved();
    return events;
  }

  // ---- helpers ------------------------------------------------------------------------

  private touch(tracked: Tracked, pass: Pass): void {
    const id = tracked.incident.id;
    if (pass.touched.has(id)) return;
    pass.touched.set(id, {
      tracked,
      timelineFrom: tracked.incident.timeline.length,
      referencesFrom: tracked.incident.references.length,
      signature: signatureOf(tracked.incident),
      severity: tracked.incident.severity,
    });
  }

  private incidentOf(key: SubjectKey): Tracked | undefined {
    const id = this.memberOf.get(key);
    return id === undefined ? undefined : this.incidents.get(id);
  }

  private isLocalFailure(rec: SubjectState): boolean {
    return rec.key.startsWith('practice:') && rootCause(rec.key, rec.status, rec.cause) === rec.key;
  }

  /**
   * Practices failing locally and when their failure started, as the grouping rules count
   * it: a member of a practice or PCN incident from when that incident opened (what a
   * restart can know), any other from when it began failing on its own checks. Due: in an
   * incident already, or its group wait is over.
   */
  private *localFailures(now: number): Iterable<LocalFailure> {
    for (const key of this.localFailing) {
      const rec = this.subjects.get(key)!;
      const current = this.incidentOf(key);
      const since = current && (current.incident.kind === 'practice' || current.incident.kind === 'pcn') ? current.incident.openedAt : (rec.localSince ?? now);
      yield { key, pcn: rec.pcn, since, due: (current !== undefined && isLocalKind(current.incident.kind)) || !this.waiting(rec, now) };
    }
  }

  /** Whether a practice failing on its own checks is still inside its group wait (see the rules above). */
  private waiting(rec: SubjectRecord, now: number): boolean {
    return rec.localSince !== null && now < rec.localSince + this.rules.groupWaitMs;
  }

  private localSince(prev: SubjectRecord | undefined, rec: SubjectRecord, now: number): number | null {
    if (this.isLocalFailure(rec)) {
      if (prev?.localSince != null) return prev.localSince;
      const member = this.incidentOf(rec.key);
      if (member && (member.incident.key === rec.key || member.incident.kind === 'pcn' || member.incident.kind === 'endpoints')) return member.incident.openedAt;
      return now;
    }
    return isHeld(rec.status) ? (prev?.localSince ?? null) : null;
  }

  private nameFor(key: IncidentKey): string {
    return this.nameOf(key) ?? (key.startsWith('pcn:') ? undefined : this.subjects.get(key as SubjectKey)?.name) ?? key.slice(key.indexOf(':') + 1);
  }

  private evictResolved(): void {
    while (this.resolvedOrder.length > this.retainResolved) {
      const id = this.resolvedOrder.shift()!;
      if (this.incidents.get(id)?.incident.status === 'resolved') this.incidents.delete(id);
    }
  }
}
