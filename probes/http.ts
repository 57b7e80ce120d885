// The `http` check kind: one HTTP(S) request to a URL, judged on status and,
// optionally, on a string in the body.
// Each run opens a fresh connection (no keep-alive pool), so latency and
// failures reflect what a new visitor would see. Redirects are not followed:
// a 3xx is judged like any other status and its Location is shown in the detail.
// It must never read more than MAX_BODY_BYTES of a body, never outlive
// ctx.signal, and never know about practices, the scheduler or the server.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { classifyNetworkError, elapsedSince } from './net-errors';
import type { CheckKind, ErrorClass, ProbeContext, ProbeOutcome } from './types';

export const MAX_BODY_BYTES = 1024 * 1024;
const USER_AGENT = 'Pulse-probe/1 (+health monitoring for NHS GP practices)';

// RFC 9110 token for header names; values may not carry CR, LF or NUL.
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name');
const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'HTTP header values may not contain line breaks');

const httpOptions = z
  .object({
    method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
    headers: z.record(headerName, headerValue).default({}),
    expect: z
      .object({
        /** Acceptable statuses; absent means any 2xx. */
        status: z.array(z.number().int().min(100).max(599)).min(1).optional(),
        bodyContains: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type HttpOptions = z.output<typeof httpOptions>;

type Phase = 'connecting' | 'in the TLS handshake' | 'waiting for the response' | 'reading the body';

function validateTarget(target: string): string | null {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return `"${target}" is not a valid URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `"${target}" must start with http:// or https://, not ${url.protocol}//`;
  }
  if (url.hostname === '') return `"${target}" has no host`;
  return null;
}

function describeExpectedStatus(expected: readonly number[] | undefined): string {
  return expected ? expected.join(' or ') : '2xx';
}

function statusAccepted(status: number, expected: readonly number[] | undefined): boolean {
  return expected ? expected.includes(status) : status >= 200 && status <= 299;
}

function quote(text: string, max = 100): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

async function run(target: string, options: HttpOptions, ctx: ProbeContext): Promise<ProbeOutcome> {
  const start = performance.now();
  const url = new URL(target);
  const where = url.origin;
  const isHttps = url.protocol === 'https:';
  const { status: expectedStatus, bodyContains } = options.expect;

  return new Promise<ProbeOutcome>((resolve) => {
    let phase: Phase = 'connecting';
    let settled = false;
    let req: ClientRequest | undefined;
    let res: IncomingMessage | undefined;

    const settle = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      res?.destroy();
      req?.destroy();
      resolve(outcome);
    };
    const fail = (error: ErrorClass, detail: string): void => {
      settle({ ok: false, latencyMs: elapsedSince(start), error, detail });
    };
    function onAbort(): void {
      fail('timeout', `no answer from ${where} within ${ctx.timeoutMs} ms (${phase})`);
    }

    if (ctx.signal.aborted) {
      onAbort();
      return;
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    try {
      req = (isHttps ? httpsRequest : httpRequest)(url, {
        method: options.method,
        headers: { 'user-agent': USER_AGENT, ...options.headers },
        agent: false,
      });
    } catch (err) {
      // Node validates some request fields synchronously.
      fail('error', `could not build the request to ${where}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }

    req.on('socket', (socket) => {
      socket.once('connect', () => {
        if (phase === 'connecting') phase = isHttps ? 'in the TLS handshake' : 'waiting for the response';
      });
      socket.once('secureConnect', () => {
        phase = 'waiting for the response';
      });
    });
    req.on('error', (err) => {
      const classified = classifyNetworkError(err, where);
      fail(classified.error, classified.detail);
    });
    req.on('response', (response) => {
      res = response;
      phase = 'reading the body';
      const status = response.statusCode ?? 0;
      if (!statusAccepted(status, expectedStatus)) {
        const location = response.headers.location;
        const redirect = status >= 300 && status <= 399 && location ? ` (Location: ${quote(location, 200)})` : '';
        fail('status', `status ${status}, expected ${describeExpectedStatus(expectedStatus)}${redirect}`);
        return;
      }

      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          fail('too_large', `body of ${where} is larger than ${MAX_BODY_BYTES} bytes; stopped reading at ${size} bytes`);
          return;
        }
        if (bodyContains !== undefined) chunks.push(chunk);
      });
      response.on('error', (err) => {
        const classified = classifyNetworkError(err, where);
        fail(classified.error, classified.detail);
      });
      response.on('close', () => {
        // Runs after 'end' on success (already settled); otherwise the peer cut the body short.
        if (!response.complete) fail('reset', `connection to ${where} closed after ${size} bytes of the body`);
      });
      response.on('end', () => {
        if (bodyContains !== undefined && !Buffer.concat(chunks).toString('utf8').includes(bodyContains)) {
          fail('assertion', `body does not contain ${quote(bodyContains)} (status ${status}, ${size} bytes read)`);
          return;
        }
        settle({ ok: true, latencyMs: elapsedSince(start), detail: `status ${status}` });
      });
    });
    req.end();
  });
}

export const http: CheckKind<HttpOptions> = {
  kind: 'http',
  options: httpOptions,
  validateTarget,
  run,
};
