import { describe, expect, it } from 'vitest';
import { http } from '../../probes/http';
import { checkKinds, getCheckKind } from '../../probes/registry';
import { tcp } from '../../probes/tcp';

describe('check kind registry', () => {
  it('finds each kind under its own name', () => {
    for (const [name, kind] of Object.entries(checkKinds)) expect(kind.kind).toBe(name);
    expect(getCheckKind('http')).toBe(http);
    expect(getCheckKind('tcp')).toBe(tcp);
  });

  it('knows nothing of unknown kinds, including names inherited from Object', () => {
    expect(getCheckKind('smtp')).toBeUndefined();
    expect(getCheckKind('constructor')).toBeUndefined();
    expect(getCheckKind('toString')).toBeUndefined();
  });
});
