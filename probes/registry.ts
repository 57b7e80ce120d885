// The whole dispatch from a check's `kind` to its implementation. Adding a
// check kind is adding one file in probes/ and one line here.
// Must never hold per-check state or branch on kind names anywhere else.
import { dns } from './dns';
import { fhir } from './fhir';
import { http } from './http';
import { nhsApi } from './nhs-api';
import { tcp } from './tcp';
import { tls } from './tls';
import type { CheckKind } from './types';

export const checkKinds = { http, tcp, dns, tls, fhir, 'nhs-api': nhsApi } as const;

export type CheckKindName = keyof typeof checkKinds;

/** A registry the scheduler can be handed (tests inject fake kinds). */
export type CheckKindLookup = Readonly<Record<string, CheckKind<unknown>>>;

export function getCheckKind(kind: string, kinds: CheckKindLookup = checkKinds): CheckKind<unknown> | undefined {
  // hasOwn: a kind named "constructor" or "toString" must not reach Object.prototype.
  return Object.hasOwn(kinds, kind) ? kinds[kind] : undefined;
}
