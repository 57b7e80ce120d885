// The OpenAPI document's security, derived from the guards rather than written per route: each
// operation's `security`, its 401/403 answers and its operationId come from the permission its
// Hono route declares (auth/middleware.ts `requires`), so a new route is documented correctly
// by declaring its permission. Never changes what a route does; it only describes it.
import type { Permission } from '../auth/permissions';

/** The credentials Pulse accepts, as OpenAPI security schemes. */
export const SECURITY_SCHEMES = {
  session: {
    type: 'apiKey',
    in: 'cookie',
    name: 'pulse_session',
    description: 'A person signed in (POST /api/auth/login or OIDC): HttpOnly, SameSite=Lax session cookie.',
  },
  csrf: {
    type: 'apiKey',
    in: 'header',
    name: 'X-CSRF-Token',
    description: "The session's CSRF token (from sign-in or /api/auth/me), required with the session cookie on every state-changing request; a foreign Origin is refused.",
  },
  display: {
    type: 'http',
    scheme: 'bearer',
    description: 'A display (wall screen) token: read-only, scoped to its ICB or the whole estate.',
  },
  agent: {
    type: 'http',
    scheme: 'bearer',
    description: "A practice's endpoint-agent token, for workstation heartbeats to that practice only.",
  },
  metrics: {
    type: 'http',
    scheme: 'bearer',
    description: 'PULSE_METRICS_TOKEN, when set: the Prometheus scrape needs it.',
  },
  // Probe workers' bearer tokens guard the /workers WebSocket upgrade, which is not an HTTP
  // operation of this document (docs/websocket.md describes it); so no scheme here.
} as const;

/** Routes that are `public` to the guard because they check a credential of their own. */
export const OWN_CREDENTIAL: Record<string, { scheme: keyof typeof SECURITY_SCHEMES; optional: boolean }> = {
  'POST /api/heartbeats/{ods}': { scheme: 'agent', optional: false },
  'GET /metrics': { scheme: 'metrics', optional: true },
};

const SAFE = new Set(['get', 'head', 'options']);
/** Permissions a display token can hold (decide() lets it through only these). */
const DISPLAY_MAY: ReadonlySet<Permission> = new Set(['read', 'practice.read']);
/** Permissions decide() never refuses a signed-in caller. */
const NEVER_FORBIDDEN: ReadonlySet<Permission> = new Set(['public', 'read']);

const ErrorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorRef } } });

/** `/api/practices/:ods` (Hono) → `/api/practices/{ods}` (OpenAPI). */
export function openapiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A stable operationId from method and path: GET /api/practices/{ods}/backup → getPracticesByOdsBackup. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split('/')
    .filter((s) => s !== '' && s !== 'api')
    .map((s) => {
      const param = /^\{(.+)\}$/.exec(s);
      const word = (param ? `by-${param[1]}` : s).replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase());
      return word.charAt(0).toUpperCase() + word.slice(1);
    });
  return method.toLowerCase() + (words.join('') || 'Root');
}

type Operation = { operationId?: string; security?: unknown[]; responses?: Record<string, unknown>; [k: string]: unknown };
export type OpenApiDoc = { paths?: Record<string, Record<string, unknown>>; components?: Record<string, Record<string, unknown>>; [k: string]: unknown };

/** Route → permission, read from the guards Hono holds (each guard carries `.permission`). */
export function permissionsOf(routes: readonly { method: string; path: string; handler: unknown }[]): Map<string, Permission> {
  const out = new Map<string, Permission>();
  for (const r of routes) {
    const permission = (r.handler as { permission?: Permission }).permission;
    const key = `${r.method.toUpperCase()} ${openapiPath(r.path)}`;
    if (permission && !out.has(key)) out.set(key, permission);
  }
  return out;
}

/**
 * Adds security schemes, each operation's security, its 401/403 answers and an operationId.
 * An operation whose route declares no permission is an error: it would be documented as open.
 */
export function secureDocument(doc: OpenApiDoc, permissions: Map<string, Permission>, servers: { url: string; description: string }[]): OpenApiDoc {
  const undeclared: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, raw] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(method)) continue;
      const op = raw as Operation;
      const key = `${method.toUpperCase()} ${path}`;
      const permission = permissions.get(key);
      if (!permission) {
        undeclared.push(key);
        continue;
      }
      op.operationId ??= operationIdOf(method, path);
      const responses = (op.responses ??= {});
      // Every request passes the Host check first (DNS rebinding, app.ts).
      responses['421'] ??= errorResponse('The Host header names a host this Pulse does not answer to (MISDIRECTED_REQUEST).');
      const unsafe = !SAFE.has(method);
      if (permission === 'public') {
        const own = OWN_CREDENTIAL[key];
        op.security = own ? [...(own.optional ? [{}] : []), { [own.scheme]: [] }] : [];
        if (own) responses['401'] ??= errorResponse(`Missing or wrong ${own.scheme} token.`);
      } else {
        const session = unsafe ? { session: [], csrf: [] } : { session: [] };
        op.security = DISPLAY_MAY.has(permission) ? [session, { display: [] }] : [session];
        responses['401'] ??= errorResponse('Not signed in (UNAUTHENTICATED).');
      }
      // 403: the permission refuses this caller, or (with a session) a state change is cross-site or lacks the CSRF token.
      if (!NEVER_FORBIDDEN.has(permission) || unsafe) {
        responses['403'] ??= errorResponse(
          NEVER_FORBIDDEN.has(permission) ? 'Cross-site request or missing X-CSRF-Token (CSRF).' : 'Not allowed for this caller or outside their scope (FORBIDDEN), or a cross-site request (CSRF).',
        );
      }
    }
  }
  if (undeclared.length > 0) throw new Error(`OpenAPI: routes documented without a declared permission: ${undeclared.join(', ')}`);
  const components = (doc.components ??= {});
  components.securitySchemes = { ...SECURITY_SCHEMES };
  return { ...doc, servers };
}

type Registry = { registerPath: (route: { method: 'get'; path: string; summary: string; tags: string[]; responses: Record<string, { description: string; content?: Record<string, { schema: object }> }> }) => void };

/** Routes that are plain Hono handlers (they answer redirects or this document), documented here. */
export function documentPlainRoutes(registry: Registry, opts: { oidc: boolean }): void {
  registry.registerPath({
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tags: ['operations'],
    responses: { 200: { description: 'The document', content: { 'application/json': { schema: { type: 'object' } } } } },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: "Prometheus metrics (pulse_* and the process's own); needs the metrics token when PULSE_METRICS_TOKEN is set",
    tags: ['operations'],
    responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  if (!opts.oidc) return;
  const redirect = (description: string) => ({ description, headers: undefined, content: undefined });
  registry.registerPath({
    method: 'get',
    path: '/auth/oidc/start',
    summary: 'Start an OIDC (NHS CIS2) sign-in: redirects the browser to the identity provider',
    tags: ['auth'],
    responses: { 302: redirect('To the provider; or back to / with signin_error when it cannot be reached') },
  });
  registry.registerPath({
    method: 'get',
    path: '/auth/oidc/callback',
    summary: 'The identity provider returns here: the claims become a Pulse account and a session cookie',
    tags: ['auth'],
    responses: { 302: redirect('To / signed in, or with signin_error saying why not') },
  });
}
