// The practice manager's view in plain words: what is wrong, where, and since when. Pure
// presentation of what the server sent: it never decides a status, it only says the one it
// is given in words a practice manager reads at a glance.
import type { PracticeView, ServiceView } from '../../server/live/protocol';
import type { StatusLevel } from '../../server/status/types';
import { UK_TIME_ZONE, dayTime } from '../lib/view';

/** How alarming a sentence is; the page maps it to an NHS tag or card colour. */
export type Tone = 'good' | 'info' | 'warning' | 'bad';

export interface Situation {
  /** One sentence, e.g. "EMIS Web is down across the region — not a problem at your practice". */
  headline: string;
  /** Further sentences (other failing checks), possibly none. */
  more: string[];
  tone: Tone;
}

export const STATUS_TONE: Record<StatusLevel, Tone> = {
  down: 'bad',
  unknown: 'warning',
  suspected: 'warning',
  degraded: 'warning',
  recovering: 'info',
  maintenance: 'info',
  up: 'good',
};

/** The NHS tag colour for each tone (every pair is WCAG AA in nhsuk-frontend). */
export const TONE_TAG: Record<Tone, string> = {
  good: 'nhsuk-tag--green',
  info: 'nhsuk-tag--blue',
  warning: 'nhsuk-tag--yellow',
  bad: 'nhsuk-tag--red',
};

const SERVICE_STATE: Record<StatusLevel, string> = {
  down: 'is down',
  degraded: 'is slow or only partly working',
  suspected: 'may be having problems (not yet confirmed)',
  unknown: 'cannot be checked at the moment',
  recovering: 'is recovering',
  maintenance: 'is in planned maintenance',
  up: 'has had problems',
};

const SERVICE_WHERE: Record<ServiceView['kind'], string> = {
  'clinical-system': 'across the region',
  national: 'nationally',
  network: 'across the NHS network',
};

/** What a check of the practice's own is doing, by the practice's status. */
const CHECK_STATE: Record<StatusLevel, string> = {
  down: 'is not responding',
  degraded: 'is slow',
  suspected: 'may not be responding (Pulse is checking again)',
  unknown: 'has not been checked recently',
  recovering: 'is responding again (Pulse is confirming)',
  maintenance: 'is in planned maintenance',
  up: 'is working',
};

/** "Your practice's gateway", "Your practice's workstations", or "The check X" for a check not the practice's own. */
export function checkSubject(checkId: string, ods: string): string {
  const prefix = `${ods}-`;
  if (!checkId.startsWith(prefix)) return `The check ${checkId}`;
  const what = checkId.slice(prefix.length);
  if (what === 'fleet') return "Your practice's workstations";
  return `Your practice's ${what.replace(/-/g, ' ')}`;
}

