// Who is signed in on this page, and the one way the dashboard talks to the REST API. The
// session cookie is HttpOnly, so the page never sees it: it learns who it is from
// `GET /api/auth/me`, keeps the CSRF token that came with it, and sends that token on every
// state-changing request. It never stores a password and never touches the live feed: the
// page starts and stops the feed from `session.state`.
//
// The pure parts (where the page gets its access, how a request is built, how an error body
// becomes a message) are exported for tests; the Session class only holds state and calls them.
export type Role = 'ops' | 'manager' | 'viewer';

/** The signed-in person, as `/api/auth/me` and `/api/auth/login` describe them. */
export interface SessionUser {
  username: string;
  displayName: string;
  role: Role;
  icb: string | null;
  practices: string[];
  breakGlass: boolean;
}

/** Why the sign-in form is showing, when it is not the first visit. */
export type SignedOutReason = 'none' | 'ended' | 'signed-out';

export type SessionState =
  /** Asking the server whether the cookie is still a live session. */
  | { phase: 'checking' }
  | { phase: 'signed-out'; reason: SignedOutReason; error: string | null }
  | { phase: 'signing-in' }
  | { phase: 'signed-in'; user: SessionUser; csrf: string; signOutError: string | null };

export const SESSION_ENDED = 'Your session has ended — please sign in again';
export const SIGNED_OUT = 'You have signed out.';
export const UNREACHABLE = 'Pulse cannot be reached. Check the network connection, then try again.';

/** A request the server refused (or that never reached it: status 0, code NETWORK). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The server's code (`BAD_CREDENTIALS`, `THROTTLED`, `CSRF`…), `NETWORK`, or `HTTP_<status>`. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** How this page reaches the live feed: a wall-display link, or a person's account. */
export type Access = { kind: 'display'; secret: string } | { kind: 'account' };

/** `?display=<secret>` makes a read-only wall display that never asks anyone to sign in. */
export function accessFrom(search: string): Access {
  const secret = new URLSearchParams(search).get('display')?.trim();
  return secret ? { kind: 'display', secret } : { kind: 'account' };
}

