// The body a workstation agent POSTs to /api/heartbeats/:ods, validated once at the edge.
// Strict: an unknown field is an error, so a misspelt agent script is noticed the first
// time it runs, not months later. Never trusts the agent's clock for status: `sentAt`
// and `bootedAt` are informational, the server's receive time is what counts. `software`
// is bounded (entries, name and version lengths) so what agents send stays small in memory.
// Two checks, one rule: a plain check that allocates nothing accepts the bodies agents send
// (the heartbeat path runs thousands of times a second); anything it does not accept goes
// through the zod schema, which says what is wrong. The plain check never accepts what the
// schema refuses (a property test holds them together).
import { z } from 'zod';
import type { SoftwareMap } from './software';

/** At most this many entries in a heartbeat's `software` map. */
export const MAX_SOFTWARE_ENTRIES = 16;
/** Longest software name (`falcon-sensor`) and longest version (`7.16.18605`), in characters. */
export const MAX_SOFTWARE_KEY_LENGTH = 64;
export const MAX_SOFTWARE_VALUE_LENGTH = 64;

/** Printable text without control characters (it may end up in logs and on screens). */
const label = (max: number) =>
  z
    .string()
    .min(1, 'expected at least 1 character')
    .max(max, `expected at most ${max} characters`)
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'expected printable text without control characters');

/** A software name: starts with a letter or digit (so never `__proto__`), then letters, digits, . _ - : */
const SOFTWARE_KEY = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${MAX_SOFTWARE_KEY_LENGTH - 1}}$`);
/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidirectional
 * overrides: versions end up on wall displays and in the audit export, where these would
 * break lines or reorder text.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const softwareValue = z
  .string({ error: 'expected a version as a string, e.g. "7.16.18605"' })
  .min(1, 'expected at least 1 character')
  .max(MAX_SOFTWARE_VALUE_LENGTH, `expected at most ${MAX_SOFTWARE_VALUE_LENGTH} characters`)
  .refine((v) => !UNPRINTABLE.test(v), 'expected printable text without control characters');

/**
 * `{ "falcon-sensor": "7.16.18605", "os": "10.0.19045.4651" }`. The count and the names are
 * checked first (over every own key, `__proto__` included), so an oversized map is one error
 * and a bad name is reported as such, then each version.
 */
const softwareSchema = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    error: 'expected an object of software names to versions, e.g. {"falcon-sensor": "7.16.18605"}',
  })
  .check((ctx) => {
    const keys = Object.keys(ctx.value);
    if (keys.length > MAX_SOFTWARE_ENTRIES) {
      ctx.issues.push({ code: 'custom', input: ctx.value, message: `at most ${MAX_SOFTWARE_ENTRIES} entries (got ${keys.length})` });
      return;
    }
    const bad = keys.find((k) => !SOFTWARE_KEY.test(k));
    if (bad !== undefined) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: [bad],
        message: `expected a name of letters, digits, dots, underscores, colons or dashes, starting with a letter or digit, at most ${MAX_SOFTWARE_KEY_LENGTH} characters`,
      });
    }
  })
  .pipe(z.record(z.string(), softwareValue))
  .transform((v): SoftwareMap => v);

const timestamp = z.iso.datetime({
  offset: true,
  error: 'expected an ISO 8601 date-time with a time zone, e.g. 2024-07-19T04:09:00Z',
});

export const heartbeatSchema = z
  .object({
    agent: z
      .string({ error: (issue) => (issue.input === undefined ? 'missing (the agent id is required)' : 'expected a string') })
      .min(1, 'expected at least 1 character')
      .max(128, 'expected at most 128 characters')
      .regex(/^[A-Za-z0-9._:-]+$/, 'expected letters, digits, dots, underscores, colons or dashes'),
    hostname: label(253).optional(),
    version: label(64).optional(),
    bootedAt: timestamp.optional(),
    sentAt: timestamp.optional(),
    software: softwareSchema.optional(),
  })
  .strict();

export type Heartbeat = z.infer<typeof heartbeatSchema>;

export type HeartbeatParse =
  | { ok: true; value: Heartbeat }
  | { ok: false; error: { field: string; message: string } };

/**
 * Validates a parsed JSON body. On failure names the first offending field (`body` when
 * the body is not a JSON object) so the route can answer 400 with a useful sentence.
 */
export function parseHeartbeat(json: unknown): HeartbeatParse {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, error: { field: 'body', message: 'expected a JSON object such as {"agent":"PC-01"}' } };
  }
  if (plainlyValid(json as Record<string, unknown>)) return { ok: true, value: json as Heartbeat };
  const parsed = heartbeatSchema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    // Keys come from the client: clipped, so an error never echoes a large body back.
    const keys = issue.keys.slice(0, 3).map((k) => `"${clip(k)}"`).join(', ') + (issue.keys.length > 3 ? ', …' : '');
    return {
      ok: false,
      error: {
        field: clip(issue.keys[0]!),
        message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}; expected agent, hostname, version, bootedAt, sentAt, software`,
      },
    };
  }
  // Path parts after `software` are names the client chose: clipped like unknown keys.
  const field = issue.path.filter((p) => typeof p !== 'symbol').map((p) => clip(String(p))).join('.') || 'body';
  return { ok: false, error: { field, message: issue.message } };
}

const AGENT = /^[A-Za-z0-9._:-]+$/;
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;
/** zod's own pattern for `z.iso.datetime({ offset: true })`, so both checks agree on every date. */
const TIMESTAMP: RegExp = (timestamp as unknown as { _zod: { pattern: RegExp } })._zod.pattern;

/**
 * True only for a body the schema accepts as it is (no field to transform): the usual
 * heartbeat. False means "ask the schema", never "refused".
 */
export function plainlyValid(body: Record<string, unknown>): boolean {
  if (Object.getPrototypeOf(body) !== Object.prototype) return false;
  let agentSeen = false;
  for (const key in body) {
    if (!Object.hasOwn(body, key)) return false;
    const value = body[key];
    switch (key) {
      case 'agent':
        if (typeof value !== 'string' || value.length < 1 || value.length > 128 || !AGENT.test(value)) return false;
        agentSeen = true;
        break;
      case 'hostname':
        if (typeof value !== 'string' || value.length < 1 || value.length > 253 || !PRINTABLE.test(value)) return false;
        break;
      case 'version':
        if (typeof value !== 'string' || value.length < 1 || value.length > 64 || !PRINTABLE.test(value)) return false;
        break;
      case 'bootedAt':
      case 'sentAt':
        if (typeof value !== 'string' || !TIMESTAMP.test(value)) return false;
        break;
      case 'software':
        if (!plainSoftware(value)) return false;
        break;
      default:
        return false;
    }
  }
  // An own `__proto__` (JSON.parse makes one) is not seen by for…in on every engine: the schema decides.
  return agentSeen && !Object.hasOwn(body, '__proto__');
}

function plainSoftware(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  if (Object.hasOwn(value, '__proto__')) return false;
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return false;
    if (++count > MAX_SOFTWARE_ENTRIES || !SOFTWARE_KEY.test(key)) return false;
    const version = (value as Record<string, unknown>)[key];
    if (typeof version !== 'string' || version.length < 1 || version.length > MAX_SOFTWARE_VALUE_LENGTH || UNPRINTABLE.test(version)) return false;
  }
  return true;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
