// Groups status changes into incidents by root cause, so an outage of one service is one
// incident listing every practice it affects, not an alarm storm of one per practice.
// In memory and deterministic: the clock and the id sequence are passed in, and every
// change comes back as events for the caller to persist. It never stores, sends or renders.
//
// Rules (Alertmanager-style grouping, with its lesson: whatever is grouped must still resolve):
// - A subject that is down or degraded belongs to exactly one open incident, keyed by its
//   root cause (see rootCause.ts); practices failing on their own checks are grouped into
//   one `pcn:<pcn>` incident when enough of one PCN start failing within a window.
// - A member that is `recovering`, `suspected` or `unknown` stays where it is (never opens
//   anything): an incident is not declared over before recovery is confirmed, nor because
//   the data went missing. `up`, `maintenance` or a different root cause take it out.
// - An incident with no members left is resolved at once.
import type { SubjectKey } from '../status/engine';
import { causeText, type StatusLevel } from '../status/types';
import { isFailing, rootCause } from './rootCause';
import {
  noteInput,
  referenceInput,
  type AnnotateResult,
  type Incident,
  type IncidentErrorCode,
  type IncidentEvent,
  type IncidentKey,
  type IncidentKind,
  type IncidentSeverity,
  type IncidentSummary,
  type NoteInput,
  type ReferenceInput,
  type ReferenceSystem,
  type SubjectState,
} from './types';

export interface IncidentTrackerOptions {
  /** The next incident id; the store's sequence. */
  nextId(): number;
  /** Display name of a service or PCN key (e.g. `service:emis-web` → `EMIS Web`); falls back to the id. */
  nameOf?(key: IncidentKey): string | undefined;
  /** Practices of one PCN failing locally that make a suspected common cause. Default 3. */
  pcnThreshold?: number;
  /** …if they all started failing within this long. Default 10 minutes. */
  pcnWindowMs?: number;
  /** At most one `affected` timeline entry per incident this often. Default 60 s. */
  affectedCoalesceMs?: number;
  /** Resolved incidents kept in memory for `get` and post-incident notes. Default 500. */
  retainResolved?: number;
}

interface SubjectRecord extends SubjectState {
  /** When it began failing on its own checks (practices), kept while it is held; else null. */
  localSince: number | null;
}

interface Tracked {
  incident: Incident;
  members: Set<SubjectKey>;
  /** The count in the latest `opened`/`affected` entry, and when it was written. */
  loggedCount: number;
  loggedAt: number;
}

/** What one update or annotation touched, so exactly its changes become events. */
class Pass {
  readonly touched = new Map<number, { tracked: Tracked; timelineFrom: number; referencesFrom: number; signature: string }>();
  readonly opened = new Set<number>();
  readonly resolved = new Set<number>();
  /** Incidents that lost a member to recovery (up or maintenance). */
  readonly recovered = new Set<number>();
  readonly movedTo = new Map<number, Set<number>>();
  readonly groupedInto = new Map<number, number>();
  readonly groupedFrom = new Map<number, number[]>();
  constructor(readonly now: number) {}
}

const SYSTEM_LABEL: Record<ReferenceSystem, string> = {
  'service-desk': 'IT service desk',
  supplier: 'Supplier',
  other: 'Other',
};

export class IncidentTracker {
  private readonly nextId: () => number;
  private readonly nameOf: (key: IncidentKey) => string | undefined;
  private readonly pcnThreshold: number;
  private readonly pcnWindowMs: number;
  private readonly coalesceMs: number;
  private readonly retainResolved: number;

  /** Open incidents and the most recently resolved ones, by id. */
  private readonly incidents = new Map<number, Tracked>();
  private readonly openByKey = new Map<IncidentKey, number>();
  private readonly memberOf = new Map<SubjectKey, number>();
  private readonly subjects = new Map<SubjectKey, SubjectRecord>();
  private readonly byPcn = new Map<string, Set<SubjectKey>>();
  /** Open incidents whose affected count differs from the one last written to the timeline. */
  private readonly pending = new Set<number>();
  private resolvedOrder: number[] = [];
  /** After a restore: subjects to re-place, and incidents left empty, on the next update. */
  private readonly unplaced = new Set<SubjectKey>();
  private readonly orphans = new Set<number>();

