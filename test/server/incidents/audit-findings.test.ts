import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../../server/auth/types';
import { FindingAudit, findingAuditor } from '../../../server/incidents/audit-findings';
import type { IncidentEvent, IncidentKey, IncidentSummary } from '../../../server/incidents/types';

function summary(id: number, key: IncidentKey, finding: string | null): IncidentSummary {
  return {
    id,
    key,
    kind: key === 'pulse:self' ? 'pulse' : 'pcn',
    title: `incident ${id}`,
    finding,
    status: 'open',
    severity: 'down',
    openedAt: 0,
    resolvedAt: null,
    affected: [],
    peakAffected: 0,
    subjects: [],
  };
}
const ev = (type: 'opened' | 'updated' | 'resolved', id: number, key: IncidentKey, finding: string | null): IncidentEvent => ({
  type,
  incident: { ...summary(id, key, finding), ...(type === 'resolved' ? { status: 'resolved' as const } : {}) },
});

const PCN: IncidentKey = 'pcn:Leeds Central PCN';
const SHARE = '9 of 10 silent workstations share \\\\fs01\\emis';

describe('FindingAudit', () => {
  it('audits a finding once, however often the incident is updated with it', () => {
    const audit = new FindingAudit();
    expect(audit.take(ev('opened', 1, PCN, SHARE))).toEqual({ id: 1, key: PCN, finding: SHARE });
    expect(audit.take(ev('updated', 1, PCN, SHARE))).toBeNull();
    expect(audit.take(ev('updated', 1, PCN, SHARE))).toBeNull();
  });

  it('audits a new finding on the same incident', () => {
    const audit = new FindingAudit();
    audit.take(ev('opened', 1, PCN, SHARE));
    expect(audit.take(ev('updated', 1, PCN, 'EMIS 9.3 on every silent workstation'))).toEqual({ id: 1, key: PCN, finding: 'EMIS 9.3 on every silent workstation' });
  });

  it("audits Pulse's own incident only when its first finding arrives, not each new figure", () => {
    const audit = new FindingAudit();
    expect(audit.take(ev('opened', 2, 'pulse:self', "Pulse's server: its event loop runs 1.3 s late"))).not.toBeNull();
    expect(audit.take(ev('updated', 2, 'pulse:self', "Pulse's server: its event loop runs 1.4 s late"))).toBeNull();
  });

  it('skips events without a finding and timeline entries', () => {
    const audit = new FindingAudit();
    expect(audit.take(ev('opened', 3, PCN, null))).toBeNull();
    expect(audit.take({ type: 'timeline', id: 3, seq: 1, entry: { type: 'note', at: 0, text: 'x', by: 'a' } })).toBeNull();
    // A finding arriving later is still its first.
    expect(audit.take(ev('updated', 3, PCN, SHARE))).not.toBeNull();
  });

  it('forgets an incident when it resolves: the same id and finding are audited again', () => {
    const audit = new FindingAudit();
    audit.take(ev('opened', 4, 'pulse:self', 'stalled'));
    expect(audit.take(ev('resolved', 4, 'pulse:self', 'stalled'))).toBeNull();
    expect(audit.take(ev('opened', 4, 'pulse:self', 'stalled'))).toEqual({ id: 4, key: 'pulse:self', finding: 'stalled' });
  });
});

describe('findingAuditor', () => {
  it('writes each new finding as a system incident.finding entry, at the time of writing', async () => {
    const written: AuditInput[] = [];
    let now = 1_000;
    const audit = findingAuditor({ accounts: { appendAudit: async (e) => (written.push(e), { ...e, id: written.length } as never) }, now: () => now });
    await audit([ev('opened', 1, PCN, SHARE), ev('updated', 1, PCN, SHARE)]);
    now = 2_000;
    await audit([ev('updated', 1, PCN, SHARE), ev('opened', 2, 'pulse:self', 'stalled')]);
    expect(written).toEqual([
      { at: 1_000, actor: 'system', action: 'incident.finding', subject: 'incident:1', detail: { key: PCN, finding: SHARE } },
      { at: 2_000, actor: 'system', action: 'incident.finding', subject: 'incident:2', detail: { key: 'pulse:self', finding: 'stalled' } },
    ]);
  });
});
