// The body a workstation agent POSTs to /api/heartbeats/:ods, validated once at the edge.
// Strict: an unknown field is an error, so a misspelt agent script is noticed the first
// time it runs, not months later. Never trusts the agent's clock for status: `sentAt`
// and `bootedAt` are informational, the server's receive time is what counts.
import { z } from 'zod';

/** Printable text without control characters (it may end up in logs and on screens). */
const label = (max: number) =>
  z
    .string()
    .min(1, 'expected at least 1 character')
    .max(max, `expected at most ${max} characters`)
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'expected printable text without control characters');

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
        message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}; expected agent, hostname, version, bootedAt, sentAt`,
      },
    };
  }
  const field = issue.path.filter((p) => typeof p !== 'symbol').join('.') || 'body';
  return { ok: false, error: { field, message: issue.message } };
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
