// The practice manager's view: its words, its backup-mode decisions of presentation, the
// backlog's order and the shaping of chart data. Pure functions, no browser.
import { describe, expect, it } from 'vitest';
import type { ServiceView } from '../../server/live/protocol';
import {
  actionStateInWords,
  actionsInFlight,
  backlogCounts,
  backupRefreshDue,
  backlogNext,
  backlogTotal,
  BACKLOG_ORDER,
  countDown,
  leaveSuggestion,
  modeInWords,
  parseBacklog,
  showsBacklog,
  suggestedReason,
  switchDirection,
  switchFormErrors,
  type ActionView,
  type TransitionView,
} from '../../web/practice/backup';
import { bucketise, bucketLabel, summarise, withRecent, type MinuteSummary } from '../../web/practice/charts';
import { incidentsOf, widerIncident, type IncidentSummary } from '../../web/practice/incidents';
import { checkName, checkSubject, durationInWords, fleetCounts, percentInWords, sinceInWords, situation } from '../../web/practice/words';

const at = '2026-05-01T08:00:00Z';
const services: Record<string, ServiceView> = {
  'emis-web': { id: 'emis-web', name: 'EMIS Web', kind: 'clinical-system', status: 'down', cause: null, since: at, practicesAffected: 3 },
  spine: { id: 'spine', name: 'Spine (PDS)', kind: 'national', status: 'degraded', cause: null, since: at, practicesAffected: 0 },
  hscn: { id: 'hscn', name: 'HSCN', kind: 'network', status: 'up', cause: null, since: at, practicesAffected: 0 },
};

describe('the situation in plain words', () => {
  it('says a regional clinical-system outage is not the practice’s own problem', () => {
    const s = situation({ ods: 'A81001', status: 'down', cause: 'upstream: emis-web' }, services);
    expect(s.headline).toBe('EMIS Web is down across the region — not a problem at your practice');
    expect(s.tone).toBe('bad');
  });
  it('words a national service by where it is and what it is doing', () => {
    expect(situation({ ods: 'A81001', status: 'degraded', cause: 'upstream: spine' }, services).headline).toBe(
      'Spine (PDS) is slow or only partly working nationally — not a problem at your practice',
    );
  });
  it('names a service it does not know by its id rather than guessing', () => {
    expect(situation({ ods: 'A81001', status: 'down', cause: 'upstream: vision' }, services).headline).toContain('(vision)');
  });
  it('says the practice’s own gateway is not responding', () => {
    const s = situation({ ods: 'A81001', status: 'down', cause: 'check A81001-gateway: connection refused' }, services);
    expect(s.headline).toBe("Your practice's gateway is not responding");
  });
  it('counts silent workstations from the fleet check, keeping a detail that itself has "; "', () => {
    const s = situation(
      { ods: 'A81001', status: 'down', cause: 'check A81001-fleet: 14 of 20 workstations silent (70%), down at 50%; 2 of 20 expected never reported; check A81001-gateway: timeout' },
      services,
    );
    expect(s.headline).toBe("14 of 20 of your practice's workstations have stopped reporting");
    expect(s.more).toEqual(["Your practice's gateway is not responding"]);
  });
  it('repeats a person’s report with who and when', () => {
    const s = situation({ ods: 'A81001', status: 'down', cause: 'reported down by Jo (manager) at 09:15 UTC: phones dead' }, services);
    expect(s.headline).toBe('Your practice reported itself down (Jo (manager), 09:15 UTC): “phones dead”');
  });
  it('is calm when up and honest when unknown', () => {
    expect(situation({ ods: 'A81001', status: 'up', cause: null }, services)).toEqual({ headline: 'Your practice is working normally', more: [], tone: 'good' });
    expect(situation({ ods: 'A81001', status: 'unknown', cause: null }, services).headline).toMatch(/unknown/);
  });
  it('words planned maintenance with its reason', () => {
    expect(situation({ ods: 'A81001', status: 'maintenance', cause: 'maintenance until 2026-05-01T14:00:00.000Z: server upgrade' }, services).headline).toMatch(
      /^Planned maintenance until .+: server upgrade$/,
    );
  });
});

