import { describe, expect, it } from 'vitest';
import type { IncidentView, PracticeView, ServiceView } from '../../server/live/protocol';
import {
  INCIDENT_SCOPE,
  MODE_ICON,
  NOT_AN_OUTAGE,
  incidentScopeLabel,
  isEstateIncident,
  offers,
  probesNotice,
  probesSentence,
  MODE_LABEL,
  REASON_CODES,
  causeInWords,
  clockTime,
  dayTime,
  fromUkInputValue,
  practicesCount,
  shortTime,
  sortIncidents,
  sortPractices,
  ukInputValue,
} from '../../web/lib/view';

function practice(ods: string, name: string, status: PracticeView['status']): PracticeView {
  return { ods, name, pcn: 'PCN', icb: null, system: 'emis-web', status, cause: null, mode: 'normal', since: '2026-05-01T08:00:00Z' };
}

const services: Record<string, ServiceView> = {
  'emis-web': { id: 'emis-web', name: 'EMIS Web', kind: 'clinical-system', status: 'down', cause: null, since: '2026-05-01T08:00:00Z', practicesAffected: 3 },
  spine: { id: 'spine', name: 'Spine (PDS)', kind: 'national', status: 'up', cause: null, since: '2026-05-01T08:00:00Z', practicesAffected: 0 },
};

describe('practice order', () => {
  it('puts the worst first (down, unknown, degraded, maintenance, up), then by name', () => {
    const sorted = sortPractices([
      practice('A1', 'Zeta', 'up'),
      practice('A2', 'Alpha', 'maintenance'),
      practice('A3', 'Beta', 'down'),
      practice('A4', 'Alpha', 'down'),
      practice('A5', 'Gamma', 'degraded'),
      practice('A6', 'Delta', 'unknown'),
      practice('A7', 'Alpha', 'up'),
    ]);
    expect(sorted.map((p) => p.ods)).toEqual(['A4', 'A3', 'A6', 'A5', 'A2', 'A7', 'A1']);
  });
});

describe('cause in words', () => {
  it('names the upstream service and its reported status', () => {
    expect(causeInWords('upstream: emis-web', services)).toBe('EMIS Web is down');
  });
  it('does not claim a service is down when the server says it is up', () => {
    expect(causeInWords('upstream: spine', services)).toBe('Caused by Spine (PDS)');
  });
  it('keeps unknown services and check causes as the server wrote them', () => {
    expect(causeInWords('upstream: vision', services)).toBe('Depends on vision');
    expect(causeInWords('check A81001-gateway: status 503, expected 200', services)).toBe(
      'check A81001-gateway: status 503, expected 200',
    );
    expect(causeInWords(null, services)).toBeNull();
  });
});

describe('clock time', () => {
  it('is HH:MM:SS, 24-hour, in UK time', () => {
    expect(clockTime('2026-05-01T13:03:09Z')).toBe('14:03:09');
    expect(clockTime(null)).toBe('—');
  });
});

describe('open incidents', () => {
  const incident = (id: number, severity: IncidentView['severity'], openedAt: string): IncidentView => ({
    id,
    key: `practice:A${id}`,
    kind: 'practice',
    title: `Incident ${id}`,
    finding: null,
    status: 'open',
    severity,
    openedAt,
    resolvedAt: null,
    affected: 1,
  });

  it('lists down before degraded, then the newest first', () => {
    const sorted = sortIncidents([
      incident(1, 'degraded', '2026-05-01T09:30:00Z'),
      incident(2, 'down', '2026-05-01T08:00:00Z'),
      incident(3, 'down', '2026-05-01T09:00:00Z'),
    ]);
    expect(sorted.map((i) => i.id)).toEqual([3, 2, 1]);
  });

  it('puts Pulse’s own incident after every estate incident, whatever its severity or age', () => {
    const pulse: IncidentView = { ...incident(9, 'down', '2026-05-01T10:00:00Z'), key: 'pulse:self', kind: 'pulse' };
    const sorted = sortIncidents([pulse, incident(1, 'degraded', '2026-05-01T08:00:00Z'), incident(2, 'down', '2026-05-01T09:00:00Z')]);
    expect(sorted.map((i) => i.id)).toEqual([2, 1, 9]);
    expect(isEstateIncident(pulse)).toBe(false);
    expect(isEstateIncident({ kind: 'endpoints' })).toBe(true);
  });

  it('says where an incident is when its title does not: workstations across the estate, or Pulse itself', () => {
    expect(incidentScopeLabel('endpoints')).toBe('Workstations across the estate');
    expect(incidentScopeLabel('pulse')).toBe('Pulse itself');
    expect(incidentScopeLabel('service')).toBeNull();
    expect(incidentScopeLabel('practice')).toBeNull();
    expect(Object.keys(INCIDENT_SCOPE).sort()).toEqual(['endpoints', 'pcn', 'practice', 'pulse', 'service']);
  });

  it('shows when an incident opened as HH:MM, 24-hour', () => {
    expect(shortTime('2026-05-01T13:03:09Z')).toBe('14:03');
    expect(shortTime('not a time')).toBe('—');
  });
});

