import { describe, expect, it } from 'vitest';
import { selfReason } from '../../../server/self/reason';

const leeds = { detail: "Pulse's probes in leeds are overloaded: its event loop runs 1.3 s late" };
const york = { detail: "Pulse's probes in york are overloaded: 4 checks stalled" };

describe('selfReason', () => {
  it('is null when no worker is impaired and the server is fine (or not watched)', () => {
    expect(selfReason([], null)).toBeNull();
    expect(selfReason([], undefined)).toBeNull();
  });

  it("names each impaired worker, then the server, joined with '; '", () => {
    expect(selfReason([leeds, york], 'it stalled for 4.0 s')).toBe(`${leeds.detail}; ${york.detail}; Pulse's server: it stalled for 4.0 s`);
  });

  it('says a reason shared by two workers once', () => {
    expect(selfReason([leeds, { ...leeds }], null)).toBe(leeds.detail);
  });

  it("gives the server's reason alone when every worker is fine", () => {
    expect(selfReason([], 'heartbeat intake runs 12 s behind')).toBe("Pulse's server: heartbeat intake runs 12 s behind");
  });
});