describe('check names and fleet counts', () => {
  it('names a practice’s own checks from their ids', () => {
    expect(checkSubject('A81001-gateway', 'A81001')).toBe("Your practice's gateway");
    expect(checkName('A81001-fleet', 'A81001')).toBe('Workstations');
    expect(checkName('A81001-clinical-server', 'A81001')).toBe('Clinical server');
    expect(checkSubject('emis-web-api', 'A81001')).toBe('The check emis-web-api');
  });
  it('reads agents reporting and silent from the server’s words, or nothing', () => {
    expect(fleetCounts('all 20 workstations reporting')).toEqual({ agents: 20, silent: 0, reporting: 20 });
    expect(fleetCounts('3 of 8 workstations silent (37.5%), degraded at 20%')).toEqual({ agents: 8, silent: 3, reporting: 5 });
    expect(fleetCounts('no workstation has reported yet')).toBeNull();
  });
});

describe('time and percentages in words', () => {
  it('says durations as a person would', () => {
    expect(durationInWords(30_000)).toBe('less than a minute');
    expect(durationInWords(60_000)).toBe('1 minute');
    expect(durationInWords(20 * 60_000)).toBe('20 minutes');
    expect(durationInWords(125 * 60_000)).toBe('2 hours 5 minutes');
    expect(durationInWords(49 * 3_600_000)).toBe('2 days 1 hour');
  });
  it('says since when, with how long', () => {
    const since = '2026-05-01T08:05:00Z';
    expect(sinceInWords(since, Date.parse('2026-05-01T08:45:00Z'))).toBe('since 09:05 (40 minutes)');
    // Same UK day though a different UTC day: 23:30 UTC on 1 July is 00:30 BST on the 2nd.
    expect(sinceInWords('2026-07-01T23:30:00Z', Date.parse('2026-07-02T08:00:00Z'))).toBe('since 00:30 (8 hours 30 minutes)');
    expect(sinceInWords('2026-07-01T22:30:00Z', Date.parse('2026-07-02T08:00:00Z'))).toBe('since Wed 1 Jul, 23:30 (9 hours 30 minutes)');
    expect(sinceInWords('nonsense', Date.now())).toBeNull();
  });
  it('never rounds an availability up to 100%', () => {
    expect(percentInWords(0.99999)).toBe('99.9%');
    expect(percentInWords(1)).toBe('100%');
    expect(percentInWords(null)).toBe('no data');
  });
});

function action(state: ActionView['state'], extra: Partial<ActionView> = {}): ActionView {
  return { key: 'k', kind: 'webhook', name: 'Phone message', direction: 'enter', state, attempts: 0, lastError: null, nextAttemptAt: null, updatedAt: at, ...extra };
}

