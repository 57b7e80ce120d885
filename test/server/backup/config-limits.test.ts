// Limits on a plan's webhook timeout: a timeout is a Node timer, which fires at once beyond
// 2^31 ms (about 24.8 days: "180d" would time every webhook out after 1 ms), and a drain
// round — and so a reload, which waits for it — lasts as long as the slowest receiver.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEstate } from '../../../server/config/estate';

const estate = (timeout: string) => `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
backup:
  plans:
    - id: p
      default: true
      actions:
        - { kind: webhook, name: Phone, url: "https://x.example", secret: { env: X }, timeout: ${timeout} }
practices:
  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web }
`;

function error(text: string): string {
  try {
    parseEstate(text, 'estate.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('webhook timeout', () => {
  it('refuses a timeout under a second or over a minute, naming the field', () => {
    expect(error(estate('0s'))).toMatch(/^estate\.yaml:8: backup\.plans\[0\]\.actions\[0\]\.timeout: /);
    for (const t of ['180d', '1h', '2m', '61s']) {
      expect(error(estate(t))).toMatch(/^estate\.yaml:8: backup\.plans\[0\]\.actions\[0\]\.timeout: .*between 1s and 60s/);
    }
  });

  it('accepts 1s to 60s', () => {
    for (const [t, ms] of [['1s', 1_000], ['30s', 30_000], ['60s', 60_000], ['1m', 60_000]] as const) {
      const action = parseEstate(estate(t), 'estate.yaml').backup.plans.get('p')!.actions[0]!;
      expect(action.kind === 'webhook' && action.timeoutMs).toBe(ms);
    }
  });
});
