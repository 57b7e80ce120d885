// What Pulse found about an incident's cause (the software the silent workstations share,
// what impairs Pulse itself) goes in the audit log too: it is evidence an ICB may be asked
// for. This module decides which findings to write (each new one once per incident; Pulse's
// own incident only when it opens, since its reason changes by the second) and writes them.
// It must never change an incident, never write anything but `incident.finding` entries, and
// never keep an incident after it resolved (the map holds open incidents only).
import type { AccountStore } from '../auth/types';
import { SELF_KEY, type IncidentEvent, type IncidentKey } from './types';

/** A finding to put in the audit log. */
export interface FindingToAudit {
  id: number;
  key: IncidentKey;
  finding: string;
}

/** The finding last written to the audit log, per open incident: each new one is audited once. */
export class FindingAudit {
  private readonly audited = new Map<number, string>();

  /** Whether this event brings a finding to audit (and, if so, counts it as audited); a resolution forgets the incident. */
  take(e: IncidentEvent): FindingToAudit | null {
    if (e.type !== 'opened' && e.type !== 'updated' && e.type !== 'resolved') return null;
    const { id, key, finding } = e.incident;
    if (e.type === 'resolved') {
      this.audited.delete(id);
      return null;
    }
    // Pulse's own reason changes by the second ("its event loop runs 1.3 s late"): its opening is audited, not each figure.
    if (finding === null || (this.audited.has(id) && (key === SELF_KEY || this.audited.get(id) === finding))) return null;
    this.audited.set(id, finding);
    return { id, key, finding };
  }
}

/** Writes each new finding in `events` to the audit log, in order, as the system. */
export function findingAuditor(deps: { accounts: Pick<AccountStore, 'appendAudit'>; now: () => number }): (events: IncidentEvent[]) => Promise<void> {
  const audit = new FindingAudit();
  return async (events) => {
    for (const e of events) {
      const found = audit.take(e);
      if (!found) continue;
      const { id, key, finding } = found;
      await deps.accounts.appendAudit({ at: deps.now(), actor: 'system', action: 'incident.finding', subject: `incident:${id}`, detail: { key, finding } });
    }
  };
}
