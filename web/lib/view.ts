// How statuses the server sent are put into words, shapes and order on screen. Presentation
// only: it never decides a status, it labels the one it is given.
import type { IncidentView, PracticeView, ProbesState, ServiceView } from '../../server/live/protocol';
import type { Mode, StatusLevel } from '../../server/status/types';
import type { BackupReasonCode } from '../../server/backup/types';

/** Worst first, as in the status engine; a Record so a new level cannot be forgotten here. */
const RANK: Record<StatusLevel, number> = { down: 0, unknown: 1, suspected: 2, degraded: 3, recovering: 4, maintenance: 5, up: 6 };

export const STATUS_ORDER = (Object.keys(RANK) as StatusLevel[]).sort((a, b) => RANK[a] - RANK[b]);

export const STATUS_LABEL: Record<StatusLevel, string> = {
  down: 'Down',
  unknown: 'Unknown',
  suspected: 'Suspected',
  degraded: 'Degraded',
  recovering: 'Recovering',
  maintenance: 'Maintenance',
  up: 'Up',
};

/** A shape for each level, so status never rests on colour alone. */
export const STATUS_ICON: Record<StatusLevel, string> = {
  down: '✕',
  unknown: '?',
  suspected: '⚠',
  degraded: '!',
  recovering: '↑',
  maintenance: '⚙',
  up: '✓',
};

export function worstFirst(a: PracticeView, b: PracticeView): number {
  return RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name, 'en-GB') || a.ods.localeCompare(b.ods);
}

export function sortPractices(practices: Iterable<PracticeView>): PracticeView[] {
  return [...practices].sort(worstFirst);
}

/** A service's display name from its id, falling back to the id itself. */
export function serviceName(id: string, services: Readonly<Record<string, ServiceView>>): string {
  return services[id]?.name ?? id;
}

const SERVICE_IS: Record<StatusLevel, string> = {
  down: 'is down',
  unknown: 'status is unknown',
  suspected: 'may be down (not yet confirmed)',
  degraded: 'is degraded',
  recovering: 'is recovering',
  maintenance: 'is in maintenance',
  up: 'is up',
};

/**
 * The cause in plain words where we can say it safely: `upstream: emis-web` becomes
 * "EMIS Web is down" (the service's status as the server reports it). Anything else is
 * shown as the server wrote it. The raw text stays available to the caller.
 */
export function causeInWords(cause: string | null, services: Readonly<Record<string, ServiceView>>): string | null {
  if (cause === null) return null;
  const upstream = /^upstream: (.+)$/.exec(cause);
  if (!upstream?.[1]) return cause;
  const service = services[upstream[1]];
  if (!service) return `Depends on ${upstream[1]}`;
  if (service.status === 'up') return `Caused by ${service.name}`;
  return `${service.name} ${SERVICE_IS[service.status]}`;
}

/**
 * The NHS in England works in UK time, so every time on screen is Europe/London (GMT or BST)
 * whatever zone the display's own clock is set to (a wall PC or kiosk is often left on UTC).
 */
export const UK_TIME_ZONE = 'Europe/London';

const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });

/** HH:MM:SS in UK time; an em dash when there is no time yet. */
export function clockTime(at: string | number | null): string {
  if (at === null) return '—';
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? '—' : clock.format(date);
}

const shortClock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: UK_TIME_ZONE });

/** HH:MM in UK time; an em dash when the time cannot be read. */
export function shortTime(at: string | number): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? '—' : shortClock.format(date);
}

const SEVERITY_RANK: Record<IncidentView['severity'], number> = { down: 0, degraded: 1 };

/**
 * True for an incident in the estate; false for Pulse's own (kind `pulse`: Pulse's monitoring
 * is impaired). Pulse's own incident affects no practice: it is never counted or styled as an
 * outage of the practices.
 */
export function isEstateIncident(incident: Pick<IncidentView, 'kind'>): boolean {
  return incident.kind !== 'pulse';
}

/** Open incidents worst first, then the newest first; Pulse's own incident after the estate's. */
export function sortIncidents(incidents: Iterable<IncidentView>): IncidentView[] {
  const rank = (i: IncidentView) => (isEstateIncident(i) ? 0 : 1);
  return [...incidents].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      Date.parse(b.openedAt) - Date.parse(a.openedAt) ||
      b.id - a.id,
  );
}

/** What an incident is about, in words; a Record so a new kind cannot be forgotten here. */
export const INCIDENT_SCOPE: Record<IncidentView['kind'], string> = {
  service: 'A service practices depend on',
  practice: 'One practice',
  pcn: 'Practices in one PCN',
  endpoints: 'Workstations across the estate',
  pulse: 'Pulse itself',
};

/**
 * The scope label a list shows beside an incident's title: only for the kinds whose title does
 * not already say where (a service's or a practice's title names it).
 */
export function incidentScopeLabel(kind: IncidentView['kind']): string | null {
  return kind === 'endpoints' || kind === 'pulse' ? INCIDENT_SCOPE[kind] : null;
}

/** Said wherever Pulse's own incident or impairment is shown. */
export const NOT_AN_OUTAGE = 'this is not an outage of the practices';

