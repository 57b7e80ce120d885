import { describe, expect, it } from 'vitest';
import { dns } from '../../probes/dns';
import { fhir } from '../../probes/fhir';
import { http } from '../../probes/http';
import { nhsApi } from '../../probes/nhs-api';
import { checkKinds, getCheckKind } from '../../probes/registry';
import { tcp } from '../../probes/tcp';
import { tls } from '../../probes/tls';

describe('check kind registry', () => {
  it('finds each kind under its own name', () => {
    for (const [name, kind] of Object.entries(checkKinds)) expect(kind.kind).toBe(name);
    expect(getCheckKind('http')).toBe(http);
    expect(getCheckKind('tcp')).toBe(tcp);
    expect(getCheckKind('dns')).toBe(dns);
    expect(getCheckKind('tls')).toBe(tls);
    expect(getCheckKind('fhir')).toBe(fhir);
    expect(getCheckKind('nhs-api')).toBe(nhsApi);
  });

  it('gives every kind an options object the config loader can compose (a strict zod object)', () => {
    for (const kind of Object.values(checkKinds)) {
      const shape = (kind.options as unknown as { shape?: Record<string, unknown> }).shape;
      expect(shape, kind.kind).toBeTypeOf('object');
      for (const base of ['id', 'kind', 'target', 'interval', 'timeout']) expect(Object.keys(shape!), kind.kind).not.toContain(base);
    }
  });

  it('knows nothing of unknown kinds, including names inherited from Object', () => {
    expect(getCheckKind('smtp')).toBeUndefined();
    expect(getCheckKind('constructor')).toBeUndefined();
    expect(getCheckKind('toString')).toBeUndefined();
  });
});
