// Shared builders for the incident tests: subject states, causes, a tracker with a counter
// for ids, and a fold of events into the rows a store would hold.
import { IncidentTracker, type IncidentTrackerOptions } from '../../../server/incidents/tracker';
import type { Incident, IncidentEvent, IncidentKey, SubjectState } from '../../../server/incidents/types';
import type { Cause, StatusLevel } from '../../../server/status/types';

export const NAMES: Record<string, string> = {
  'service:emis-web': 'EMIS Web',
  'service:hscn': 'HSCN',
  'service:systmone': 'SystmOne',
  'service:nhs111-online': 'NHS 111 online',
};

export function checks(id: string, detail: string, status: StatusLevel = 'down'): Cause {
  return { kind: 'checks', checks: [{ id, status, detail }] };
}

/** An upstream chain, nearest first: `upstream('emis-web', 'hscn')` = EMIS Web ← HSCN (own checks). */
export function upstream(...services: string[]): Cause {
  let via: Cause | null = checks(`${services[services.length - 1]}-api`, 'connection refused');
  for (const service of [...services].reverse()) via = { kind: 'upstream', service, impact: 'critical', status: 'down', via };
  return via!;
}

export function practice(ods: string, status: StatusLevel, cause: Cause | null, pcn: string | null = 'Leeds Central PCN', name = `Practice ${ods}`): SubjectState {
  return { key: `practice:${ods}`, status, cause, pcn, name };
}

export function service(id: string, status: StatusLevel, cause: Cause | null = null): SubjectState {
  return { key: `service:${id}`, status, cause, pcn: null, name: NAMES[`service:${id}`] ?? id };
}

export const odsList = (n: number, prefix = 'A8') => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);

export function counter(start = 0): () => number {
  let n = start;
  return () => ++n;
}

export function makeTracker(options: Partial<IncidentTrackerOptions> = {}): IncidentTracker {
  return new IncidentTracker({ nextId: counter(), nameOf: (key: IncidentKey) => NAMES[key], ...options });
}

/**
 * A tracker without the group wait (`groupWaitMs: 0`): a practice failing on its own opens
 * its incident in the update that says so. For tests about something else than the wait.
 */
export function trackerAtOnce(options: Partial<IncidentTrackerOptions> = {}): IncidentTracker {
  return makeTracker({ groupWaitMs: 0, ...options });
}

/** What a store holds after applying events in order: the reference model for persistence. */
export class EventFold {
  readonly incidents = new Map<number, Incident>();

  apply(events: IncidentEvent[]): void {
    for (const e of events) {
      if (e.type === 'opened' || e.type === 'updated' || e.type === 'resolved') {
        const prev = this.incidents.get(e.incident.id);
        if (e.type === 'opened' && prev) throw new Error(`incident #${e.incident.id} opened twice`);
        if (e.type !== 'opened' && !prev) throw new Error(`incident #${e.incident.id} ${e.type} before it was opened`);
        this.incidents.set(e.incident.id, {
          ...structuredClone(e.incident),
          timeline: prev?.timeline ?? [],
          references: prev?.references ?? [],
        });
      } else {
        const incident = this.incidents.get(e.id);
        if (!incident) throw new Error(`${e.type} for unknown incident #${e.id}`);
        const list: unknown[] = e.type === 'timeline' ? incident.timeline : incident.references;
        if (e.seq !== list.length) throw new Error(`${e.type} #${e.id} seq ${e.seq}, expected ${list.length}`);
        list.push(structuredClone(e.type === 'timeline' ? e.entry : e.reference));
      }
    }
  }

  open(): Incident[] {
    return [...this.incidents.values()].filter((i) => i.status === 'open').sort((a, b) => a.id - b.id);
  }
}
