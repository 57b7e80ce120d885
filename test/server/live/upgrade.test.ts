// The refusals happen before any WebSocket exists, so a fake socket that records what was
// written is enough; accepted upgrades are covered by the integration tests (workers, auth).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { AccountStore, ApiToken } from '../../../server/auth/types';
import type { Estate } from '../../../server/config/estate';
import { liveUpgrades } from '../../../server/live/upgrade';

function setup(tokens: Record<string, Pick<ApiToken, 'id' | 'kind'>> = {}) {
  const logs: string[] = [];
  const attached: string[] = [];
  const tokenBySecret = async (secret: string) => (tokens[secret] as ApiToken | undefined) ?? null;
  const accounts = { tokenBySecret, sessionBySecret: async () => null } as unknown as AccountStore;
  const upgrades = liveUpgrades({
    authDeps: { accounts, estate: {} as Estate, now: () => 0, trustedOrigins: ['https://pulse.example.nhs.uk'] },
    accounts,
    estate: {} as Estate,
    hub: { attach: () => attached.push('hub') },
    gateway: { authorize: (req) => req.headers.authorization === 'Bearer shared', attach: () => attached.push('gateway') },
    forgetSource: () => 0,
    poke: () => {},
    log: (level, message) => logs.push(`${level}: ${message}`),
    now: () => 0,
  });
  async function refusal(url: string, headers: Record<string, string> = {}): Promise<string> {
    const written = new Promise<string>((resolve) => {
      const socket = { end: (text: string) => resolve(text.split('\r\n')[0]!), once: () => {} } as unknown as Duplex;
      const req = { url, headers: { host: 'localhost:8080', ...headers }, socket: { remoteAddress: '10.0.0.9' } } as unknown as IncomingMessage;
      upgrades.handleUpgrade(req, socket, Buffer.alloc(0));
    });
    return written;
  }
  return { refusal, logs, attached };
}

describe('liveUpgrades refusals', () => {
  it('answers 404 for a path that is neither /ws nor /workers', async () => {
    expect(await setup().refusal('/elsewhere')).toBe('HTTP/1.1 404 Not Found');
  });

  it("refuses the live feed to another site's page, and logs its origin", async () => {
    const { refusal, logs } = setup();
    expect(await refusal('/ws', { origin: 'https://evil.example' })).toBe('HTTP/1.1 403 Forbidden');
    expect(logs).toEqual(['warn: live feed refused: foreign origin']);
  });

  it('refuses the live feed without a session or display link (a trusted origin is not enough)', async () => {
    expect(await setup().refusal('/ws', { origin: 'https://pulse.example.nhs.uk' })).toBe('HTTP/1.1 401 Unauthorized');
  });

  it('refuses a worker with no token, or with a stored token that is not a worker token', async () => {
    const { refusal, attached } = setup({ dsp: { id: 3, kind: 'display' } });
    expect(await refusal('/workers')).toBe('HTTP/1.1 401 Unauthorized');
    expect(await refusal('/workers', { authorization: 'Bearer dsp' })).toBe('HTTP/1.1 401 Unauthorized');
    expect(attached).toEqual([]);
  });

  it('answers 500 when the credentials cannot be looked up', async () => {
    const logs: string[] = [];
    const failing = liveUpgrades({
      authDeps: { accounts: {} as AccountStore, estate: {} as Estate, now: () => 0, trustedOrigins: [] },
      accounts: { tokenBySecret: async () => Promise.reject(new Error('store closed')) },
      estate: {} as Estate,
      hub: { attach: () => {} },
      gateway: { authorize: () => false, attach: () => {} },
      forgetSource: () => 0,
      poke: () => {},
      log: (level, message) => logs.push(`${level}: ${message}`),
      now: () => 0,
    });
    const line = await new Promise<string>((resolve) => {
      const socket = { end: (text: string) => resolve(text.split('\r\n')[0]!), once: () => {} } as unknown as Duplex;
      failing.handleUpgrade({ url: '/workers', headers: { authorization: 'Bearer x' }, socket: {} } as unknown as IncomingMessage, socket, Buffer.alloc(0));
    });
    expect(line).toBe('HTTP/1.1 500 Internal Server Error');
    expect(logs).toEqual(['error: websocket upgrade failed']);
  });
});