  constructor(options: IncidentTrackerOptions) {
    this.nextId = options.nextId;
    this.nameOf = options.nameOf ?? (() => undefined);
    this.pcnThreshold = options.pcnThreshold ?? 3;
    this.pcnWindowMs = options.pcnWindowMs ?? 10 * 60_000;
    this.coalesceMs = options.affectedCoalesceMs ?? 60_000;
    this.retainResolved = options.retainResolved ?? 500;
  }

  /**
   * Folds in the subjects whose status or cause changed (any others may be included: an
   * unchanged state changes nothing) and returns what to persist. Call it on every tick,
   * with an empty list when nothing changed, so coalesced `affected` entries are written.
   */
  update(now: number, changed: SubjectState[]): IncidentEvent[] {
    const pass = new Pass(now);
    const toPlace = new Set<SubjectKey>(this.unplaced);
    this.unplaced.clear();
    for (const id of this.orphans) this.touch(this.incidents.get(id)!, pass);
    this.orphans.clear();
    for (const key of toPlace) {
      const rec = this.subjects.get(key)!;
      if (rec.localSince === null && this.isLocalFailure(rec)) rec.localSince = now;
    }

    const localPcns = new Set<string>();
    for (const state of changed) {
      const prev = this.subjects.get(state.key);
      const rec: SubjectRecord = { key: state.key, status: state.status, cause: state.cause, pcn: state.pcn, name: state.name, localSince: null };
      rec.localSince = this.localSince(prev, rec, now);
      this.index(prev, rec);
      this.subjects.set(rec.key, rec);
      toPlace.add(rec.key);
      if (rec.pcn !== null && this.isLocalFailure(rec)) localPcns.add(rec.pcn);
    }

    // A suspected common cause: enough practices of one PCN started failing locally within the window.
    const grouping = new Map<SubjectKey, IncidentKey>();
    for (const pcn of [...localPcns].sort()) {
      const key: IncidentKey = `pcn:${pcn}`;
      if (this.openByKey.has(key)) continue;
      const since = now - this.pcnWindowMs;
      const starting = [...(this.byPcn.get(pcn) ?? [])].filter((k) => {
        const rec = this.subjects.get(k)!;
        return this.isLocalFailure(rec) && rec.localSince !== null && rec.localSince >= since;
      });
      if (starting.length < this.pcnThreshold) continue;
      for (const k of starting) {
        grouping.set(k, key);
        toPlace.add(k);
      }
    }

    for (const key of [...toPlace].sort()) this.place(key, grouping.get(key), pass);
    this.finalise(pass);
    this.flushAffected(pass);
    return this.emit(pass);
  }

  /** Adds a note by a person; allowed on open and (retained) resolved incidents. */
  addNote(id: number, input: NoteInput, now: number): AnnotateResult {
    const tracked = this.incidents.get(id);
    if (!tracked) return fail('INCIDENT_NOT_FOUND', notFound(id));
    const parsed = noteInput.safeParse(input);
    if (!parsed.success) return invalid('INVALID_NOTE', 'note', parsed.error.issues[0]!);
    const pass = new Pass(now);
    this.touch(tracked, pass);
    tracked.incident.timeline.push({ at: now, type: 'note', text: parsed.data.text, by: parsed.data.by });
    return { ok: true, incident: copy(tracked.incident), events: this.emit(pass) };
  }

  /** Records an IT service desk or supplier incident number on an open incident. Adding one twice is a no-op. */
  addReference(id: number, input: ReferenceInput, now: number): AnnotateResult {
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
    incident.references.push({ system, reference, by, at: now });
    incident.timeline.push({ at: now, type: 'reference', text: `${SYSTEM_LABEL[system]} reference ${reference}`, by });
    return { ok: true, incident: copy(incident), events: this.emit(pass) };
  }

