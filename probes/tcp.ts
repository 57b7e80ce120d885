// The `tcp` check kind: can a TCP connection to host:port be opened and, with
// `tls`, a TLS session set up over it? Latency is the time to connect (and
// handshake); the connection is closed at once, no application data is sent.
// It must never write application data to the peer, never outlive ctx.signal,
// and never know about practices, the scheduler or the server.
import { connect, isIPv6 } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { z } from 'zod';
import { classifyNetworkError, elapsedSince } from './net-errors';
import { redact } from './secrets';
import { resolveTlsClient, tlsClientOptions, type TlsClientSettings } from './tls-client';
import type { CheckKind, ProbeContext, ProbeOutcome } from './types';

const tcpOptions = z
  .object({
    /** `true`: handshake verified against the system CAs; an object: the shared TLS settings. */
    tls: z.union([z.literal(true), tlsClientOptions]).optional(),
  })
  .strict();
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

async function run(target: string, options: TcpOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const start = performance.now();
  const parsed = parseHostPort(target);
  if (typeof parsed === 'string') {
    return { ok: false, latencyMs: 0, error: 'error', detail: parsed };
  }
  let tls: TlsClientSettings | undefined;
  if (options.tls !== undefined) {
    const resolved = await resolveTlsClient(options.tls === true ? undefined : options.tls, parsed.host);
    if (!resolved.ok) return { ok: false, latencyMs: 0, error: 'error', detail: resolved.detail };
    tls = resolved.settings;
  }
  if (ctx.signal.aborted) {
    return { ok: false, latencyMs: elapsedSince(start), error: 'timeout', detail: `no connection to ${target} within ${ctx.timeoutMs} ms` };
  }

  const outcome = await new Promise<ProbeOutcome>((resolve) => {
    // With tls, one TLS socket that connects and then handshakes: wrapping a
    // connected net.Socket instead leaves it open when the wrap is destroyed mid-handshake.
    const socket = tls
      ? tlsConnect({ host: parsed.host, port: parsed.port, ...tls.connect })
      : connect({ host: parsed.host, port: parsed.port });
    let phase: 'connection' | 'TLS handshake' = 'connection';
    let settled = false;
    const settle = (result: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    function onAbort(): void {
      settle({
        ok: false,
        latencyMs: elapsedSince(start),
        error: 'timeout',
        detail: phase === 'connection' ? `no connection to ${target} within ${ctx.timeoutMs} ms` : `no TLS handshake with ${target} within ${ctx.timeoutMs} ms`,
      });
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => {
      const classified = classifyNetworkError(err, target);
      settle({ ok: false, latencyMs: elapsedSince(start), ...classified });
    });
    socket.once('connect', () => {
      if (!tls) {
        settle({ ok: true, latencyMs: elapsedSince(start), detail: `connected to ${target}` });
        return;
      }
      phase = 'TLS handshake';
    });
    socket.once('secureConnect', () => {
      const protocol = (socket as TLSSocket).getProtocol() ?? 'TLS';
      settle({ ok: true, latencyMs: elapsedSince(start), detail: `connected to ${target}, ${protocol} handshake done` });
    });
  });
  return redact(outcome, tls?.secrets ?? []);
}

export const tcp: CheckKind<TcpOptions> = {
  kind: 'tcp',
  options: tcpOptions,
  validateTarget,
  run,
};
