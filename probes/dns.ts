// The `dns` check kind: does a name resolve, and to what? One query of one record
// type (A, AAAA or CNAME) to the system's resolvers or a named one, judged on
// the answers. Latency is the time to the answer.
// It must never outlive ctx.signal (a pending query is cancelled), never fall
// back to another resolver than the one configured, and never know about
// practices, the scheduler or the server.
import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import { z } from 'zod';
import { isHostName } from './host-name';
import { elapsedSince } from './net-errors';
import { parseHostPort } from './tcp';
import type { CheckKind, ErrorClass, ProbeContext, ProbeOutcome } from './types';

/** `10.0.0.53`, `10.0.0.53:5353`, `::1`, `[::1]:5353`: node:dns takes addresses only, never names. */
function resolverAddressError(text: string): string | null {
  if (isIP(text)) return null;
  const parsed = parseHostPort(text);
  if (typeof parsed !== 'string' && isIP(parsed.host)) return null;
  return 'expected the IP address of a DNS server, optionally with a port: 10.0.0.53, 10.0.0.53:5353 or [fd00::53]:53';
}

const answer = z.string().min(1);

const dnsOptions = z
  .object({
    recordType: z.enum(['A', 'AAAA', 'CNAME']).default('A'),
    /** The DNS server to ask; absent means the host's configured resolvers. */
    resolver: z
      .string()
      .superRefine((text, ctx) => {
        const error = resolverAddressError(text);
        if (error) ctx.addIssue({ code: 'custom', message: error });
      })
      .optional(),
    expect: z
      .object({
        /** Every one of these must be among the answers. */
        answers: z.array(answer).min(1).optional(),
        /** At least one of these must be among the answers. */
        anyOf: z.array(answer).min(1).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type DnsOptions = z.output<typeof dnsOptions>;
type RecordType = DnsOptions['recordType'];

function validateTarget(target: string): string | null {
  if (isIP(target)) return `"${target}" is an IP address; a dns check needs a host name such as gpconnect.example.nhs.uk`;
  if (!isHostName(target)) return `"${target}" is not a host name such as gpconnect.example.nhs.uk`;
  return null;
}

/** The form answers are compared in: names lower-case without the root dot, IPv6 compressed. */
function normalise(type: RecordType, value: string): string {
  const text = value.trim().toLowerCase();
  if (type === 'CNAME') return text.replace(/\.$/, '');
  if (type === 'AAAA') {
    try {
      return new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      return text;
    }
  }
  return text;
}

function query(resolver: dnsPromises.Resolver, type: RecordType, name: string): Promise<string[]> {
  switch (type) {
    case 'A':
      return resolver.resolve4(name);
    case 'AAAA':
      return resolver.resolve6(name);
    case 'CNAME':
      return resolver.resolveCname(name);
  }
}

function classify(code: string | undefined, type: RecordType, name: string, server: string, timeoutMs: number): { error: ErrorClass; detail: string } {
  switch (code) {
    case 'ENOTFOUND':
      return { error: 'dns', detail: `${name} does not exist (NXDOMAIN from ${server})` };
    case 'ENODATA':
      return { error: 'dns', detail: `${name} exists but has no ${type} records (NODATA from ${server})` };
    case 'ESERVFAIL':
      return { error: 'dns', detail: `${server} could not answer for ${name} (SERVFAIL)` };
    case 'EREFUSED':
      return { error: 'dns', detail: `${server} refused to answer for ${name} (REFUSED)` };
    case 'ETIMEOUT':
      return { error: 'timeout', detail: `no answer from ${server} for ${type} ${name} within ${timeoutMs} ms` };
    case 'ECONNREFUSED':
      return { error: 'refused', detail: `${server} refused the connection (ECONNREFUSED)` };
    default:
      return { error: 'dns', detail: `${type} ${name} via ${server} failed (${code ?? 'unknown error'})` };
  }
}

async function run(target: string, options: DnsOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const start = performance.now();
  const { recordType: type, expect } = options;
  const name = target.replace(/\.$/, '');
  const server = options.resolver ?? 'the system resolver';
  const timedOut = (): ProbeOutcome => ({
    ok: false,
    latencyMs: elapsedSince(start),
    error: 'timeout',
    detail: `no answer from ${server} for ${type} ${name} within ${ctx.timeoutMs} ms`,
  });
  if (ctx.signal.aborted) return timedOut();

  // One try, bounded by the check's timeout: a retry would hide a slow resolver.
  const resolver = new dnsPromises.Resolver({ timeout: Math.max(1, ctx.timeoutMs), tries: 1 });
  if (options.resolver) {
    try {
      resolver.setServers([options.resolver]);
    } catch {
      return { ok: false, latencyMs: 0, error: 'error', detail: `resolver ${options.resolver} is not a usable DNS server address` };
    }
  }

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => {
      resolver.cancel();
      resolve('aborted');
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  let answers: string[];
  try {
    const result = await Promise.race([query(resolver, type, name), aborted]);
    if (result === 'aborted') return timedOut();
    answers = result;
  } catch (err) {
    if (ctx.signal.aborted) return timedOut();
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, latencyMs: elapsedSince(start), ...classify(code, type, name, server, ctx.timeoutMs) };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort!);
  }

  const latencyMs = elapsedSince(start);
  const got = answers.map((a) => normalise(type, a));
  const shown = got.length > 0 ? got.join(', ') : 'nothing';
  if (expect.answers) {
    const missing = expect.answers.filter((a) => !got.includes(normalise(type, a)));
    if (missing.length > 0) {
      return {
        ok: false,
        latencyMs,
        error: 'assertion',
        detail: `${type} ${name} answered ${shown}; expected all of ${expect.answers.join(', ')} (missing ${missing.join(', ')})`,
      };
    }
  }
  if (expect.anyOf && !expect.anyOf.some((a) => got.includes(normalise(type, a)))) {
    return { ok: false, latencyMs, error: 'assertion', detail: `${type} ${name} answered ${shown}; expected any of ${expect.anyOf.join(', ')}` };
  }
  return { ok: true, latencyMs, detail: `${type} ${name}: ${shown}` };
}

export const dns: CheckKind<DnsOptions> = {
  kind: 'dns',
  options: dnsOptions,
  validateTarget,
  run,
};
