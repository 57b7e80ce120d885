// The `tcp` check kind: can a TCP connection to host:port be opened? Latency is
// the time to connect; the connection is closed at once, nothing is sent.
// It must never write to the peer, never outlive ctx.signal, and never know
// about practices, the scheduler or the server.
import { connect, isIPv6 } from 'node:net';
import { z } from 'zod';
import { classifyNetworkError, elapsedSince } from './net-errors';
import type { CheckKind, ProbeContext, ProbeOutcome } from './types';

const tcpOptions = z.object({}).strict();
export type TcpOptions = z.output<typeof tcpOptions>;

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port` or `[ipv6]:port`; returns an error message instead of throwing. */
export function parseHostPort(target: string): HostPort | string {
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(target);
  const plain = /^([^:[\]]*):([^:]*)$/.exec(target);
  const match = bracketed ?? plain;
  if (!match) {
    return `"${target}" must be host:port (write IPv6 addresses as [::1]:443)`;
  }
  const host = match[1] ?? '';
  const portText = match[2] ?? '';
  if (host.trim() === '' || /\s/.test(host)) return `"${target}" has no valid host`;
  if (bracketed && !isIPv6(host)) return `"${host}" in "${target}" is not an IPv6 address`;
  if (!/^\d{1,5}$/.test(portText)) return `"${target}" has no valid port (expected 1-65535)`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} in "${target}" is out of range (expected 1-65535)`;
  return { host, port };
}

function validateTarget(target: string): string | null {
  const parsed = parseHostPort(target);
  return typeof parsed === 'string' ? parsed : null;
}

async function run(target: string, _options: TcpOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const start = performance.now();
  const parsed = parseHostPort(target);
  if (typeof parsed === 'string') {
    return { ok: false, latencyMs: 0, error: 'error', detail: parsed };
  }
  if (ctx.signal.aborted) {
    return { ok: false, latencyMs: elapsedSince(start), error: 'timeout', detail: `no connection to ${target} within ${ctx.timeoutMs} ms` };
  }

  return new Promise<ProbeOutcome>((resolve) => {
    const socket = connect({ host: parsed.host, port: parsed.port });
    let settled = false;
    const settle = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    function onAbort(): void {
      settle({
        ok: false,
        latencyMs: elapsedSince(start),
        error: 'timeout',
        detail: `no connection to ${target} within ${ctx.timeoutMs} ms`,
      });
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      settle({ ok: true, latencyMs: elapsedSince(start), detail: `connected to ${target}` });
    });
    socket.on('error', (err) => {
      const classified = classifyNetworkError(err, target);
      settle({ ok: false, latencyMs: elapsedSince(start), ...classified });
    });
  });
}

export const tcp: CheckKind<TcpOptions> = {
  kind: 'tcp',
  options: tcpOptions,
  validateTarget,
  run,
};
