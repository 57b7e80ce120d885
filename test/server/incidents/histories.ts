// Random histories of status changes for a small estate, shared by the property tests.
import fc from 'fast-check';
import { isHeld } from '../../../server/incidents/records';
import { rootCause } from '../../../server/incidents/rootCause';
import type { SubjectState } from '../../../server/incidents/types';
import { STATUS_LEVELS, type Cause, type StatusLevel } from '../../../server/status/types';
import { checks, practice, service, upstream } from './fixtures';

export const PRACTICES: [string, string | null][] = [
  ['A00001', 'P1'], ['A00002', 'P1'], ['A00003', 'P1'], ['A00004', 'P1'],
  ['B00001', 'P2'], ['B00002', 'P2'], ['B00003', 'P2'],
  ['C00001', null],
];
export const SERVICES = ['hscn', 'emis-web', 'systmone', 'nhs111-online'];

export const practiceCauses: (Cause | null)[] = [
  null,
  upstream('emis-web'),
  upstream('emis-web', 'hscn'),
  upstream('systmone'),
  { kind: 'upstream', service: 'nhs111-online', impact: 'degrading', status: 'down', via: null },
];
const serviceCauses: (Cause | null)[] = [null, upstream('hscn')];

const statusArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<StatusLevel>('down', 'up') },
  { weight: 1, arbitrary: fc.constantFrom<StatusLevel>(...STATUS_LEVELS) },
);
const changeArb = fc.record({
  subject: fc.nat(PRACTICES.length + SERVICES.length - 1),
  status: statusArb,
  cause: fc.nat(practiceCauses.length), // the last index means "own checks"
});
/** What the tracker is told about Pulse's own health: unchanged (undefined), fine (null) or why it is impaired. */
export const SELF_REASONS = ["Pulse's probes in local are overloaded: 4.6 s behind", 'Pulse was not listening for 40 s'] as const;
const selfArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom<string | null>(null, ...SELF_REASONS) },
);
const stepArb = fc.record({ dtSeconds: fc.integer({ min: 0, max: 400 }), changes: fc.array(changeArb, { maxLength: 6 }), self: selfArb });
export const historyArb = fc.array(stepArb, { minLength: 1, maxLength: 40 });

/**
 * Tracker options a history runs under: the default rules, or an estate rule low enough for
 * this small estate (2 or 3 practices in 2 PCNs) so that the estate-wide grouping, and its
 * folding of practice and PCN incidents, are exercised…
 */
const groupingArb = fc.constantFrom(
  {},
  { endpoints: { practices: 3, pcns: 2, windowMs: 10 * 60_000 } },
  { endpoints: { practices: 2, pcns: 2, windowMs: 5 * 60_000 } },
);
/** …and a group wait: the default (30 s), none, or one longer than most steps. */
const waitArb = fc.constantFrom<{ groupWaitMs?: number }>({}, { groupWaitMs: 0 }, { groupWaitMs: 5 * 60_000 });
export const rulesArb = fc.tuple(groupingArb, waitArb).map(([grouping, wait]) => ({ ...grouping, ...wait }));

/**
 * When each practice's current spell of failing on its own checks began, modelled apart from
 * the tracker: it starts when the practice first fails on its own, and lasts through the held
 * statuses (recovering, suspected, unknown) until it is up, in maintenance or failing because
 * of a service. The group wait runs from it; `restore` is given it as `since`.
 */
export class SpellModel {
  private readonly since = new Map<string, number>();

  note(states: SubjectState[], now: number): void {
    for (const s of states) {
      const local = s.key.startsWith('practice:') && rootCause(s.key, s.status, s.cause) === s.key;
      if (local) {
        if (!this.since.has(s.key)) this.since.set(s.key, now);
      } else if (!isHeld(s.status)) {
        this.since.delete(s.key);
      }
    }
  }

  sinceOf(key: string): number | undefined {
    return this.since.get(key);
  }

  /** The state as `restore` is given it, with when its spell began. */
  withSince(state: SubjectState): SubjectState {
    const since = this.since.get(state.key);
    return since === undefined ? state : { ...state, since };
  }
}

export function stateOf(change: { subject: number; status: StatusLevel; cause: number }): SubjectState {
  if (change.subject < PRACTICES.length) {
    const [ods, pcn] = PRACTICES[change.subject]!;
    const cause = practiceCauses[change.cause] ?? checks(`${ods}-gateway`, 'status 503, expected 2xx', change.status);
    return practice(ods, change.status, change.status === 'up' ? null : cause, pcn);
  }
  const id = SERVICES[change.subject - PRACTICES.length]!;
  const cause = id === 'emis-web' ? (serviceCauses[change.cause % 3] ?? checks(`${id}-api`, 'timeout')) : checks(`${id}-api`, 'timeout');
  return service(id, change.status, change.status === 'up' ? null : cause);
}

export const allUp = (): SubjectState[] => [
  ...PRACTICES.map(([ods, pcn]) => practice(ods, 'up', null, pcn)),
  ...SERVICES.map((id) => service(id, 'up')),
];