describe('backup mode in words', () => {
  it('switches only from a settled mode', () => {
    expect(switchDirection('normal')).toBe('enter');
    expect(switchDirection('backup')).toBe('leave');
    expect(switchDirection('entering')).toBeNull();
    expect(switchDirection('leaving')).toBeNull();
  });
  it('polls while a switch runs or any action is pending or retrying, and stops once settled', () => {
    expect(actionsInFlight({ mode: 'entering', actions: [] })).toBe(true);
    expect(actionsInFlight({ mode: 'backup', actions: [action('retrying')] })).toBe(true);
    expect(actionsInFlight({ mode: 'backup', actions: [action('done'), action('failed')] })).toBe(false);
  });
  it('shows a retrying action’s attempts and last error, and a failed one’s reason', () => {
    const retrying = actionStateInWords(action('retrying', { attempts: 2, lastError: 'HTTP 503' }));
    expect(retrying.label).toBe('Retrying');
    expect(retrying.detail).toContain('2 attempts; last error: HTTP 503');
    const failed = actionStateInWords(action('failed', { attempts: 1, lastError: 'HTTP 400 Bad Request' }));
    expect([failed.label, failed.tone, failed.detail]).toEqual(['Failed', 'bad', 'HTTP 400 Bad Request (1 attempt)']);
    expect(actionStateInWords(action('done')).tone).toBe('good');
  });
  it('says who switched and suggests leaving only in backup and only when the server does', () => {
    expect(modeInWords({ mode: 'backup', since: at, enteredBy: 'jo' })).toMatch(/^In backup mode since .+, switched by jo\.$/);
    const suggestion = { suggestLeave: true, healthyForMs: 20 * 60_000 };
    expect(leaveSuggestion({ mode: 'backup', suggestion })).toBe('Your practice has been healthy for 20 minutes — leave backup mode?');
    expect(leaveSuggestion({ mode: 'leaving', suggestion })).toBeNull();
    expect(leaveSuggestion({ mode: 'backup', suggestion: { suggestLeave: false, healthyForMs: 0 } })).toBeNull();
  });
  it('suggests the reason code from the cause', () => {
    const clinical = new Set(['emis-web']);
    expect(suggestedReason('enter', { ods: 'A81001', cause: 'upstream: emis-web' }, clinical)).toBe('clinical-system-down');
    expect(suggestedReason('enter', { ods: 'A81001', cause: 'upstream: hscn' }, clinical)).toBe('network-down');
    expect(suggestedReason('enter', { ods: 'A81001', cause: 'check A81001-fleet: 9 of 10 workstations silent' }, clinical)).toBe('workstations-down');
    expect(suggestedReason('enter', { ods: 'A81001', cause: 'reported down by Jo at 09:15 UTC' }, clinical)).toBe('reported-by-practice');
    expect(suggestedReason('enter', null, clinical)).toBe('other');
    expect(suggestedReason('leave', null, clinical)).toBe('recovered');
  });
  it('refuses a switch without a reason code or reason text, or with too long a reason', () => {
    const codes = ['clinical-system-down', 'other'];
    expect(switchFormErrors({ reasonCode: null, reason: '  ' }, codes)).toEqual({ reasonCode: 'Select why you are switching', reason: 'Enter what has happened, in a few words' });
    expect(switchFormErrors({ reasonCode: 'other', reason: 'x'.repeat(501) }, codes).reason).toMatch(/500 characters or fewer/);
    expect(switchFormErrors({ reasonCode: 'bogus', reason: 'EMIS down' }, codes).reasonCode).toBeDefined();
    expect(switchFormErrors({ reasonCode: 'other', reason: 'EMIS down' }, codes)).toEqual({});
  });
});

describe('when the page reads backup mode again', () => {
  const t0 = Date.parse('2026-05-01T10:00:00Z');
  const base = { mode: 'backup' as const, actions: [] as ActionView[], policy: { autoEnterAfterMs: null, suggestLeaveAfterMs: 600_000 }, suggestion: { suggestLeave: false, healthyForMs: 0 } };
  const upSince = { status: 'up' as const, since: new Date(t0).toISOString() };
  it('reads at every tick while actions run, and not at all when normal with nothing running', () => {
    expect(backupRefreshDue({ ...base, actions: [action('pending')] }, upSince, t0, t0)).toBe(true);
    expect(backupRefreshDue({ ...base, mode: 'normal' }, upSince, t0 + 3_600_000, t0)).toBe(false);
  });
  it('reads once the leave suggestion can be due, then waits', () => {
    expect(backupRefreshDue(base, upSince, t0 + 599_000, t0 + 590_000)).toBe(false);
    expect(backupRefreshDue(base, upSince, t0 + 600_000, t0 + 590_000)).toBe(true);
    expect(backupRefreshDue(base, upSince, t0 + 602_000, t0 + 600_000)).toBe(false);
    expect(backupRefreshDue(base, { ...upSince, status: 'down' }, t0 + 602_000, t0 + 590_000)).toBe(false);
  });
  it('reads now and then in backup mode in any case', () => {
    expect(backupRefreshDue(base, null, t0 + 30_000, t0)).toBe(true);
  });
});

