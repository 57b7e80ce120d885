import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { next, REASON_MAX_CHARS, SYSTEM_ACTOR, type BackupEvent } from '../../../server/backup/machine';
import {
  BACKUP_STATES,
  REASON_CODES,
  initialPracticeBackup,
  type BackupState,
  type PracticeBackup,
} from '../../../server/backup/types';

const ODS = 'A81001';
const T0 = Date.UTC(2024, 6, 19, 8, 0);

function ids(prefix = 'run') {
  let n = 0;
  return vi.fn(() => `${prefix}-${++n}`);
}

const evidence = { status: 'down', cause: 'upstream: emis-web' };
const enter = (over: Partial<Extract<BackupEvent, { type: 'enter' }>> = {}): BackupEvent => ({
  type: 'enter',
  by: 'dr.patel',
  automatic: false,
  reasonCode: 'clinical-system-down',
  reason: 'EMIS Web unavailable since 07:40',
  evidence,
  at: T0 + 1_000,
  ...over,
});
const leave = (over: Partial<Extract<BackupEvent, { type: 'leave' }>> = {}): BackupEvent => ({
  type: 'leave',
  by: 'practice.manager',
  reasonCode: 'recovered',
  reason: 'EMIS Web back and checked on two PCs',
  evidence: { status: 'up', cause: null },
  at: T0 + 2_000,
  ...over,
});
const settled = (runId: string, at = T0 + 3_000): BackupEvent => ({ type: 'actions-settled', runId, at });

/** A practice in `state`, with run `run-0` in flight or current where the state has one. */
function practiceIn(state: BackupState): PracticeBackup {
  if (state === 'normal') return initialPracticeBackup(ODS, T0);
  return {
    ods: ODS,
    state,
    since: T0,
    runId: 'run-0',
    enteredBy: 'dr.patel',
    reasonCode: state === 'leaving' ? 'recovered' : 'clinical-system-down',
    reason: 'earlier decision',
  };
}

type EventKind = 'enter' | 'leave' | 'settled-current' | 'settled-other';
const eventOf: Record<EventKind, BackupEvent> = {
  enter: enter(),
  leave: leave(),
  'settled-current': settled('run-0'),
  'settled-other': settled('run-99'),
};

// Every (state × event) pair: the state reached, or the error code.
const table: Record<BackupState, Record<EventKind, BackupState | string>> = {
  normal: { enter: 'entering', leave: 'NOT_IN_BACKUP', 'settled-current': 'STALE_RUN', 'settled-other': 'STALE_RUN' },
  entering: { enter: 'ALREADY_IN_BACKUP', leave: 'BUSY', 'settled-current': 'backup', 'settled-other': 'STALE_RUN' },
  // run-0 already settled into backup: a repeated "settled" for it is stale, not a new transition.
  backup: { enter: 'ALREADY_IN_BACKUP', leave: 'leaving', 'settled-current': 'STALE_RUN', 'settled-other': 'STALE_RUN' },
  leaving: { enter: 'BUSY', leave: 'NOT_IN_BACKUP', 'settled-current': 'normal', 'settled-other': 'STALE_RUN' },
};

describe('backup state machine: every state × event', () => {
  for (const from of BACKUP_STATES) {
    for (const kind of Object.keys(eventOf) as EventKind[]) {
      const expected = table[from][kind];
      it(`${from} + ${kind} → ${expected}`, () => {
        const newId = ids('new');
        const before = practiceIn(from);
        const step = next(before, eventOf[kind], { newId });
        if ((BACKUP_STATES as readonly string[]).includes(expected)) {
          expect(step.ok).toBe(true);
          if (!step.ok) return;
          expect(step.state.state).toBe(expected);
          expect(step.transition.from).toBe(from);
          expect(step.transition.to).toBe(expected);
          expect(step.transition.ods).toBe(ODS);
          expect(step.state.since).toBe(eventOf[kind].at);
        } else {
          expect(step).toMatchObject({ ok: false, error: { code: expected } });
          if (!step.ok) expect(step.error.message).toContain(ODS);
          expect(newId).not.toHaveBeenCalled();
        }
      });
    }
  }
});