  /**
   * Carries on after a restart: the open incidents as stored (same ids, timelines and
   * members), the latest known state of subjects, and optionally recently resolved
   * incidents (for `get` and post-incident notes). Emits nothing; the next `update`
   * reconciles — a member now up leaves (and its incident resolves), a failing subject
   * in no incident joins or opens one, held members stay. Nothing is reopened or duplicated.
   */
  restore(open: Incident[], subjects: SubjectState[], resolved: Incident[] = []): void {
    this.incidents.clear();
    this.openByKey.clear();
    this.memberOf.clear();
    this.subjects.clear();
    this.byPcn.clear();
    this.pending.clear();
    this.unplaced.clear();
    this.orphans.clear();
    this.resolvedOrder = [];

    const byResolution = resolved
      .filter((i) => i.status === 'resolved')
      .sort((a, b) => (a.resolvedAt ?? 0) - (b.resolvedAt ?? 0) || a.id - b.id);
    for (const incident of byResolution) {
      this.incidents.set(incident.id, { incident: copy(incident), members: new Set(), loggedCount: 0, loggedAt: 0 });
      this.resolvedOrder.push(incident.id);
    }
    this.evictResolved();

    for (const stored of [...open].filter((i) => i.status === 'open').sort((a, b) => a.id - b.id)) {
      const incident = copy(stored);
      const logged = [...incident.timeline].reverse().find((e) => e.count !== undefined);
      const tracked: Tracked = {
        incident,
        members: new Set(),
        loggedCount: logged?.count ?? incident.affected.length,
        loggedAt: logged?.at ?? incident.openedAt,
      };
      this.incidents.set(incident.id, tracked);
      // Drift (two open incidents for one cause or one subject): the first keeps it; an
      // incident left with no members is resolved on the next update.
      if (!this.openByKey.has(incident.key)) this.openByKey.set(incident.key, incident.id);
      else this.orphans.add(incident.id);
      for (const key of incident.subjects) {
        if (this.memberOf.has(key) || this.orphans.has(incident.id)) continue;
        tracked.members.add(key);
        this.memberOf.set(key, incident.id);
      }
      if (tracked.members.size === 0) this.orphans.add(incident.id);
      if (incident.affected.length !== tracked.loggedCount) this.pending.add(incident.id);
    }

    for (const state of subjects) {
      const rec: SubjectRecord = { ...state, localSince: null };
      const member = this.incidentOf(rec.key);
      if (this.isLocalFailure(rec) && member && (member.incident.key === rec.key || member.incident.kind === 'pcn')) {
        rec.localSince = member.incident.openedAt;
      }
      this.index(this.subjects.get(rec.key), rec);
      this.subjects.set(rec.key, rec);
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
    this.incidents.set(incident.id, { incident: copy(incident), members: new Set(), loggedCount: 0, loggedAt: 0 });
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
    const target = group ?? this.targetOf(rec, current?.incident.key ?? null);
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
  private targetOf(rec: SubjectRecord, currentKey: IncidentKey | null): IncidentKey | null {
    if (isFailing(rec.status)) {
      const root = rootCause(rec.key, rec.status, rec.cause)!;
      if (root !== rec.key || !rec.key.startsWith('practice:')) return root;
      const pcnKey: IncidentKey | null = rec.pcn === null ? null : `pcn:${rec.pcn}`;
      // Failing locally: stay in its own or its PCN's incident; join an open PCN incident.
      if (currentKey !== null && (currentKey === rec.key || currentKey === pcnKey)) return currentKey;
      if (pcnKey !== null && this.openByKey.has(pcnKey)) return pcnKey;
      return rec.key;
    }
    return isHeld(rec.status) ? currentKey : null;
  }

  private ensureOpen(key: IncidentKey, pass: Pass): Tracked {
    const existing = this.openByKey.get(key);
    if (existing !== undefined) return this.incidents.get(existing)!;
    const id = this.nextId();
    if (this.incidents.has(id)) throw new Error(`incident id ${id} from the sequence is already in use`);
    const incident: Incident = {
      id,
      key,
      kind: kindOf(key),
      title: '',
      status: 'open',
      severity: 'down',
      openedAt: pass.now,
      resolvedAt: null,
      affected: [],
      peakAffected: 0,
      subjects: [],
      timeline: [],
      references: [],
    };
    const tracked: Tracked = { incident, members: new Set(), loggedCount: 0, loggedAt: pass.now };
    this.incidents.set(id, tracked);
    this.openByKey.set(key, id);
    pass.opened.add(id);
    pass.touched.set(id, { tracked, timelineFrom: 0, referencesFrom: 0, signature: '' });
    return tracked;
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
    if (grouped && from.incident.kind === 'practice' && !pass.groupedInto.has(id)) {
      pass.groupedInto.set(id, to.incident.id);
      pass.groupedFrom.set(to.incident.id, [...(pass.groupedFrom.get(to.incident.id) ?? []), id]);
      from.incident.timeline.push({
        at: pass.now,
        type: 'grouped',
        text: `grouped into incident #${to.incident.id}: suspected common cause in ${this.nameFor(to.incident.key)}`,
      });
    }
  }

  // ---- after placement ----------------------------------------------------------------

  private finalise(pass: Pass): void {
    for (const id of [...pass.touched.keys()].sort((a, b) => a - b)) {
      const tracked = pass.touched.get(id)!.tracked;
      const incident = tracked.incident;
      if (incident.status !== 'open') continue;
      if (tracked.members.size === 0) {
        this.resolve(tracked, pass);
        continue;
      }
      const members = [...tracked.members].sort();
      const statuses = members.map((k) => this.subjects.get(k)?.status);
      const severity: IncidentSeverity | null = statuses.includes('down') ? 'down' : statuses.includes('degraded') ? 'degraded' : null;
      const before = incident.severity;
      if (severity) incident.severity = severity;
      incident.subjects = members;
      incident.affected = members.filter((k) => k.startsWith('practice:')).map((k) => k.slice('practice:'.length));
      incident.peakAffected = Math.max(incident.peakAffected, incident.affected.length);
      incident.title = this.titleOf(incident);
      const count = incident.affected.length;
      if (pass.opened.has(id)) {
        incident.timeline.push({ at: pass.now, type: 'opened', text: incident.title, count });
        tracked.loggedCount = count;
        tracked.loggedAt = pass.now;
        const from = pass.groupedFrom.get(id);
        if (from) {
          const list = from.map((old) => `#${old} (${this.incidents.get(old)!.incident.affected.join(', ')})`).join(', ');
          incident.timeline.push({ at: pass.now, type: 'grouped', text: `took over ${list}` });
        }
      } else if (incident.severity !== before) {
        incident.timeline.push({ at: pass.now, type: 'severity', text: `severity ${incident.severity} (was ${before})` });
      }
      if (count !== tracked.loggedCount) this.pending.add(id);
      else this.pending.delete(id);
    }
  }

  private resolve(tracked: Tracked, pass: Pass): void {
    const incident = tracked.incident;
    const id = incident.id;
    incident.status = 'resolved';
    incident.resolvedAt = pass.now;
    if (this.openByKey.get(incident.key) === id) this.openByKey.delete(incident.key);
    this.pending.delete(id);
    pass.resolved.add(id);
    const grouped = pass.groupedInto.get(id);
    const moved = pass.movedTo.get(id);
    let text: string;
    if (grouped !== undefined) text = `resolved: grouped into incident #${grouped}`;
    else if (moved && !pass.recovered.has(id)) text = `resolved: now part of incident ${[...moved].map((m) => `#${m}`).join(', ')}`;
    else {
      text = `resolved after ${duration(pass.now - incident.openedAt)}`;
      if (incident.kind !== 'practice') text += `; peak ${plural(incident.peakAffected, 'practice')} affected`;
    }
    incident.timeline.push({ at: pass.now, type: 'resolved', text });
    this.resolvedOrder.push(id);
  }

  /** Writes the latest affected count once the coalescing interval since the last one has passed. */
  private flushAffected(pass: Pass): void {
    for (const id of [...this.pending].sort((a, b) => a - b)) {
      const tracked = this.incidents.get(id)!;
      const count = tracked.incident.affected.length;
      if (count === tracked.loggedCount) {
        this.pending.delete(id);
        continue;
      }
      if (pass.now - tracked.loggedAt < this.coalesceMs) continue;
      this.touch(tracked, pass);
      tracked.incident.timeline.push({
        at: pass.now,
        type: 'affected',
        text: `${plural(count, 'practice')} affected (was ${tracked.loggedCount})`,
        count,
      });
      tracked.loggedCount = count;
      tracked.loggedAt = pass.now;
      this.pending.delete(id);
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
    });
  }

  private incidentOf(key: SubjectKey): Tracked | undefined {
    const id = this.memberOf.get(key);
    return id === undefined ? undefined : this.incidents.get(id);
  }

  private isLocalFailure(rec: SubjectState): boolean {
    return rec.key.startsWith('practice:') && rootCause(rec.key, rec.status, rec.cause) === rec.key;
  }

  private localSince(prev: SubjectRecord | undefined, rec: SubjectRecord, now: number): number | null {
    if (this.isLocalFailure(rec)) {
      if (prev?.localSince != null) return prev.localSince;
      const member = this.incidentOf(rec.key);
      if (member && (member.incident.key === rec.key || member.incident.kind === 'pcn')) return member.incident.openedAt;
      return now;
    }
    return isHeld(rec.status) ? (prev?.localSince ?? null) : null;
  }

  private index(prev: SubjectRecord | undefined, rec: SubjectRecord): void {
    if (prev && prev.pcn === rec.pcn) return;
    if (prev?.pcn != null) this.byPcn.get(prev.pcn)?.delete(prev.key);
    if (rec.pcn !== null && rec.key.startsWith('practice:')) {
      const set = this.byPcn.get(rec.pcn) ?? new Set<SubjectKey>();
      set.add(rec.key);
      this.byPcn.set(rec.pcn, set);
    }
  }

  private nameFor(key: IncidentKey): string {
    return this.nameOf(key) ?? (key.startsWith('pcn:') ? undefined : this.subjects.get(key as SubjectKey)?.name) ?? key.slice(key.indexOf(':') + 1);
  }

  private titleOf(incident: Incident): string {
    const n = incident.affected.length;
    switch (incident.kind) {
      case 'service':
        return `${this.nameFor(incident.key)} ${incident.severity}${n > 0 ? ` — ${plural(n, 'practice')}` : ''}`;
      case 'pcn':
        return `Suspected common cause in ${this.nameFor(incident.key)} — ${plural(n, 'practice')} failing locally`;
      case 'practice': {
        const rec = this.subjects.get(incident.key as SubjectKey);
        const ods = incident.key.slice('practice:'.length);
        if (rec && isFailing(rec.status)) return `${rec.name} (${ods}) ${incident.severity}: ${causeText(rec.cause) ?? 'own checks failing'}`;
        return incident.title || `${rec?.name ?? ods} (${ods}) ${incident.severity}`;
      }
    }
  }

  private evictResolved(): void {
    while (this.resolvedOrder.length > this.retainResolved) {
      const id = this.resolvedOrder.shift()!;
      if (this.incidents.get(id)?.incident.status === 'resolved') this.incidents.delete(id);
    }
  }
}

/** Statuses that keep a subject in the incident it is in, but never put it in one. */
function isHeld(status: StatusLevel): boolean {
  return status === 'recovering' || status === 'suspected' || status === 'unknown';
}

function kindOf(key: IncidentKey): IncidentKind {
  return key.startsWith('pcn:') ? 'pcn' : key.startsWith('service:') ? 'service' : 'practice';
}

function signatureOf(i: Incident): string {
  return [i.title, i.severity, i.status, i.peakAffected, i.affected.join(','), i.subjects.join(',')].join('|');
}

function summary(i: Incident): IncidentSummary {
  const { timeline: _t, references: _r, ...rest } = i;
  return { ...rest, affected: [...i.affected], subjects: [...i.subjects] };
}

function copy(i: Incident): Incident {
  return {
    ...summary(i),
    timeline: i.timeline.map((e) => ({ ...e })),
    references: i.references.map((r) => ({ ...r })),
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h`. */
export function duration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${Math.floor(hours / 24)} d`;
}

function notFound(id: number): string {
  return `incident #${id} not found (an older resolved incident must be loaded from the store and passed to remember() first)`;
}

function fail(code: IncidentErrorCode, message: string): AnnotateResult {
  return { ok: false, error: { code, message } };
}

function invalid(code: IncidentErrorCode, what: string, issue: { path: PropertyKey[]; message: string }): AnnotateResult {
  const field = issue.path.map(String).join('.') || what;
  return { ok: false, error: { code, field, message: `${what} ${field}: ${issue.message}` } };
}
