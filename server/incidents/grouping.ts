// The grouping rules for practices failing on their own checks (no shared service down):
// when enough of them start together they are one incident, not one alarm each. Pure: it is
// told who is failing locally and since when, and answers which group to form; the tracker
// moves members and writes timelines.
//
// Rules, widest first (a practice is grouped by the first that holds):
// - Across the estate (`estate:endpoints`): at least `endpoints.practices` practices in at
//   least `endpoints.pcns` PCNs started failing within `endpoints.windowMs` — the July 2024
//   kind of day, a bad endpoint update everywhere at once.
// - In one PCN (`pcn:<pcn>`): at least `pcnThreshold` of its practices started failing
//   within `pcnWindowMs` — a smaller cluster, a suspected common cause nearby.
// While the estate incident is open every new local failure joins it, so no PCN group forms.
//
// Group wait: the estate group forms as soon as its threshold is met, waiting practices and
// all (there is nothing wider for it to wait for). A new PCN group forms only on behalf of a
// practice that may open an incident now (`due`: already in one, or its wait is over), so a
// cluster still inside its wait can yet become part of the estate group instead.
import type { SubjectKey } from '../status/engine';
import type { IncidentRules } from './config';
import { ENDPOINTS_KEY, type IncidentKey } from './types';

/** A practice failing on its own checks and when its failure started. */
export interface LocalFailure {
  key: SubjectKey;
  pcn: string | null;
  since: number;
  /** Whether it may open an incident now: it is in one already, or its group wait is over. */
  due: boolean;
}

export interface GroupingInput {
  now: number;
  rules: IncidentRules;
  /** Every practice failing locally now. */
  failing: Iterable<LocalFailure>;
  /** PCNs (sorted) with a practice failing locally among this update's changes or whose wait ended. */
  changedPcns: string[];
  /** Whether this update's changes include any practice failing locally, or a wait ended. */
  anyChanged: boolean;
  isOpen(key: IncidentKey): boolean;
}

export interface Group {
  key: IncidentKey;
  /** The practices that started within the window, sorted. */
  starting: SubjectKey[];
}

/** The groups to form in this update: one for the estate, or any number of PCN groups, or none. */
export function groupsToForm(input: GroupingInput): Group[] {
  if (!input.anyChanged || input.isOpen(ENDPOINTS_KEY)) return [];
  const { endpoints } = input.rules;
  const recent: LocalFailure[] = [];
  const widest = Math.max(endpoints.windowMs, input.rules.pcnWindowMs);
  for (const f of input.failing) if (f.since >= input.now - widest) recent.push(f);

  const estate = recent.filter((f) => f.since >= input.now - endpoints.windowMs);
  const pcns = new Set(estate.flatMap((f) => (f.pcn === null ? [] : [f.pcn])));
  if (estate.length >= endpoints.practices && pcns.size >= endpoints.pcns) {
    return [{ key: ENDPOINTS_KEY, starting: estate.map((f) => f.key).sort() }];
  }

  const since = input.now - input.rules.pcnWindowMs;
  const byPcn = new Map<string, LocalFailure[]>();
  for (const f of recent) {
    if (f.pcn === null || f.since < since) continue;
    const list = byPcn.get(f.pcn) ?? [];
    list.push(f);
    byPcn.set(f.pcn, list);
  }
  const groups: Group[] = [];
  for (const pcn of input.changedPcns) {
    const key: IncidentKey = `pcn:${pcn}`;
    const starting = byPcn.get(pcn) ?? [];
    if (input.isOpen(key) || starting.length < input.rules.pcnThreshold || !starting.some((f) => f.due)) continue;
    groups.push({ key, starting: starting.map((f) => f.key).sort() });
  }
  return groups;
}
