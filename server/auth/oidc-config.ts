// The estate file's `auth.oidc` section: which OpenID Connect provider (NHS CIS2, or any
// certified OP) Pulse trusts, how it authenticates to it, and how role claims become Pulse
// roles. Also resolves the client secret reference at run time.
// Never accepts a secret written into the file: the estate file is committed, reviewed and
// copied around; a secret is named by reference (an environment variable or a file) only.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { z } from 'zod';

export const DEFAULT_SCOPES = ['openid', 'profile', 'nationalrbacaccess', 'associatedorgs', 'selectedrole'];

/** The path the lead's route serves; a redirect URL elsewhere is a config mistake found at start, not at sign-in. */
export const CALLBACK_PATH = '/auth/oidc/callback';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const LITERAL_SECRET =
  'the client secret must not be written in the estate file (it is committed and shared); ' +
  'name where it is kept instead: { env: PULSE_OIDC_CLIENT_SECRET } or { file: /run/secrets/pulse-oidc }';

/** https everywhere; plain http only on loopback (a local test provider), never across a network. */
function secureUrl(what: string) {
  return z
    .string({ error: `expected the ${what} as a URL, e.g. https://…` })
    .refine((s) => URL.canParse(s), { message: `expected the ${what} as an absolute URL, e.g. https://…`, abort: true })
    .refine(
      (s) => {
        const u = new URL(s);
        return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname));
      },
      { message: `the ${what} must use https (plain http is allowed only on 127.0.0.1 / localhost for testing)` },
    )
    .refine((s) => !s.includes('#'), { message: `the ${what} must not contain a #fragment` });
}

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name in capitals, e.g. PULSE_OIDC_CLIENT_SECRET');
const absolutePath = z
  .string()
  .refine((p) => isAbsolute(p), { message: 'expected an absolute path, e.g. /run/secrets/pulse-oidc' });

/** `{ env: NAME }` or `{ file: /abs/path }`; a plain string is refused with the reason. */
export const secretRefSchema = z
  .object(
    { env: envName.optional(), file: absolutePath.optional() },
    {
      error: (issue) =>
        issue.code !== 'invalid_type'
          ? undefined
          : typeof issue.input === 'string'
            ? LITERAL_SECRET
            : 'expected { env: NAME } or { file: /absolute/path }',
    },
  )
  .strict()
  .refine((r) => (r.env === undefined) !== (r.file === undefined), {
    message: 'expected exactly one of env or file, e.g. { env: PULSE_OIDC_CLIENT_SECRET }',
  })
  .transform((r): SecretRef => (r.env !== undefined ? { env: r.env } : { file: r.file! }));

export type SecretRef = { env: string } | { file: string };

const orgCode = z
  .string()
  .regex(/^[A-Z0-9]{2,10}$/, 'expected an ODS organisation code in capitals, e.g. QWO');

const roleCode = z
  .string()
  .regex(
    /^[A-Z0-9]+(:[A-Z0-9]+)*$/,
    'expected a CIS2 role code: a job role code such as R8000, or the full S8000:G8000:R8000',
  );

export const oidcMappingSchema = z
  .object({
    /**
     * ICB codes whose staff become `ops` for that ICB: a role claim whose org_code is the ICB
     * code. Never grants national (every-ICB) ops; that stays a local account decision.
     */
    icbOps: z.array(orgCode).default([]),
    /**
     * Matched against each role claim's `role_code` (not `role_name`, which is free text):
     * an entry equals the whole code (S8000:G8000:R8000) or its last part, the job role (R8000).
     * A practice-level role in this list makes its holder a manager of that practice; any other
     * role at a practice makes them a viewer of it.
     */
    managerRoleCodes: z.array(roleCode).default([]),
  })
  .strict();

export const oidcSchema = z
  .object({
    /** The provider's Issuer Identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
    issuer: secureUrl('issuer'),
    clientId: z.string().min(1, 'expected the client id the provider issued to Pulse'),
    clientSecret: secretRefSchema,
    /** Pulse's public callback URL, registered with the provider exactly as written here. */
    redirectUrl: secureUrl('redirect URL')
      .refine((s) => new URL(s).pathname.endsWith(CALLBACK_PATH), {
        message: `the redirect URL must end with ${CALLBACK_PATH}, the path Pulse serves the sign-in callback on`,
      })
      .refine((s) => new URL(s).search === '', { message: 'the redirect URL must not have a query string' }),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'expected a scope name without spaces or quotes'))
      .default(DEFAULT_SCOPES)
      .refine((s) => s.includes('openid'), { message: 'scopes must include openid' }),
    mapping: oidcMappingSchema.default({ icbOps: [], managerRoleCodes: [] }),
    /**
     * Must stay false: Pulse has no role meaning "signed in but sees nothing" (a viewer with no
     * ICB could be read as every ICB), so users whose roles map to no practice or ICB are refused.
     * Written in the file so a reader sees the decision.
     */
    allowUnmapped: z
      .literal(false, {
        error:
          'allowUnmapped must be false: users whose roles match no practice or ICB are refused sign-in; ' +
          'add their ICB to mapping.icbOps or their practice to the estate instead',
      })
      .default(false),
  })
  .strict();

export type OidcConfig = z.infer<typeof oidcSchema>;
export type OidcMapping = z.infer<typeof oidcMappingSchema>;

/** Why a secret reference could not be read, naming where it looked (never the value). */
export class SecretRefError extends Error {
  readonly code = 'SECRET_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'SecretRefError';
  }
}

/**
 * Reads a secret reference: the environment variable, or the file with one trailing newline
 * removed. Rejects an empty value — an empty secret is always a deployment mistake.
 */
export async function readSecretRef(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new SecretRefError(`the environment variable ${ref.env} (the OIDC client secret) is not set or empty`);
    return value;
  }
  let text: string;
  try {
    text = await readFile(ref.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SecretRefError(`cannot read the OIDC client secret file ${ref.file} (${code})`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value) throw new SecretRefError(`the OIDC client secret file ${ref.file} is empty`);
  return value;
}
