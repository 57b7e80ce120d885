import { describe, expect, it } from 'vitest';
import type { PracticeView } from '../../server/live/protocol';
import {
  PANEL_MODE_ICON,
  actionsProgress,
  anyInFlight,
  backlogText,
  checkDescription,
  checklistProgress,
  modeSignature,
  panelSummary,
  parsePounds,
  pounds,
  sortBackupRows,
  type BackupSummary,
} from '../../web/console/backup';

function row(ods: string, name: string, over: Partial<BackupSummary> = {}): BackupSummary {
  return {
    ods,
    name,
    mode: 'backup',
    since: '2026-11-27T09:00:00Z',
    actions: { pending: 0, retrying: 0, done: 3, failed: 0 },
    checklist: { done: 0, total: 4 },
    suggestLeave: false,
    backlog: 0,
    ...over,
  };
}

function practice(ods: string, mode: PracticeView['mode'], status: PracticeView['status'] = 'down'): PracticeView {
  return { ods, name: ods, pcn: 'PCN', icb: null, system: 'emis-web', status, cause: null, mode, since: '2026-11-27T09:00:00Z' };
}

describe('action progress', () => {
  it('says how many of all actions are done, with retrying and failed apart', () => {
    expect(actionsProgress({ pending: 0, retrying: 0, done: 3, failed: 1 })).toEqual({
      done: '3 of 4 actions done',
      retrying: null,
      failed: '1 failed',
      inFlight: false,
    });
    expect(actionsProgress({ pending: 1, retrying: 2, done: 0, failed: 0 })).toEqual({
      done: '0 of 3 actions done',
      retrying: '2 retrying',
      failed: null,
      inFlight: true,
    });
  });
  it('speaks of one action in the singular, and of none plainly', () => {
    expect(actionsProgress({ pending: 0, retrying: 0, done: 1, failed: 0 }).done).toBe('1 of 1 action done');
    expect(actionsProgress({ pending: 0, retrying: 0, done: 0, failed: 0 })).toMatchObject({ done: 'No actions', inFlight: false });
  });
});

describe('checklist progress and backlog', () => {
  it('counts steps done of the total', () => {
    expect(checklistProgress({ done: 2, total: 4 })).toBe('2 of 4 steps');
    expect(checklistProgress({ done: 0, total: 1 })).toBe('0 of 1 step');
    expect(checklistProgress({ done: 0, total: 0 })).toBe('No checklist');
  });
  it('says how many items are left to re-enter, and nothing when none are', () => {
    expect(backlogText(0)).toBeNull();
    expect(backlogText(1)).toBe('1 item to re-enter');
    expect(backlogText(1204)).toBe('1,204 items to re-enter');
  });
});

describe('the backup panel rows', () => {
  it('keeps asking only while some action is pending or retrying', () => {
    expect(anyInFlight([row('A1', 'A'), row('A2', 'B')])).toBe(false);
    expect(anyInFlight([row('A1', 'A'), row('A2', 'B', { actions: { pending: 0, retrying: 1, done: 2, failed: 0 } })])).toBe(true);
    expect(anyInFlight([row('A1', 'A', { actions: { pending: 2, retrying: 0, done: 0, failed: 0 } })])).toBe(true);
    expect(anyInFlight([])).toBe(false);
  });
  it('puts practices with failed actions first, then entering, leaving, backup, normal; then by name', () => {
    const sorted = sortBackupRows([
      row('A1', 'Zeta', { mode: 'normal', backlog: 3 }),
      row('A2', 'Beta'),
      row('A3', 'Alpha'),
      row('A4', 'Gamma', { mode: 'entering' }),
      row('A5', 'Omega', { actions: { pending: 0, retrying: 0, done: 2, failed: 1 } }),
      row('A6', 'Delta', { mode: 'leaving' }),
    ]);
    expect(sorted.map((r) => r.ods)).toEqual(['A5', 'A4', 'A6', 'A3', 'A2', 'A1']);
  });
  it('sums the rows up, naming only what is there', () => {
    expect(
      panelSummary([
        row('A1', 'A'),
        row('A2', 'B'),
        row('A3', 'C', { mode: 'entering', actions: { pending: 1, retrying: 0, done: 1, failed: 1 } }),
        row('A4', 'D', { mode: 'normal', backlog: 12 }),
        row('A5', 'E', { suggestLeave: true }),
      ]),
    ).toBe('3 in backup mode · 1 entering · 1 with failed actions · 1 healthy, leave suggested · 1 with a backlog');
    expect(panelSummary([row('A1', 'A', { mode: 'leaving' })])).toBe('1 leaving');
    expect(panelSummary([])).toBe('');
  });
  it('gives every mode a shape, including a row back to normal', () => {
    for (const icon of Object.values(PANEL_MODE_ICON)) expect(icon).not.toBe('');
  });
});