/** A check's short name for headings: "Gateway", "Workstations", "Clinical server". */
export function checkName(checkId: string, ods: string): string {
  const subject = checkSubject(checkId, ods);
  const name = subject.replace(/^Your practice's /, '');
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export interface FleetCounts {
  agents: number;
  silent: number;
  reporting: number;
}

/**
 * Workstation counts from the fleet check's detail as the server words it ("14 of 20
 * workstations silent (70%)…", "all 20 workstations reporting"); null when it says neither.
 */
export function fleetCounts(detail: string): FleetCounts | null {
  const all = /^all (\d+) workstations? reporting/.exec(detail);
  if (all) {
    const agents = Number(all[1]);
    return { agents, silent: 0, reporting: agents };
  }
  const some = /^(\d+) of (\d+) workstations? silent/.exec(detail);
  if (some) {
    const silent = Number(some[1]);
    const agents = Number(some[2]);
    return { agents, silent, reporting: agents - silent };
  }
  return null;
}

/** One part of a `checks` cause in words. */
function checkPartInWords(part: string, ods: string, status: StatusLevel): string {
  const reported = /^reported (down|degraded) by (.+?) at (\d\d:\d\d) UTC(?:: (.*))?$/s.exec(part);
  if (reported) {
    const note = reported[4] ? `: “${reported[4]}”` : '';
    return `Your practice reported itself ${reported[1] === 'down' ? 'down' : 'having problems'} (${reported[2]}, ${reported[3]} UTC)${note}`;
  }
  const check = /^check ([^:]+): (.*)$/s.exec(part);
  if (!check) return part;
  const [, id, detail] = check as unknown as [string, string, string];
  if (id === `${ods}-fleet`) {
    const counts = fleetCounts(detail);
    if (counts) return `${counts.silent} of ${counts.agents} of your practice's workstations have stopped reporting`;
    if (detail.startsWith('no workstation')) return "None of your practice's workstations is reporting";
  }
  return `${checkSubject(id, ods)} ${CHECK_STATE[status]}`;
}

/** A `checks` cause split into its parts; a part's own detail may itself contain "; ". */
function causeParts(cause: string): string[] {
  return cause.split(/; (?=check |reported (?:down|degraded) by )/);
}

/**
 * The practice's situation in plain words, from its status and one-line cause:
 * `upstream: emis-web` (EMIS Web down) → "EMIS Web is down across the region — not a problem
 * at your practice"; `check A81001-gateway: …` → "Your practice's gateway is not responding".
 */
export function situation(practice: Pick<PracticeView, 'ods' | 'status' | 'cause'>, services: Readonly<Record<string, ServiceView>>): Situation {
  const { ods, status, cause } = practice;
  const tone = STATUS_TONE[status];
  if (cause === null) {
    if (status === 'up') return { headline: 'Your practice is working normally', more: [], tone };
    if (status === 'unknown') return { headline: 'Pulse has no recent results for your practice, so its status is unknown', more: [], tone };
    return { headline: `Your practice's status is ${status}`, more: [], tone };
  }
  const upstream = /^upstream: (.+)$/.exec(cause);
  if (upstream) {
    const id = upstream[1]!;
    const service = services[id];
    if (!service) return { headline: `A service your practice depends on (${id}) has a problem — not a problem at your practice`, more: [], tone };
    return {
      headline: `${service.name} ${SERVICE_STATE[service.status]} ${SERVICE_WHERE[service.kind]} — not a problem at your practice`,
      more: [],
      tone,
    };
  }
  const maintenance = /^maintenance until (\S+): (.*)$/s.exec(cause);
  if (maintenance) {
    const until = new Date(maintenance[1]!);
    const when = Number.isNaN(until.getTime()) ? maintenance[1] : dayTime(until.getTime());
    return { headline: `Planned maintenance until ${when}: ${maintenance[2]}`, more: [], tone };
  }
  const parts = causeParts(cause).map((part) => checkPartInWords(part, ods, status));
  return { headline: parts[0]!, more: parts.slice(1), tone };
}

/** "less than a minute", "1 minute", "2 hours 5 minutes", "3 days 4 hours". */
export function durationInWords(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return 'less than a minute';
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? plural(hours, 'hour') : `${plural(hours, 'hour')} ${plural(minutes % 60, 'minute')}`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? plural(days, 'day') : `${plural(days, 'day')} ${plural(hours % 24, 'hour')}`;
}

const hhmm = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });
const dayHhmm = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });
const ukDay = new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: 'numeric', day: 'numeric', timeZone: UK_TIME_ZONE });

/** "since 14:05 (40 minutes)"; a day and date when it began on another day. Null when unreadable. */
export function sinceInWords(since: string, now: number): string | null {
  const at = new Date(since);
  if (Number.isNaN(at.getTime())) return null;
  const sameDay = ukDay.format(new Date(now)) === ukDay.format(at);
  return `since ${(sameDay ? hhmm : dayHhmm).format(at)} (${durationInWords(now - at.getTime())})`;
}

/** Availability as a percentage with one decimal ("99.5%"), or "no data". */
export function percentInWords(availability: number | null): string {
  if (availability === null || !Number.isFinite(availability)) return 'no data';
  const percent = Math.floor(availability * 1000) / 10;
  return `${percent}%`;
}
