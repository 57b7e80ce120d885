// The `tls` check kind: a TLS handshake with host:port, then a verdict on the
// server's certificate: is the chain trusted (system CAs or tls.ca), is it for
// the right name, how many days until it expires. Latency is connect + handshake.
// The certificate is judged here rather than by Node's automatic rejection so a
// failure can say *why* (expired when, self-signed, wrong name); since nothing is
// ever sent after the handshake, looking before judging leaks nothing.
// It must never send application data, never outlive ctx.signal, and never know
// about practices, the scheduler or the server.
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { z } from 'zod';
import { classifyNetworkError, elapsedSince } from './net-errors';
import { redact } from './secrets';
import { parseHostPort } from './tcp';
import { certificateExpiry, describeAuthorizationError, describeExpiry, describeName, resolveTlsClient, tlsClientOptions } from './tls-client';
import type { CheckKind, ProbeContext, ProbeOutcome } from './types';

const tlsOptions = z
  .object({
    /** Degraded when the certificate expires within this many days. */
    degradedWithinDays: z.number().int().min(0).max(3650).default(14),
    /** Private CA, client certificate (for servers that demand one), server name. */
    tls: tlsClientOptions.optional(),
  })
  .strict();

export type TlsOptions = z.output<typeof tlsOptions>;

function validateTarget(target: string): string | null {
  const parsed = parseHostPort(target);
  return typeof parsed === 'string' ? parsed : null;
}

type Handshake =
  | { ok: true; socket: TLSSocket; latencyMs: number }
  | { ok: false; outcome: ProbeOutcome };

async function run(target: string, options: TlsOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const start = performance.now();
  const parsed = parseHostPort(target);
  if (typeof parsed === 'string') return { ok: false, latencyMs: 0, error: 'error', detail: parsed };
  const resolved = await resolveTlsClient(options.tls, parsed.host);
  if (!resolved.ok) return { ok: false, latencyMs: 0, error: 'error', detail: resolved.detail };
  const settings = resolved.settings;
  const verify = settings.connect.rejectUnauthorized !== false;

  const handshake = await new Promise<Handshake>((resolve) => {
    let phase: 'connecting' | 'in the TLS handshake' = 'connecting';
    let settled = false;
    const timeout = (): ProbeOutcome => ({
      ok: false,
      latencyMs: elapsedSince(start),
      error: 'timeout',
      detail: `no TLS session with ${target} within ${ctx.timeoutMs} ms (${phase})`,
    });
    if (ctx.signal.aborted) {
      resolve({ ok: false, outcome: timeout() });
      return;
    }
    const socket = tlsConnect({
      host: parsed.host,
      port: parsed.port,
      ...settings.connect,
      // Judged below, with the certificate in hand, for a detail that says why.
      rejectUnauthorized: false,
    });
    const finish = (result: Handshake): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      if (!result.ok) socket.destroy();
      resolve(result);
    };
    function onAbort(): void {
      finish({ ok: false, outcome: timeout() });
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      phase = 'in the TLS handshake';
    });
    socket.on('error', (err) => {
      finish({ ok: false, outcome: { ok: false, latencyMs: elapsedSince(start), ...classifyNetworkError(err, target) } });
    });
    socket.once('secureConnect', () => finish({ ok: true, socket, latencyMs: elapsedSince(start) }));
  });
  if (!handshake.ok) return redact(handshake.outcome, settings.secrets);

  const { socket, latencyMs } = handshake;
  try {
    const raw = socket.getPeerCertificate();
    const cert: PeerCertificate | null = raw && Object.keys(raw).length > 0 ? raw : null;
    const outcome = judge(target, options, socket, cert, verify, settings.verifyName, latencyMs);
    // The expiry goes with every verdict that saw a readable certificate (for the metrics).
    const notAfter = cert ? Date.parse(cert.valid_to) : Number.NaN;
    return Number.isFinite(notAfter) ? { ...outcome, certExpiresAt: notAfter } : outcome;
  } finally {
    socket.destroy();
  }
}

/** The verdict on the certificate the handshake brought back. */
function judge(
  target: string,
  options: TlsOptions,
  socket: TLSSocket,
  cert: PeerCertificate | null,
  verify: boolean,
  verifyName: string,
  latencyMs: number,
): ProbeOutcome {
  const now = Date.now();
  const fail = (detail: string): ProbeOutcome => ({ ok: false, latencyMs, error: 'tls', detail });
  if (!cert) return fail(`${target} sent no certificate`);
  if (verify && !socket.authorized) {
    const code = String(socket.authorizationError ?? 'UNKNOWN');
    return fail(describeAuthorizationError(code, cert, verifyName, now));
  }
  const expiry = certificateExpiry(cert, now);
  if (!expiry) return fail(`certificate of ${target} has an unreadable notAfter (${JSON.stringify(cert.valid_to)})`);
  // Reached with an expired certificate only when verification is off.
  if (expiry.expired) return fail(describeExpiry(expiry));
  const facts = `${socket.getProtocol() ?? 'TLS'}, subject ${describeName(cert.subject)}, issuer ${describeName(cert.issuer)}${verify ? '' : ', chain not verified (insecureSkipVerify)'}`;
  const left = `${expiry.daysLeft} days left`;
  if (expiry.daysLeft < options.degradedWithinDays) {
    return { ok: true, latencyMs, degraded: `${describeExpiry(expiry)}, within degradedWithinDays ${options.degradedWithinDays}`, detail: `${left}; ${facts}` };
  }
  return { ok: true, latencyMs, detail: `${left} (notAfter ${expiry.notAfter.toISOString().slice(0, 10)}); ${facts}` };
}

export const tls: CheckKind<TlsOptions> = {
  kind: 'tls',
  options: tlsOptions,
  validateTarget,
  run,
};