describe('the re-entry backlog', () => {
  it('lists urgent referrals first, then prescriptions, then consultations', () => {
    expect(BACKLOG_ORDER.map((b) => b.key)).toEqual(['urgentReferrals', 'prescriptions', 'consultations']);
  });
  it('counts down one at a time, never below zero, and says what to enter next', () => {
    let counts = backlogCounts({ urgentReferrals: 1, prescriptions: 2, consultations: 5, updatedAt: at, updatedBy: 'jo' });
    expect(backlogTotal(counts)).toBe(8);
    expect(backlogNext(counts)).toBe('urgentReferrals');
    counts = countDown(counts, 'urgentReferrals');
    expect(backlogNext(counts)).toBe('prescriptions');
    expect(countDown(counts, 'urgentReferrals').urgentReferrals).toBe(0);
    expect(backlogNext({ urgentReferrals: 0, prescriptions: 0, consultations: 0 })).toBeNull();
    expect(backlogCounts(null)).toEqual({ urgentReferrals: 0, prescriptions: 0, consultations: 0 });
  });
  it('accepts whole numbers only and names each field that is wrong', () => {
    expect(parseBacklog({ urgentReferrals: '3', prescriptions: ' 12 ', consultations: '0' })).toEqual({ ok: true, counts: { urgentReferrals: 3, prescriptions: 12, consultations: 0 } });
    const bad = parseBacklog({ urgentReferrals: '-1', prescriptions: '2.5', consultations: '' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(Object.keys(bad.errors)).toEqual(['urgentReferrals', 'prescriptions', 'consultations']);
  });
  it('appears once the practice has begun to leave backup mode, and stays once set', () => {
    const left: TransitionView = { at, from: 'leaving', to: 'normal', by: 'jo', automatic: false, reasonCode: 'recovered', reason: 'ok', evidence: { status: 'up', cause: null }, runId: 'r', bulkId: null };
    expect(showsBacklog({ mode: 'normal', backlog: null, transitions: [] })).toBe(false);
    expect(showsBacklog({ mode: 'leaving', backlog: null, transitions: [] })).toBe(true);
    expect(showsBacklog({ mode: 'normal', backlog: null, transitions: [left] })).toBe(true);
  });
});

describe('chart data', () => {
  const now = Date.parse('2026-05-01T12:07:00Z');
  const minute = (iso: string, count: number, failures: number, mean: number | null, max: number | null): MinuteSummary => ({
    minute: iso,
    count,
    failures,
    latencyMeanMs: mean,
    latencyMaxMs: max,
  });

  it('covers the whole period in fixed buckets, oldest first, with gaps left empty', () => {
    const buckets = bucketise([], '24h', now);
    expect(buckets.length).toBe(96);
    expect(buckets.at(-1)!.start).toBe(Date.parse('2026-05-01T12:00:00Z'));
    expect(buckets.every((b) => b.availability === null && b.latencyMeanMs === null)).toBe(true);
    expect(bucketise([], '7d', now).length).toBe(84);
  });
  it('weights mean latency by results, keeps the max, and counts failures into availability', () => {
    const buckets = bucketise(
      [minute('2026-05-01T12:01:00Z', 3, 0, 100, 150), minute('2026-05-01T12:02:00Z', 1, 1, 500, 900), minute('2026-04-20T12:00:00Z', 9, 9, 1, 1)],
      '24h',
      now,
    );
    const last = buckets.at(-1)!;
    expect(last).toMatchObject({ count: 4, failures: 1, latencyMeanMs: 200, latencyMaxMs: 900, availability: 0.75 });
    expect(summarise(buckets)).toEqual({ results: 4, availability: 0.75, latencyMeanMs: 200, latencyMaxMs: 900 });
  });
  it('adds the minutes only the recent raw results know yet, never counting a stored minute twice', () => {
    const merged = withRecent(
      [minute('2026-05-01T12:05:00Z', 2, 0, 100, 120)],
      [
        { at: '2026-05-01T12:05:30Z', ok: true, latencyMs: 999 },
        { at: '2026-05-01T12:06:10Z', ok: true, latencyMs: 100 },
        { at: '2026-05-01T12:06:40Z', ok: false, latencyMs: 300 },
      ],
    );
    expect(merged).toEqual([
      minute('2026-05-01T12:05:00.000Z'.replace('.000', ''), 2, 0, 100, 120),
      minute('2026-05-01T12:06:00.000Z', 2, 1, 200, 300),
    ]);
  });
  it('labels buckets by time of day, or by day over a week', () => {
    expect(bucketLabel(now, '24h')).toMatch(/^\d\d:\d\d$/);
    expect(bucketLabel(now, '7d')).toMatch(/^[A-Z][a-z]{2} \d\d:\d\d$/);
    expect(bucketLabel(Date.parse('2026-07-01T12:15:00Z'), '24h')).toBe('13:15');
    expect(bucketLabel(Date.parse('2026-07-01T12:00:00Z'), '7d')).toBe('Wed 13:00');
  });
});

describe('the practice’s incidents', () => {
  const incident = (id: number, status: 'open' | 'resolved', affected: string[], openedAt: string): IncidentSummary => ({
    id, key: `service:x${id}`, kind: 'service', title: `Incident ${id}`, finding: null, status, severity: 'down', openedAt, resolvedAt: null, affected, peakAffected: affected.length,
  });
  it('keeps only those affecting the practice, open first, newest first', () => {
    const list = incidentsOf(
      [
        incident(1, 'resolved', ['A81001'], '2026-05-01T10:00:00Z'),
        incident(2, 'open', ['A81001', 'B1'], '2026-05-01T09:00:00Z'),
        incident(3, 'open', ['B1'], '2026-05-01T11:00:00Z'),
        incident(4, 'resolved', ['A81001'], '2026-05-01T11:00:00Z'),
      ],
      'A81001',
    );
    expect(list.map((i) => i.id)).toEqual([2, 4, 1]);
  });

  const endpoints = (id: number, status: 'open' | 'resolved', affected: string[], openedAt: string): IncidentSummary => ({
    ...incident(id, status, affected, openedAt),
    key: 'estate:endpoints',
    kind: 'endpoints',
    title: 'Workstations failing across 40 practices in 9 PCNs — 70% of agents silent',
    finding: '94% of silent workstations last reported falcon-sensor 7.16.18605 (8% of healthy ones)',
  });

  it('finds the open estate-wide workstation incident the practice is part of, for its cause to link to', () => {
    const list = [
      incident(1, 'open', ['A81001'], '2026-05-01T10:00:00Z'),
      endpoints(2, 'resolved', ['A81001'], '2026-05-01T08:00:00Z'),
      endpoints(3, 'open', ['A81001', 'B1'], '2026-05-01T09:00:00Z'),
      endpoints(4, 'open', ['B1'], '2026-05-01T11:00:00Z'),
    ];
    expect(widerIncident(list, 'A81001')?.id).toBe(3);
    expect(widerIncident(list, 'B1')?.id).toBe(4);
    expect(widerIncident(list, 'C9')).toBeNull();
    // A service outage or the practice's own incident is not "wider" in this sense.
    expect(widerIncident([incident(1, 'open', ['A81001'], '2026-05-01T10:00:00Z')], 'A81001')).toBeNull();
  });
});
