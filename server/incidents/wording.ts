// How incidents read: titles, the words for a grouping, durations. Pure and deterministic —
// it is given the incident and the states of its members, and never decides membership.
import { REPORT_CHECK_ID, causeText } from '../status/types';
import { isFailing } from './rootCause';
import type { Incident, IncidentKind, SubjectState } from './types';

export const SELF_TITLE = "Pulse's own monitoring is impaired";

export interface TitleContext {
  /** Display name of the incident's key (a service, a PCN, a practice). */
  name: string;
  /** The latest known state of each of its members (practices and services); asked only where the title needs them. */
  members: () => SubjectState[];
  /** The practice's own state, for a practice incident. */
  own?: SubjectState | undefined;
}

/** The title the tracker gives an incident when `describe` has not given one. */
export function titleOf(incident: Incident, ctx: TitleContext): string {
  const n = incident.affected.length;
  switch (incident.kind) {
    case 'service':
      return `${ctx.name} ${incident.severity}${n > 0 ? ` — ${plural(n, 'practice')}` : ''}`;
    case 'pcn':
      return `Suspected common cause in ${ctx.name} — ${plural(n, 'practice')} failing locally`;
    case 'endpoints':
      return endpointsTitle(ctx.members());
    case 'pulse':
      return SELF_TITLE;
    case 'practice': {
      const rec = ctx.own;
      const ods = incident.key.slice('practice:'.length);
      if (rec && isFailing(rec.status)) return `${rec.name} (${ods}) ${incident.severity}: ${causeText(rec.cause) ?? 'own checks failing'}`;
      return incident.title || `${rec?.name ?? ods} (${ods}) ${incident.severity}`;
    }
  }
}

/** The signal a failing check of a practice's own gives, in words. */
type Signal = 'workstations silent' | 'gateways not answering' | 'reported by the practice';

function signalOf(checkId: string): Signal {
  if (checkId.endsWith('-fleet')) return 'workstations silent';
  if (checkId === REPORT_CHECK_ID) return 'reported by the practice';
  return 'gateways not answering';
}

/**
 * `Workstations silent and gateways not answering across 40 practices in 9 PCNs`: the
 * signals its failing practices show, most common first (a fleet check is `<ODS>-fleet`;
 * any other own check of a practice is its gateway or local services).
 */
export function endpointsTitle(members: SubjectState[]): string {
  const practices = members.filter((m) => m.key.startsWith('practice:'));
  const pcns = new Set(practices.flatMap((m) => (m.pcn === null ? [] : [m.pcn])));
  const seen = new Map<Signal, number>();
  for (const m of practices) {
    if (!isFailing(m.status) || m.cause?.kind !== 'checks') continue;
    const signals = new Set(m.cause.checks.filter((c) => c.status !== 'up').map((c) => signalOf(c.id)));
    for (const s of signals) seen.set(s, (seen.get(s) ?? 0) + 1);
  }
  const order: Signal[] = ['workstations silent', 'gateways not answering', 'reported by the practice'];
  const signals = [...seen.keys()].sort((a, b) => seen.get(b)! - seen.get(a)! || order.indexOf(a) - order.indexOf(b));
  const what = signals.length > 0 ? capitalise(signals.join(' and ')) : 'Practices failing on their own checks';
  return `${what} across ${plural(practices.length, 'practice')} in ${plural(pcns.size, 'PCN')}`;
}

/** Why an incident was folded into a bigger one, as its timeline says it. */
export function groupedInto(id: number, kind: IncidentKind, name: string): string {
  const why = kind === 'endpoints' ? 'practices failing together across the estate' : `suspected common cause in ${name}`;
  return `grouped into incident #${id}: ${why}`;
}

/**
 * Why an incident resolved: folded into a bigger one, its members now part of others, or
 * recovered (with how long it lasted and, for groups, how many practices at worst).
 */
export function resolvedText(incident: Incident, now: number, groupedIntoId: number | undefined, movedTo: number[] | undefined): string {
  if (groupedIntoId !== undefined) return `resolved: grouped into incident #${groupedIntoId}`;
  if (movedTo) return `resolved: now part of incident ${movedTo.map((m) => `#${m}`).join(', ')}`;
  const text = `resolved after ${duration(now - incident.openedAt)}`;
  return incident.kind === 'practice' || incident.kind === 'pulse' ? text : `${text}; peak ${plural(incident.peakAffected, 'practice')} affected`;
}

export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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
