// Maps a Node socket/TLS/DNS error to one of our bounded error classes, with a
// detail an operator can act on. Shared by the network check kinds.
// Must never invent a class outside ERROR_CLASSES nor let a raw error object or
// stack trace reach the detail.
import type { ErrorClass } from './types';

export interface ClassifiedError {
  error: ErrorClass;
  detail: string;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);
// OpenSSL verification codes as Node exposes them, plus Node's own TLS codes.
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_)|CERT|^UNABLE_TO_|^INVALID_CA$|^PATH_LENGTH_EXCEEDED$|^INVALID_PURPOSE$|^HOSTNAME_MISMATCH$|^EPROTO$/;

const MAX_MESSAGE_CHARS = 200;

/** One short line: OpenSSL's `...:SSL routines:func:reason:file:line:` is cut to its reason. */
function tidy(message: string): string {
  const openssl = /SSL routines:[^:]*:([^:]+)/.exec(message);
  const line = (openssl?.[1] ?? message).replace(/\s+/g, ' ').trim();
  return line.length > MAX_MESSAGE_CHARS ? `${line.slice(0, MAX_MESSAGE_CHARS)}…` : line;
}

function errorFields(err: unknown): { code: string | undefined; message: string; hostname: string | undefined } {
  if (err instanceof Error) {
    const { code, hostname } = err as NodeJS.ErrnoException & { hostname?: unknown };
    return {
      code: typeof code === 'string' ? code : undefined,
      message: tidy(err.message),
      hostname: typeof hostname === 'string' ? hostname : undefined,
    };
  }
  return { code: undefined, message: tidy(String(err)), hostname: undefined };
}

/** `where` names the peer, e.g. `example.nhs.uk:443`, so the detail says what was tried. */
export function classifyNetworkError(err: unknown, where: string): ClassifiedError {
  const { code, message, hostname } = errorFields(err);
  if (code && DNS_CODES.has(code)) {
    return { error: 'dns', detail: `could not resolve ${hostname ?? `the host of ${where}`} (${code})` };
  }
  if (code === 'ECONNREFUSED') {
    return { error: 'refused', detail: `connection refused by ${where}` };
  }
  if ((code && RESET_CODES.has(code)) || message === 'socket hang up') {
    return { error: 'reset', detail: `connection to ${where} reset before a complete response (${message})` };
  }
  if (code === 'ETIMEDOUT') {
    return { error: 'timeout', detail: `connection to ${where} timed out in the operating system (${code})` };
  }
  if (code && TLS_CODE.test(code)) {
    return { error: 'tls', detail: `TLS with ${where} failed: ${message} (${code})` };
  }
  return { error: 'error', detail: `${where}: ${code ? `${code}: ` : ''}${message}` };
}

/** Milliseconds since `start` (a performance.now() reading), to 0.01 ms. */
export function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}