describe('backup state machine: what is recorded', () => {
  it('enter starts a new run and records who, when, why and the evidence', () => {
    const step = next(initialPracticeBackup(ODS, T0), enter({ bulkId: 'bulk-7' }), { newId: ids() });
    expect(step).toEqual({
      ok: true,
      state: {
        ods: ODS, state: 'entering', since: T0 + 1_000, runId: 'run-1',
        enteredBy: 'dr.patel', reasonCode: 'clinical-system-down', reason: 'EMIS Web unavailable since 07:40',
      },
      transition: {
        ods: ODS, from: 'normal', to: 'entering', at: T0 + 1_000, by: 'dr.patel', automatic: false,
        reasonCode: 'clinical-system-down', reason: 'EMIS Web unavailable since 07:40',
        evidence, runId: 'run-1', bulkId: 'bulk-7',
      },
    });
  });

  it('an automatic entry without a person is recorded as by the system', () => {
    const step = next(initialPracticeBackup(ODS, T0), enter({ by: '', automatic: true, reason: 'down for 15 min' }), { newId: ids() });
    expect(step).toMatchObject({ ok: true, transition: { by: SYSTEM_ACTOR, automatic: true, bulkId: null } });
  });

  it('the settled transition carries the run it completes and is automatic', () => {
    const step = next(practiceIn('entering'), settled('run-0'), { newId: ids() });
    expect(step).toMatchObject({
      ok: true,
      state: { state: 'backup', runId: 'run-0', enteredBy: 'dr.patel' },
      transition: { from: 'entering', to: 'backup', runId: 'run-0', by: SYSTEM_ACTOR, automatic: true, reasonCode: 'clinical-system-down' },
    });
  });

  it('leave is always manual, starts a new run, and keeps who entered until back to normal', () => {
    const step = next(practiceIn('backup'), leave(), { newId: ids() });
    expect(step).toMatchObject({
      ok: true,
      state: { state: 'leaving', runId: 'run-1', enteredBy: 'dr.patel', reasonCode: 'recovered' },
      transition: { from: 'backup', to: 'leaving', by: 'practice.manager', automatic: false, runId: 'run-1' },
    });
  });

  it('back to normal clears the run and who entered', () => {
    const step = next(practiceIn('leaving'), settled('run-0'), { newId: ids() });
    expect(step).toMatchObject({ ok: true, state: { state: 'normal', runId: null, enteredBy: null }, transition: { runId: 'run-0', to: 'normal' } });
  });

  it('a returned transition does not share its evidence object with the event', () => {
    const ev = enter();
    const step = next(initialPracticeBackup(ODS, T0), ev, { newId: ids() });
    if (!step.ok || ev.type !== 'enter') throw new Error('expected accepted enter');
    expect(step.transition.evidence).not.toBe(ev.evidence);
  });
});

describe('backup state machine: malformed events are INVALID in every state', () => {
  const cases: [string, BackupEvent][] = [
    ['empty reason', enter({ reason: '' })],
    ['whitespace reason', leave({ reason: '   ' })],
    [`reason over ${REASON_MAX_CHARS} chars`, enter({ reason: 'x'.repeat(REASON_MAX_CHARS + 1) })],
    ['manual enter without a person', enter({ by: ' ' })],
    ['leave without a person', leave({ by: '' })],
    ['unknown reason code', enter({ reasonCode: 'bored' as never })],
    ['non-finite time', enter({ at: Number.NaN })],
    ['settled without a run id', settled('')],
  ];
  for (const state of BACKUP_STATES) {
    for (const [name, event] of cases) {
      it(`${state}: ${name}`, () => {
        const newId = ids();
        expect(next(practiceIn(state), event, { newId })).toMatchObject({ ok: false, error: { code: 'INVALID' } });
        expect(newId).not.toHaveBeenCalled();
      });
    }
  }

  it(`accepts a reason of exactly 1 and ${REASON_MAX_CHARS} characters (trimmed)`, () => {
    for (const reason of ['x', ` ${'y'.repeat(REASON_MAX_CHARS)} `]) {
      const step = next(initialPracticeBackup(ODS, T0), enter({ reason }), { newId: ids() });
      expect(step).toMatchObject({ ok: true, transition: { reason: reason.trim() } });
    }
  });
});

