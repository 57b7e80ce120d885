// Routes an HTTP upgrade to the dashboards' live hub (/ws) or the workers' gateway
// (/workers), after checking who is asking: a dashboard's origin and session or display
// link, a worker's shared or stored token. It keeps each open socket with the check of the
// credentials it opened with, so `recheckSockets` (run on every heartbeat) ends a connection
// whose session, link or token has gone. It must never read or judge status, never send
// feed or worker messages itself (the hub and the gateway do), and never let a socket in
// without a principal or a worker token.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseCookies } from 'hono/utils/cookie';
import { WebSocketServer, type WebSocket } from 'ws';
import { principalOf, type AuthDeps, SESSION_COOKIE } from '../auth/middleware';
import { scopeOf, type Principal } from '../auth/permissions';
import type { AccountStore } from '../auth/types';
import { NO_TRUSTED_PROXIES, requestAddress, type TrustedProxies } from '../http/client-address';
import type { Estate } from '../config/estate';
import type { Logger } from '../log';
import { SHARED_SOURCE, tokenSource } from '../status/engine';
import type { WorkerGateway } from '../workers/gateway';
import type { LiveHub, LiveScope } from './hub';

export interface UpgradeDeps {
  authDeps: AuthDeps;
  accounts: Pick<AccountStore, 'tokenBySecret'>;
  estate: Estate;
  hub: Pick<LiveHub, 'attach'>;
  gateway: Pick<WorkerGateway, 'authorize' | 'attach'>;
  /** Drops what one credential contributed (engine.forgetSource); returns how many checks it touched. */
  forgetSource: (source: string) => number;
  /** Asks for a tick soon. */
  poke: () => void;
  log: Logger;
  now: () => number;
  /** Proxies whose forwarded headers name the client (the per-address limit counts that address). */
  trustedProxies?: TrustedProxies;
  /** Live-feed connections (open or being opened) from one address before 429 (default 200). */
  liveConnectionsPerAddress?: number;
  /** WebSocket upgrades started per turn of the event loop (default 20). */
  upgradesPerTurn?: number;
  /** A /ws upgrade refused for being over the per-address limit. */
  onRefused?: (reason: 'address-limit') => void;
}

export const DEFAULT_LIVE_CONNECTIONS_PER_ADDRESS = 200;
/** WebSocket upgrades started per turn of the event loop. */
export const DEFAULT_UPGRADES_PER_TURN = 20;