describe('mode signature (when the panel asks again)', () => {
  it('changes when a practice changes mode and not when only a status changes', () => {
    const before = { A1: practice('A1', 'normal'), A2: practice('A2', 'backup') };
    const sig = modeSignature(before);
    expect(modeSignature({ ...before, A1: practice('A1', 'normal', 'up') })).toBe(sig);
    expect(modeSignature({ ...before, A1: practice('A1', 'entering') })).not.toBe(sig);
    expect(modeSignature({ ...before, A2: practice('A2', 'leaving') })).not.toBe(sig);
    expect(modeSignature({ ...before, A2: practice('A2', 'normal') })).not.toBe(sig);
    expect(modeSignature(null)).toBe('');
  });
  it('does not depend on the order practices arrive in', () => {
    const a = { A1: practice('A1', 'backup'), A2: practice('A2', 'entering') };
    const b = { A2: practice('A2', 'entering'), A1: practice('A1', 'backup') };
    expect(modeSignature(a)).toBe(modeSignature(b));
  });
});

describe('pounds typed by a person', () => {
  it.each([
    ['360.00', 36_000],
    ['360', 36_000],
    ['360.5', 36_050],
    ['£ 1,250.75', 125_075],
    ['£0.01', 1],
    ['  12.30 ', 1_230],
    ['0.29', 29],
    ['1000000', 100_000_000],
    ['4.35', 435],
  ])('reads %s as %i pence, exactly', (text, pence) => {
    expect(parsePounds(text)).toEqual({ ok: true, value: pence });
  });

  it.each([
    ['', /Enter the amount in pounds, like 360.00/],
    ['abc', /numbers only.*“abc”/],
    ['12.345', /at most two digits after the point/],
    ['-5', /cannot be negative/],
    ['0', /more than £0.00/],
    ['1000000.01', /£1,000,000.00 or less/],
    ['99999999999', /£1,000,000.00 or less/],
    ['1,25.00', /commas only between thousands/],
    ['1e3', /numbers only/],
    ['12,50', /commas only between thousands/],
  ])('refuses %j saying what is wrong', (text, message) => {
    const parsed = parsePounds(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });

  it('shows pence as pounds with thousands separators', () => {
    expect(pounds(0)).toBe('£0.00');
    expect(pounds(5)).toBe('£0.05');
    expect(pounds(36_000)).toBe('£360.00');
    expect(pounds(123_456_789)).toBe('£1,234,567.89');
  });

  it('round-trips what it shows', () => {
    for (const pence of [1, 99, 100, 29, 435, 1_001, 99_999_999]) {
      expect(parsePounds(pounds(pence))).toEqual({ ok: true, value: pence });
    }
  });
});

describe('cost description', () => {
  it('needs some words, at most 300 characters, trimmed', () => {
    expect(checkDescription('  Locum cover ')).toEqual({ ok: true, value: 'Locum cover' });
    expect(checkDescription('   ')).toMatchObject({ ok: false, error: expect.stringMatching(/Describe the cost/) });
    expect(checkDescription('x'.repeat(301))).toMatchObject({ ok: false, error: expect.stringMatching(/300 characters or fewer \(it is 301\)/) });
  });
});
