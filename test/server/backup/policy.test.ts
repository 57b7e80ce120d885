import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { autoEnterDue, leaveSuggestion, type PracticeStatusView } from '../../../server/backup/policy';
import { BACKUP_STATES, initialPracticeBackup, type BackupState } from '../../../server/backup/types';
import { STATUS_LEVELS, type StatusLevel } from '../../../server/status/types';

const MIN = 60_000;
const T0 = Date.UTC(2024, 6, 19, 7, 40);

function view(status: StatusLevel, statusSince: number, state: BackupState = 'normal', backupSince = T0 - 24 * 60 * MIN): PracticeStatusView {
  const backup = { ...initialPracticeBackup('A81001', backupSince), state, runId: state === 'normal' ? null : 'run-1' };
  return { status, statusSince, backup };
}

describe('autoEnterDue', () => {
  const policy = { autoEnterAfterMs: 15 * MIN };

  it('is due at exactly the configured time down, not a millisecond before', () => {
    expect(autoEnterDue(T0 + 15 * MIN - 1, view('down', T0), policy)).toBe(false);
    expect(autoEnterDue(T0 + 15 * MIN, view('down', T0), policy)).toBe(true);
    expect(autoEnterDue(T0 + 15 * MIN + 1, view('down', T0), policy)).toBe(true);
  });

  it('never fires when the policy is unset (manual by default)', () => {
    expect(autoEnterDue(T0 + 24 * 60 * MIN, view('down', T0), { autoEnterAfterMs: null })).toBe(false);
  });

  it('fires at once with a zero delay', () => {
    expect(autoEnterDue(T0, view('down', T0), { autoEnterAfterMs: 0 })).toBe(true);
  });

  it('ignores a nonsensical negative or non-finite delay', () => {
    expect(autoEnterDue(T0 + MIN, view('down', T0), { autoEnterAfterMs: -1 })).toBe(false);
    expect(autoEnterDue(T0 + MIN, view('down', T0), { autoEnterAfterMs: Number.NaN })).toBe(false);
  });

  for (const status of STATUS_LEVELS.filter((s) => s !== 'down')) {
    it(`is never due while the practice is ${status}`, () => {
      expect(autoEnterDue(T0 + 60 * MIN, view(status, T0), policy)).toBe(false);
    });
  }

  for (const state of BACKUP_STATES.filter((s) => s !== 'normal')) {
    it(`is never due while backup mode is ${state}`, () => {
      expect(autoEnterDue(T0 + 60 * MIN, view('down', T0, state), policy)).toBe(false);
    });
  }

  it('counts from the return to normal, so a person leaving a still-down practice is not overruled at once', () => {
    const leftAt = T0 + 60 * MIN;
    expect(autoEnterDue(leftAt + 15 * MIN - 1, view('down', T0, 'normal', leftAt), policy)).toBe(false);
    expect(autoEnterDue(leftAt + 15 * MIN, view('down', T0, 'normal', leftAt), policy)).toBe(true);
  });

  it('is never due before the down status began (clock skew)', () => {
    expect(autoEnterDue(T0 - 1, view('down', T0), { autoEnterAfterMs: 0 })).toBe(false);
  });

  it('matches "down, normal, and now − max(statusSince, since) ≥ delay" for any times', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 * 60 * MIN }),
        fc.integer({ min: 0, max: 10 * 60 * MIN }),
        fc.integer({ min: 0, max: 10 * 60 * MIN }),
        fc.constantFrom(...STATUS_LEVELS),
        fc.constantFrom(...BACKUP_STATES),
        (downFor, sinceOffset, delay, status, state) => {
          const now = T0 + 10 * 60 * MIN;
          const p = view(status, now - downFor, state, now - sinceOffset);
          const expected = status === 'down' && state === 'normal' && Math.min(downFor, sinceOffset) >= delay;
          expect(autoEnterDue(now, p, { autoEnterAfterMs: delay })).toBe(expected);
        },
      ),
    );
  });
});

describe('leaveSuggestion', () => {
  const policy = { suggestLeaveAfterMs: 30 * MIN };
  const enteredAt = T0 - 4 * 60 * MIN;

  it('suggests leaving at exactly the configured time up in backup, not a millisecond before', () => {
    expect(leaveSuggestion(T0 + 30 * MIN - 1, view('up', T0, 'backup', enteredAt), policy)).toEqual({ suggest: false, healthyForMs: 30 * MIN - 1 });
    expect(leaveSuggestion(T0 + 30 * MIN, view('up', T0, 'backup', enteredAt), policy)).toEqual({ suggest: true, healthyForMs: 30 * MIN });
  });

  for (const status of ['degraded', 'recovering', 'unknown', 'suspected', 'maintenance', 'down'] as const) {
    it(`never suggests while the practice is ${status}, and reports 0 ms healthy`, () => {
      expect(leaveSuggestion(T0 + 10 * 60 * MIN, view(status, T0, 'backup', enteredAt), policy)).toEqual({ suggest: false, healthyForMs: 0 });
    });
  }

  for (const state of ['normal', 'entering', 'leaving'] as const) {
    it(`never suggests while backup mode is ${state}, but still reports time healthy`, () => {
      expect(leaveSuggestion(T0 + 60 * MIN, view('up', T0, state, enteredAt), policy)).toEqual({ suggest: false, healthyForMs: 60 * MIN });
    });
  }

  it('never suggests when the policy is unset', () => {
    expect(leaveSuggestion(T0 + 60 * MIN, view('up', T0, 'backup', enteredAt), { suggestLeaveAfterMs: null }).suggest).toBe(false);
  });

  it('counts from the entry when the practice was already up (entered on its own report)', () => {
    const entered = T0 + 60 * MIN;
    const p = view('up', T0, 'backup', entered);
    expect(leaveSuggestion(entered + 30 * MIN - 1, p, policy)).toEqual({ suggest: false, healthyForMs: 90 * MIN - 1 });
    expect(leaveSuggestion(entered + 30 * MIN, p, policy).suggest).toBe(true);
  });

  it('reports 0 ms healthy rather than a negative duration under clock skew', () => {
    expect(leaveSuggestion(T0 - 5, view('up', T0, 'backup', enteredAt), policy)).toEqual({ suggest: false, healthyForMs: 0 });
  });
});