/** A banner about Pulse's own trouble, in words: headline, the server's reason, what it means. */
export interface ProbesNotice {
  kind: 'quiet' | 'impaired';
  headline: string;
  /** The server's reason, verbatim; null when it gave none. */
  why: string | null;
  /** What it means for what is on screen. */
  meaning: string;
}

/**
 * What to tell everyone about Pulse's own probes, or null when there is nothing to say.
 * `quiet`: results have stopped (statuses are going stale). `impaired`: Pulse cannot judge
 * everything it watches; what it cannot judge is already Unknown, so nothing is greyed out.
 */
export function probesNotice(probes: ProbesState, impaired: string | null): ProbesNotice | null {
  if (probes === 'quiet') {
    return {
      kind: 'quiet',
      headline: "Pulse's own probes have stopped reporting",
      why: null,
      meaning: "Statuses are not being refreshed. Check Pulse's probe workers.",
    };
  }
  if (probes === 'impaired') {
    const why = impaired?.trim().replace(/\.+$/, '') || null;
    return {
      kind: 'impaired',
      headline: "Pulse's own monitoring is impaired",
      why,
      meaning: `What it cannot judge is shown as Unknown — ${NOT_AN_OUTAGE}.`,
    };
  }
  return null;
}

/** The notice as one sentence (for screen readers and titles). */
export function probesSentence(notice: ProbesNotice): string {
  return `${notice.headline}${notice.why ? `: ${notice.why}` : ''}. ${notice.meaning}`;
}

export const ROLE_LABEL: Record<'ops' | 'manager' | 'viewer', string> = {
  ops: 'Operations',
  manager: 'Practice manager',
  viewer: 'Viewer',
};

/** A server message as a sentence: "wrong username or password" → "Wrong username or password". */
export function sentence(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** A practice's backup mode in words; a Record so a new mode cannot be forgotten here. */
export const MODE_LABEL: Record<Mode, string> = {
  normal: 'Normal',
  entering: 'Entering backup',
  backup: 'Backup mode',
  leaving: 'Leaving backup',
};

/** A shape for each mode, shown beside its word (never colour alone). */
export const MODE_ICON: Record<Mode, string> = {
  normal: '',
  entering: '▶',
  backup: '■',
  leaving: '◀',
};

/** The reason codes a person picks from when switching backup mode, in words. */
export const REASON_LABEL: Record<BackupReasonCode, string> = {
  'clinical-system-down': 'Clinical system down',
  'workstations-down': 'Workstations down',
  'network-down': 'Network down',
  'reported-by-practice': 'Reported by the practice',
  planned: 'Planned',
  recovered: 'Recovered',
  other: 'Other',
};

export const REASON_CODES = Object.keys(REASON_LABEL) as BackupReasonCode[];

/** "1 practice" / "3 practices". */
export function practicesCount(n: number): string {
  return n === 1 ? '1 practice' : `${n} practices`;
}

const dateTime = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
  timeZone: UK_TIME_ZONE,
});

/** "27 Nov, 14:05" in UK time; an em dash when missing or unreadable. */
export function dayTime(at: string | number | null): string {
  if (at === null) return '—';
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? '—' : dateTime.format(date);
}

const ukFields = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  timeZone: UK_TIME_ZONE,
});

/** An instant as the value of an `<input type="datetime-local">` read in UK time ("2026-07-01T13:00"). */
export function ukInputValue(at: number): string {
  const parts: Record<string, string> = {};
  for (const part of ukFields.formatToParts(new Date(at))) parts[part.type] = part.value;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * A `datetime-local` value typed in UK time as an instant (ms); NaN when it is not one. In the
 * autumn's repeated hour it is the first (BST) one; a time in spring's skipped hour reads as GMT.
 */
export function fromUkInputValue(value: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::\d\d(?:\.\d+)?)?$/.exec(value);
  if (!m) return NaN;
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  const typed = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}`;
  // The UK is an hour ahead of UTC (BST) or on it (GMT).
  for (const ahead of [60, 0]) {
    const at = wall - ahead * 60_000;
    if (ukInputValue(at) === typed) return at;
  }
  return ukInputValue(wall).slice(0, 10) === typed.slice(0, 10) ? wall : NaN;
}

/** What the console may offer someone: the server decides, this only hides what it would refuse. */
export type Offer = 'backup.switch' | 'backup.bulk' | 'maintenance.write' | 'incident.annotate';

/**
 * Whether to offer `what` to a person with this role (and, for a manager, these practices).
 * `ods`: the practice it is about, for `backup.switch`.
 */
export function offers(user: { role: 'ops' | 'manager' | 'viewer'; practices: readonly string[] } | null, what: Offer, ods?: string): boolean {
  if (user === null) return false;
  switch (what) {
    case 'backup.switch':
      return user.role === 'ops' || (user.role === 'manager' && ods !== undefined && user.practices.includes(ods));
    case 'incident.annotate':
      return user.role === 'ops' || user.role === 'manager';
    case 'backup.bulk':
    case 'maintenance.write':
      return user.role === 'ops';
  }
}
