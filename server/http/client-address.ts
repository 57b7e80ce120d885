// Who is on the other end of a connection. Behind a reverse proxy every connection comes
// from the proxy, so the address the proxy saw (X-Forwarded-For / X-Real-IP) is used — but
// only when the peer is one of the configured proxies (PULSE_TRUSTED_PROXIES). From anyone
// else those headers are ignored: otherwise any client could name itself a fresh address
// and step round the per-address sign-in lock or connection limit.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export interface TrustedProxies {
  /** True when `address` is a configured proxy. */
  trusts(address: string): boolean;
  /** The configured entries, as written, for logs and /readyz. */
  readonly entries: readonly string[];
}

export const NO_TRUSTED_PROXIES: TrustedProxies = { trusts: () => false, entries: [] };

/** Strips the IPv4-mapped prefix so 127.0.0.1 and ::ffff:127.0.0.1 are one address. */
export function normaliseAddress(address: string): string {
  const a = address.trim();
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a;
}

/**
 * Parses a comma-separated list of addresses and CIDR ranges ("127.0.0.1, 10.0.0.0/8, ::1").
 * Throws an Error naming the bad entry and `source` (e.g. "PULSE_TRUSTED_PROXIES").
 */
export function parseTrustedProxies(spec: string | undefined, source = 'PULSE_TRUSTED_PROXIES'): TrustedProxies {
  const entries = (spec ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (entries.length === 0) return NO_TRUSTED_PROXIES;
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    if (family === 0 || extra !== undefined) {
      throw new Error(`${source}: "${entry}" is not an IP address or CIDR range such as 127.0.0.1 or 10.0.0.0/8`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(addr!, type);
      continue;
    }
    const prefix = Number(bits);
    const max = family === 4 ? 32 : 128;
    if (!/^\d+$/.test(bits) || prefix > max) {
      throw new Error(`${source}: "${entry}" has a prefix length outside 0–${max}`);
    }
    list.addSubnet(addr!, prefix, type);
  }
  return {
    entries,
    trusts(address: string): boolean {
      const a = normaliseAddress(address);
      const family = isIP(a);
      if (family === 0) return false;
      return list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The client's address: the peer's own, unless the peer is a trusted proxy, in which case
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy (the first hop a
 * trusted proxy saw), else X-Real-IP. A malformed forwarded value falls back to the peer.
 * `header` reads one request header by lower-case name.
 */
export function clientAddress(peer: string | undefined, header: (name: string) => string | undefined, trusted: TrustedProxies): string {
  if (!peer) return 'unknown';
  const self = normaliseAddress(peer);
  if (!trusted.trusts(self)) return self;
  const forwarded = header('x-forwarded-for');
  if (forwarded) {
    const hops = forwarded.split(',').map((h) => normaliseAddress(h));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return self;
      if (!trusted.trusts(hop)) return hop;
    }
    return self;
  }
  const real = header('x-real-ip')?.trim();
  return real && isIP(normaliseAddress(real)) !== 0 ? normaliseAddress(real) : self;
}

/** `clientAddress` of a Node request (a WebSocket upgrade, which never reaches Hono). */
export function requestAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  return clientAddress(
    req.socket.remoteAddress,
    (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    trusted,
  );
}
