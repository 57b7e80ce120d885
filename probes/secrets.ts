// Secret references: how a check names a credential (an API key, a private key, a
// client certificate) without the estate file ever holding it. A reference is
// `{ env: NAME }` or `{ file: /absolute/path }` and is resolved at run time on the
// worker host, so a remote worker uses its own environment and files.
// Must never put a secret's value in a detail, an error message or a log line:
// failures name the variable or the file, and `redact` scrubs resolved values
// from anything a check reports.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { ProbeOutcome } from './types';

export type SecretRef = { env: string } | { file: string };

const REF_MESSAGE =
  'expected a secret reference such as { env: PULSE_API_KEY } or { file: /run/secrets/api-key }; ' +
  'never write the secret itself in the estate file';

export const secretRef: z.ZodType<SecretRef> = z
  .object(
    {
      env: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as PULSE_NHS_API_KEY')
        .optional(),
      file: z
        .string()
        .refine((p) => isAbsolute(p), 'expected an absolute path on the worker host, e.g. /run/secrets/nhs-api-key')
        .optional(),
    },
    // The default message would be harmless too, but this one says what to do instead.
    { error: (issue) => (issue.code === 'invalid_type' ? REF_MESSAGE : undefined) },
  )
  .strict()
  .refine((ref) => (ref.env === undefined) !== (ref.file === undefined), { message: `give exactly one of env or file: ${REF_MESSAGE}` })
  .transform((ref): SecretRef => (ref.env !== undefined ? { env: ref.env } : { file: ref.file! }));

/** How long a secret file's contents are reused before it is read again (rotation picks up within this). */
export const SECRET_FILE_CACHE_MS = 60_000;

const fileCache = new Map<string, { value: string; readAt: number }>();

export function clearSecretCache(): void {
  fileCache.clear();
}

export type ResolvedSecret = { ok: true; value: string } | { ok: false; detail: string };

/** Names a reference without its value, e.g. `env PULSE_API_KEY` or `file /run/secrets/key.pem`. */
export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `env ${ref.env}` : `file ${ref.file}`;
}

/**
 * Reads a secret on this host. Never throws; a failure's detail names the variable
 * or the file and says what is wrong, never what the value is. `now` is injectable
 * for the cache test.
 */
export async function resolveSecret(ref: SecretRef, now: () => number = Date.now): Promise<ResolvedSecret> {
  if ('env' in ref) {
    const value = process.env[ref.env];
    if (value === undefined) return { ok: false, detail: `environment variable ${ref.env} is not set on this worker` };
    if (value.trim() === '') return { ok: false, detail: `environment variable ${ref.env} is empty on this worker` };
    return { ok: true, value };
  }
  const cached = fileCache.get(ref.file);
  if (cached && now() - cached.readAt < SECRET_FILE_CACHE_MS) return { ok: true, value: cached.value };
  let value: string;
  try {
    value = await readFile(ref.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by the worker' : `cannot be read (${code})`;
    return { ok: false, detail: `secret file ${ref.file} ${why} on this worker` };
  }
  if (value.trim() === '') return { ok: false, detail: `secret file ${ref.file} is empty on this worker` };
  fileCache.set(ref.file, { value, readAt: now() });
  return { ok: true, value };
}

/**
 * Resolves several named references at once; the first failure names its option,
 * e.g. `apiKey: environment variable PULSE_API_KEY is not set on this worker`.
 */
export async function resolveSecrets<K extends string>(
  refs: Partial<Record<K, SecretRef>>,
): Promise<{ ok: true; values: Partial<Record<K, string>> } | { ok: false; detail: string }> {
  const values: Partial<Record<K, string>> = {};
  for (const [name, ref] of Object.entries(refs) as [K, SecretRef | undefined][]) {
    if (!ref) continue;
    const resolved = await resolveSecret(ref);
    if (!resolved.ok) return { ok: false, detail: `${name}: ${resolved.detail}` };
    values[name] = resolved.value;
  }
  return { ok: true, values };
}

const MIN_REDACTED_CHARS = 4;
/** Any run of this many characters of a secret is redacted, so a cut-short quote cannot leak a prefix. */
const REDACTED_FRAGMENT_CHARS = 12;

/** Replaces every part of `text` that is a secret, or a fragment of one at least REDACTED_FRAGMENT_CHARS long. */
export function scrub(text: string, secrets: readonly string[]): string {
  const hidden = new Uint8Array(text.length);
  let any = false;
  const hide = (needle: string): void => {
    for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
      hidden.fill(1, at, at + needle.length);
      any = true;
    }
  };
  for (const secret of secrets) {
    const value = secret.trim();
    if (value.length < MIN_REDACTED_CHARS) continue;
    if (value.length <= REDACTED_FRAGMENT_CHARS) {
      hide(value);
      continue;
    }
    for (let i = 0; i + REDACTED_FRAGMENT_CHARS <= value.length; i++) hide(value.slice(i, i + REDACTED_FRAGMENT_CHARS));
  }
  if (!any) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!hidden[i]) out += text[i];
    else if (i === 0 || !hidden[i - 1]) out += '[redacted]';
  }
  return out;
}

/**
 * Scrubs secret values from the outcome's texts (see `scrub`). A server that
 * echoes a request header back into a body we quote must not turn the detail into
 * a leak, even when the quote is cut short.
 */
export function redact(outcome: ProbeOutcome, secrets: readonly string[]): ProbeOutcome {
  if (secrets.length === 0) return outcome;
  if (!outcome.ok) return { ...outcome, detail: scrub(outcome.detail, secrets) };
  const out: ProbeOutcome = { ...outcome };
  if (outcome.detail !== undefined) out.detail = scrub(outcome.detail, secrets);
  if (outcome.degraded !== undefined) out.degraded = scrub(outcome.degraded, secrets);
  return out;
}