describe('backup state machine: properties over random event sequences', () => {
  const arbEvidence = fc.record({ status: fc.constantFrom('down', 'up', 'degraded'), cause: fc.option(fc.string(), { nil: null }) });
  const arbReason = fc.oneof(fc.string({ maxLength: 20 }), fc.constant(''), fc.constant('x'.repeat(REASON_MAX_CHARS + 1)));
  const arbBy = fc.constantFrom('', 'dr.patel', 'pm');
  const arbCode = fc.constantFrom(...REASON_CODES);
  // `settled` picks the run in flight, an old run or a made-up one, filled in at replay time.
  const arbStep = fc.oneof(
    fc.record({ type: fc.constant('enter' as const), by: arbBy, automatic: fc.boolean(), reasonCode: arbCode, reason: arbReason, evidence: arbEvidence, bulkId: fc.option(fc.string(), { nil: undefined }) }),
    fc.record({ type: fc.constant('leave' as const), by: arbBy, reasonCode: arbCode, reason: arbReason, evidence: arbEvidence }),
    fc.record({ type: fc.constant('actions-settled' as const), which: fc.constantFrom('current', 'current', 'previous', 'bogus') }),
  );

  it('never reaches an invalid state; each accepted event yields one transition from the previous state; run ids never repeat', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(arbStep, fc.nat(60_000)), { maxLength: 60 }), (steps) => {
        let practice = initialPracticeBackup(ODS, T0);
        let at = T0;
        const newId = ids();
        const started: string[] = [];
        for (const [s, dt] of steps) {
          at += dt;
          const event: BackupEvent =
            s.type === 'actions-settled'
              ? settled(s.which === 'current' ? (practice.runId ?? 'none') : s.which === 'previous' ? (started.at(-2) ?? 'none') : 'bogus', at)
              : { ...s, at };
          const before = practice;
          const callsBefore = newId.mock.calls.length;
          const step = next(before, event, { newId });
          if (!step.ok) {
            expect(step.error.message.length).toBeGreaterThan(0);
            expect(newId.mock.calls.length).toBe(callsBefore);
            continue;
          }
          const { state: after, transition } = step;
          expect(BACKUP_STATES).toContain(after.state);
          expect(transition.from).toBe(before.state);
          expect(transition.to).toBe(after.state);
          expect(transition.at).toBe(at);
          expect(after.since).toBe(at);
          expect(transition.reason.length).toBeGreaterThan(0);
          expect(transition.reason.length).toBeLessThanOrEqual(REASON_MAX_CHARS);
          expect(transition.by.length).toBeGreaterThan(0);
          // A run exists exactly when the practice is not in normal.
          expect(after.runId === null).toBe(after.state === 'normal');
          const allowed: Record<BackupState, BackupState> = { normal: 'entering', entering: 'backup', backup: 'leaving', leaving: 'normal' };
          expect(after.state).toBe(allowed[before.state]);
          if (event.type === 'actions-settled') {
            expect(transition.runId).toBe(before.runId);
            expect(newId.mock.calls.length).toBe(callsBefore);
          } else {
            expect(newId.mock.calls.length).toBe(callsBefore + 1);
            expect(started).not.toContain(transition.runId);
            started.push(transition.runId);
            if (event.type === 'leave') expect(transition.automatic).toBe(false);
          }
          practice = after;
        }
      }),
      { numRuns: 500 },
    );
  });
});
