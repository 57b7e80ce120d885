// Which `Host` Pulse answers to: the DNS-rebinding defence. A page on another site whose
// name is made to resolve to Pulse's address reaches Pulse with that site's name in `Host`;
// such a request is refused (421) before anything reads a cookie or a token. Loopback names
// (localhost, 127.x, ::1) on any port are always answered, so `npm start` and tests work.
// With no name configured (PULSE_PUBLIC_URL, PULSE_ALLOWED_HOSTS) any IP address is answered
// too — an address in `Host` cannot be a rebound name — and every DNS name is refused; once a
// name is configured only those names and loopback are. It must never judge who is asking.
import { isIP } from 'node:net';

export interface HostPolicy {
  /** Whether a request with this `Host` header is answered (no header: an HTTP/1.0 health check is). */
  allows(host: string | undefined): boolean;
  /** The configured names, lower case; empty when none is. */
  readonly names: readonly string[];
}

const NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/**
 * Parses PULSE_ALLOWED_HOSTS: comma-separated host names or addresses, without scheme or port
 * ("pulse.example.nhs.uk, pulse-internal"). Throws an Error naming the bad entry and `source`.
 */
export function parseAllowedHosts(spec: string | undefined, source = 'PULSE_ALLOWED_HOSTS'): string[] {
  const entries = (spec ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return entries.map((entry) => {
    const bare = entry.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
    if (!NAME.test(bare) && isIP(bare) === 0) {
      throw new Error(`${source}: "${entry}" is not a host name or address (no scheme, port or path), such as pulse.example.nhs.uk`);
    }
    return bare;
  });
}

/** The host name of a `Host` header, lower case, without port, brackets or trailing dot; null if malformed. */
export function hostName(header: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/i.exec(header.trim());
  if (!m) return null;
  const name = m[1]!.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  return NAME.test(name) || isIP(name) !== 0 ? name : null;
}

function isLoopback(name: string): boolean {
  return name === 'localhost' || name === '::1' || (isIP(name) === 4 && name.startsWith('127.'));
}

/** The policy for these configured names (PULSE_PUBLIC_URL's host and PULSE_ALLOWED_HOSTS). */
export function hostPolicy(configured: readonly string[] = []): HostPolicy {
  const names = [...new Set(configured.map((n) => n.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase()))];
  const allowed = new Set(names);
  return {
    names,
    allows(host) {
      if (host === undefined || host === '') return true;
      const name = hostName(host);
      if (name === null) return false;
      if (isLoopback(name) || allowed.has(name)) return true;
      return names.length === 0 && isIP(name) !== 0;
    },
  };
}

/** The 421 message for a refused `Host`, naming it (trimmed) and how to allow it. */
export function misdirectedMessage(host: string): string {
  const shown = host.length > 100 ? `${host.slice(0, 100)}…` : host;
  return `Pulse does not answer to the host "${shown}"; its address is set by PULSE_PUBLIC_URL, and other names by PULSE_ALLOWED_HOSTS`;
}