export function liveUpgrades(deps: UpgradeDeps) {
  const { authDeps, accounts, estate, hub, gateway, log } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  const refuse = (socket: Duplex, status: string): void => {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  const perAddress = deps.liveConnectionsPerAddress ?? DEFAULT_LIVE_CONNECTIONS_PER_ADDRESS;
  /** Live-feed connections open or being opened, by client address. */
  const connections = new Map<string, number>();
  const release = (address: string): void => {
    const n = (connections.get(address) ?? 1) - 1;
    if (n <= 0) connections.delete(address);
    else connections.set(address, n);
  };
  // Accept cost is bounded: a burst of upgrades is taken a slice per turn of the event loop,
  // so /healthz and the API are answered between slices rather than after the whole burst.
  const slice = deps.upgradesPerTurn ?? DEFAULT_UPGRADES_PER_TURN;
  const waiting: Array<[IncomingMessage, Duplex, Buffer]> = [];
  let draining = false;
  const drain = (): void => {
    for (let n = 0; n < slice && waiting.length > 0; n++) {
      const [req, socket, head] = waiting.shift()!;
      if (socket.destroyed) continue; // gave up while it waited
      void upgrade(req, socket, head).catch((err: unknown) => {
        log('error', 'websocket upgrade failed', { error: String(err) });
        refuse(socket, '500 Internal Server Error');
      });
    }
    if (waiting.length > 0) setImmediate(drain);
    else draining = false;
  };
  /** Routes an HTTP upgrade to the dashboards' hub or the workers' gateway. */
  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    waiting.push([req, socket, head]);
    if (draining) return;
    draining = true;
    setImmediate(drain);
  }
  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ws') {
      // One address cannot hold the loop with thousands of feeds: counted before any lookup,
      // released when the socket closes (refused, failed or ended).
      const address = requestAddress(req, deps.trustedProxies ?? NO_TRUSTED_PROXIES);
      const open = connections.get(address) ?? 0;
      if (open >= perAddress) {
        deps.onRefused?.('address-limit');
        log('warn', 'live feed refused: too many connections from one address', { address, limit: perAddress });
        const body = JSON.stringify({
          error: { code: 'TOO_MANY_CONNECTIONS', message: `at most ${perAddress} live-feed connections from one address (${address})` },
        });
        socket.end(
          `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        return;
      }
      connections.set(address, open + 1);
      let held = true;
      socket.once('close', () => {
        if (held) release(address);
        held = false;
      });
      // Browsers always send Origin on a WebSocket: another site's page may not read the feed.
      const origin = req.headers.origin;
      const own = `http://${req.headers.host}`;
      const ownTls = `https://${req.headers.host}`;
      if (origin && origin !== own && origin !== ownTls && !authDeps.trustedOrigins.includes(origin)) {
        log('warn', 'live feed refused: foreign origin', { origin });
        return refuse(socket, '403 Forbidden');
      }
      const cookie = parseCookies(req.headers.cookie ?? '', SESSION_COOKIE)[SESSION_COOKIE];
      const display = url.searchParams.get('display');
      const principal = await principalOf(authDeps, cookie, display ? `Bearer ${display}` : undefined);
      if (principal.kind === 'anonymous') return refuse(socket, '401 Unauthorized');
      const scope = scopeOf(principal, estate);
      const stillValid = async () => (await principalOf(authDeps, cookie, display ? `Bearer ${display}` : undefined)).kind !== 'anonymous';
      const live: LiveScope | null = scope === 'all' ? null : { key: scopeKey(principal), sees: scope === 'none' ? () => false : scope };
      const credential = cookie ? `session:${cookie}` : `display:${display}`;
      wss.handleUpgrade(req, socket, head, (ws) => hub.attach(recheck(ws, stillValid, undefined, credential), live));
    } else if (url.pathname === '/workers') {
      const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const stored = bearer ? await accounts.tokenBySecret(bearer, deps.now()) : null;
      const shared = gateway.authorize(req);
      if (!shared && stored?.kind !== 'worker') {
        log('warn', 'worker connection refused: bad token', { address: req.socket.remoteAddress });
        return refuse(socket, '401 Unauthorized');
      }
      const stillValid = async () => shared || (await accounts.tokenBySecret(bearer!, deps.now()))?.kind === 'worker';
      const source = shared ? SHARED_SOURCE : tokenSource(stored!.id);
      // A revoked token's contributions go with it: its checks turn unknown at once, not when stale.
      const revoked = () => {
        if (deps.forgetSource(source) > 0) deps.poke();
      };
      wss.handleUpgrade(req, socket, head, (ws) => gateway.attach(recheck(ws, stillValid, revoked), source));
    } else {
      refuse(socket, '404 Not Found');
    }
  }

  /**
   * Open sockets with the check of the credentials they were opened with, run again on every
   * heartbeat: signing out, disabling an account, or revoking a display link or worker token
   * also ends a connection already open, not just the next one.
   */
  const openSockets = new Map<WebSocket, { stillValid: () => Promise<boolean>; onRevoked?: () => void; credential?: string }>();
  /** `credential` names what was presented: sockets opened with the same one are checked once a sweep. */
  function recheck(ws: WebSocket, stillValid: () => Promise<boolean>, onRevoked?: () => void, credential?: string): WebSocket {
    openSockets.set(ws, { stillValid, ...(onRevoked ? { onRevoked } : {}), ...(credential ? { credential } : {}) });
    ws.once('close', () => openSockets.delete(ws));
    return ws;
  }
  async function recheckSockets(): Promise<void> {
    // A wall of 2,000 feeds on one link is one lookup, and the sweep yields between slices.
    const checked = new Map<string, Promise<boolean>>();
    let n = 0;
    for (const [ws, { stillValid, onRevoked, credential }] of openSockets) {
      if (++n % 100 === 0) await new Promise((r) => setImmediate(r));
      // A store error (e.g. while shutting down) is not a revocation.
      const check = () => stillValid().catch(() => true);
      let valid: Promise<boolean>;
      if (credential === undefined) valid = check();
      else valid = checked.get(credential) ?? checked.set(credential, check()).get(credential)!;
      if (!(await valid)) {
        ws.close(4401, 'signed out, or the link or token was revoked');
        onRevoked?.();
      }
    }
  }

  /** Stops taking upgrades; the hub and the gateway close the sockets they hold. */
  function close(): void {
    wss.close();
  }

  return { handleUpgrade, recheckSockets, close };
}

/** Names a principal's scope: connections with equal keys see the same practices (and share a snapshot). */
export function scopeKey(principal: Principal): string {
  if (principal.kind === 'anonymous') return 'none';
  if (principal.kind === 'display') return `display|icb:${principal.token.icb ?? '*'}`;
  const { user } = principal;
  const icb = user.role === 'manager' ? null : user.icb;
  return `user|icb:${icb ?? '*'}|practices:${[...user.practices].sort().join(',')}`;
}

export type LiveUpgrades = ReturnType<typeof liveUpgrades>;