describe('backup mode and reasons in words', () => {
  it('labels every mode and gives each non-normal mode a shape', () => {
    expect(MODE_LABEL).toEqual({ normal: 'Normal', entering: 'Entering backup', backup: 'Backup mode', leaving: 'Leaving backup' });
    expect(new Set([MODE_ICON.entering, MODE_ICON.backup, MODE_ICON.leaving]).size).toBe(3);
  });
  it('offers the reason codes the server accepts', () => {
    expect(REASON_CODES).toEqual(['clinical-system-down', 'workstations-down', 'network-down', 'reported-by-practice', 'planned', 'recovered', 'other']);
  });
  it('counts practices in words, and dates with day and time', () => {
    expect(practicesCount(1)).toBe('1 practice');
    expect(practicesCount(0)).toBe('0 practices');
    expect(dayTime('2026-11-27T09:05:00Z')).toBe('27 Nov, 09:05');
    expect(dayTime(null)).toBe('—');
    expect(dayTime('nonsense')).toBe('—');
  });
});

describe('times are UK time, whatever zone the display runs in', () => {
  // This machine (and many a wall PC or kiosk) runs on UTC; the NHS works in GMT/BST.
  it('shows a summer (BST) instant an hour ahead of UTC, and a winter one as GMT', () => {
    expect(dayTime('2026-07-01T12:00:00Z')).toBe('1 Jul, 13:00');
    expect(shortTime('2026-07-01T23:30:00Z')).toBe('00:30');
    expect(clockTime('2026-07-01T12:00:05Z')).toBe('13:00:05');
    expect(dayTime('2026-01-15T12:00:00Z')).toBe('15 Jan, 12:00');
  });
  it('fills a datetime-local field in UK time and reads it back as the same instant', () => {
    expect(ukInputValue(Date.parse('2026-07-01T12:00:00Z'))).toBe('2026-07-01T13:00');
    expect(ukInputValue(Date.parse('2026-01-15T12:00:00Z'))).toBe('2026-01-15T12:00');
    expect(fromUkInputValue('2026-07-01T13:00')).toBe(Date.parse('2026-07-01T12:00:00Z'));
    expect(fromUkInputValue('2026-01-15T12:00')).toBe(Date.parse('2026-01-15T12:00:00Z'));
    expect(fromUkInputValue('2026-07-01T13:00:00')).toBe(Date.parse('2026-07-01T12:00:00Z'));
  });
  it('reads the clock-change hours sensibly and refuses what is not a time', () => {
    // 25 Oct 2026: 01:30 happens twice; the first is BST.
    expect(fromUkInputValue('2026-10-25T01:30')).toBe(Date.parse('2026-10-25T00:30:00Z'));
    // 29 Mar 2026: 01:30 never happens; read as GMT (02:30 BST).
    expect(fromUkInputValue('2026-03-29T01:30')).toBe(Date.parse('2026-03-29T01:30:00Z'));
    expect(fromUkInputValue('')).toBeNaN();
    expect(fromUkInputValue('2026-02-30T10:00')).toBeNaN();
    expect(fromUkInputValue('tomorrow')).toBeNaN();
  });
});

describe('what the console offers', () => {
  const ops = { role: 'ops' as const, practices: [] };
  const manager = { role: 'manager' as const, practices: ['A81001'] };
  const viewer = { role: 'viewer' as const, practices: [] };
  it('offers bulk switches and maintenance to ops only', () => {
    expect([ops, manager, viewer].map((u) => offers(u, 'backup.bulk'))).toEqual([true, false, false]);
    expect([ops, manager, viewer].map((u) => offers(u, 'maintenance.write'))).toEqual([true, false, false]);
    expect(offers(null, 'backup.bulk')).toBe(false);
  });
  it('offers a manager the backup switch of their own practices only', () => {
    expect(offers(manager, 'backup.switch', 'A81001')).toBe(true);
    expect(offers(manager, 'backup.switch', 'B82001')).toBe(false);
    expect(offers(ops, 'backup.switch', 'B82001')).toBe(true);
    expect(offers(viewer, 'backup.switch', 'A81001')).toBe(false);
  });
  it('offers notes to ops and managers, not viewers', () => {
    expect([ops, manager, viewer].map((u) => offers(u, 'incident.annotate'))).toEqual([true, true, false]);
  });
});

describe('Pulse’s own trouble in words', () => {
  it('says nothing while Pulse sees (or is starting)', () => {
    expect(probesNotice('ok', null)).toBeNull();
    expect(probesNotice('starting', null)).toBeNull();
    expect(probesNotice('ok', 'left over')).toBeNull();
  });

  it('says Pulse is impaired, why in the server’s words, and that it is not an outage of the practices', () => {
    const notice = probesNotice('impaired', "Pulse's probes in local are overloaded: 4.6 s behind.")!;
    expect(notice.kind).toBe('impaired');
    expect(notice.why).toBe("Pulse's probes in local are overloaded: 4.6 s behind");
    expect(probesSentence(notice)).toBe(
      "Pulse's own monitoring is impaired: Pulse's probes in local are overloaded: 4.6 s behind. What it cannot judge is shown as Unknown — this is not an outage of the practices.",
    );
    expect(notice.meaning).toContain(NOT_AN_OUTAGE);
  });

  it('still says it when the server gave no reason', () => {
    expect(probesSentence(probesNotice('impaired', null)!)).toBe(
      "Pulse's own monitoring is impaired. What it cannot judge is shown as Unknown — this is not an outage of the practices.",
    );
  });

  it('tells quiet (results stopped) apart from impaired', () => {
    const quiet = probesNotice('quiet', null)!;
    expect(quiet.kind).toBe('quiet');
    expect(quiet.headline).toBe("Pulse's own probes have stopped reporting");
    expect(quiet.headline).not.toBe(probesNotice('impaired', null)!.headline);
  });
});