/** The live feed's address for this page: same origin, with the display secret when there is one. */
export function liveUrl(location: { protocol: string; host: string }, access: Access): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = access.kind === 'display' ? `?display=${encodeURIComponent(access.secret)}` : '';
  return `${scheme}://${location.host}/ws${query}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The request as sent: JSON accepted; on a state-changing request, the CSRF token and a JSON body type. */
export function prepareRequest(init: RequestInit, csrf: string | null): RequestInit {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = new Headers(init.headers);
  if (!headers.has('Accept')) headers.set('Accept', 'application/json');
  if (!SAFE_METHODS.has(method)) {
    if (csrf !== null) headers.set('X-CSRF-Token', csrf);
    if (init.body !== undefined && init.body !== null && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
  }
  return { ...init, method, headers, credentials: 'same-origin' };
}

/** The server's `{ error: { code, message } }` as an ApiError; anything else, a plain message with the status. */
export async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): fall through to the status line.
  }
  const error = isObject(body) && isObject(body.error) ? body.error : null;
  if (error && typeof error.message === 'string' && error.message !== '') {
    const code = typeof error.code === 'string' ? error.code : `HTTP_${response.status}`;
    return new ApiError(error.message, response.status, code);
  }
  return new ApiError(`Pulse answered ${response.status} ${response.statusText}`.trim(), response.status, `HTTP_${response.status}`);
}

/**
 * One REST call: JSON in and out, CSRF header on state-changing requests, and every failure
 * (refused, unreachable, unreadable) as a thrown ApiError whose message can be shown as is.
 */
export async function apiRequest<T>(fetch: Fetch, path: string, init: RequestInit, csrf: string | null): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, prepareRequest(init, csrf));
  } catch {
    throw new ApiError(UNREACHABLE, 0, 'NETWORK');
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError(`Pulse sent an unreadable answer to ${path}`, response.status, 'BAD_RESPONSE');
  }
}

/** The one edge where `/api/auth/me` or `/login` becomes a typed user; null when it is not one. */
export function parseMe(value: unknown): { user: SessionUser; csrf: string } | null {
  if (!isObject(value) || typeof value.csrf !== 'string' || !isObject(value.user)) return null;
  const u = value.user;
  const role = u.role;
  if (
    typeof u.username !== 'string' ||
    typeof u.displayName !== 'string' ||
    (role !== 'ops' && role !== 'manager' && role !== 'viewer') ||
    !(u.icb === null || typeof u.icb === 'string') ||
    !Array.isArray(u.practices) ||
    typeof u.breakGlass !== 'boolean'
  ) {
    return null;
  }
  return {
    user: {
      username: u.username,
      displayName: u.displayName,
      role,
      icb: u.icb,
      practices: u.practices.filter((p): p is string => typeof p === 'string'),
      breakGlass: u.breakGlass,
    },
    csrf: value.csrf,
  };
}

export interface SessionOptions {
  /** Injected for tests; the browser's by default. */
  fetch?: Fetch;
}

export class Session {
  #state = $state.raw<SessionState>({ phase: 'checking' });
  readonly #fetch: Fetch;
  /** Bumped on every change of who is signed in, so a late answer to an older question is ignored. */
  #generation = 0;

  constructor(options: SessionOptions = {}) {
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The signed-in person, or null. */
  get user(): SessionUser | null {
    return this.#state.phase === 'signed-in' ? this.#state.user : null;
  }

  /** On page load: is the cookie (if any) still a live session? */
  async load(): Promise<void> {
    const generation = ++this.#generation;
    this.#state = { phase: 'checking' };
    const answer = await this.#me();
    if (generation !== this.#generation) return;
    if (answer.kind === 'user') this.#state = { phase: 'signed-in', ...answer.me, signOutError: null };
    else this.#state = { phase: 'signed-out', reason: 'none', error: answer.kind === 'unreachable' ? UNREACHABLE : null };
  }

  /**
   * After the live feed failed to connect: if the server no longer knows this session, back to
   * the sign-in form saying so. A server that cannot be reached changes nothing (the dashboard
   * already says it is offline). Returns true while still signed in.
   */
  async recheck(): Promise<boolean> {
    if (this.#state.phase !== 'signed-in') return false;
    const generation = this.#generation;
    const answer = await this.#me();
    if (generation !== this.#generation || this.#state.phase !== 'signed-in') return this.#state.phase === 'signed-in';
    if (answer.kind === 'signed-out') {
      this.#end('ended');
      return false;
    }
    if (answer.kind === 'user') {
      // Someone else signed in from another tab: the cookie is theirs now, so the page is too.
      if (answer.me.user.username !== this.#state.user.username) this.#generation += 1;
      this.#state = { phase: 'signed-in', ...answer.me, signOutError: null };
    }
    return true;
  }

  /** Signs in; on failure the form shows the server's message (wrong password, throttled, unreachable). */
  async signIn(username: string, password: string): Promise<boolean> {
    if (this.#state.phase === 'signing-in') return false;
    const generation = ++this.#generation;
    this.#state = { phase: 'signing-in' };
    let me: ReturnType<typeof parseMe>;
    try {
      const body = await apiRequest<unknown>(
        this.#fetch,
        '/api/auth/login',
        { method: 'POST', body: JSON.stringify({ username, password }) },
        null,
      );
      me = parseMe(body);
      if (me === null) throw new ApiError('Pulse sent an unreadable answer to sign-in', 200, 'BAD_RESPONSE');
    } catch (err) {
      if (generation === this.#generation) {
        this.#state = { phase: 'signed-out', reason: 'none', error: messageOf(err) };
      }
      return false;
    }
    if (generation !== this.#generation) return false;
    this.#state = { phase: 'signed-in', ...me, signOutError: null };
    return true;
  }

  /** Ends this session on the server. If the server had already ended it, that is a sign-out too. */
  async signOut(): Promise<void> {
    if (this.#state.phase !== 'signed-in') return;
    const generation = this.#generation;
    try {
      await this.api('/api/auth/logout', { method: 'POST' });
    } catch (err) {
      if (generation !== this.#generation || this.#state.phase !== 'signed-in') return;
      if (!(err instanceof ApiError && err.status === 401)) {
        this.#state = { ...this.#state, signOutError: `Could not sign out: ${messageOf(err)}` };
        return;
      }
    }
    if (generation === this.#generation) this.#end('signed-out');
  }

  /**
   * A REST call as the signed-in person (see `apiRequest`). A 401 means the session has ended
   * on the server: the page goes back to the sign-in form, and the call still throws.
   */
  async api<T>(path: string, init: RequestInit = {}): Promise<T> {
    const csrf = this.#state.phase === 'signed-in' ? this.#state.csrf : null;
    const generation = this.#generation;
    try {
      return await apiRequest<T>(this.#fetch, path, init, csrf);
    } catch (err) {
      const unauthenticated = err instanceof ApiError && err.status === 401;
      const ownSignOut = path === '/api/auth/logout';
      if (unauthenticated && !ownSignOut && generation === this.#generation && this.#state.phase === 'signed-in') {
        this.#end('ended');
      }
      throw err;
    }
  }

  #end(reason: SignedOutReason): void {
    this.#generation += 1;
    this.#state = { phase: 'signed-out', reason, error: null };
  }

  async #me(): Promise<{ kind: 'user'; me: { user: SessionUser; csrf: string } } | { kind: 'signed-out' } | { kind: 'unreachable' }> {
    try {
      const me = parseMe(await apiRequest<unknown>(this.#fetch, '/api/auth/me', {}, null));
      return me ? { kind: 'user', me } : { kind: 'unreachable' };
    } catch (err) {
      return err instanceof ApiError && err.status === 401 ? { kind: 'signed-out' } : { kind: 'unreachable' };
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof ApiError ? err.message : UNREACHABLE;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
