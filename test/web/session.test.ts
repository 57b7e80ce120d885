import { describe, expect, it } from 'vitest';
import {
  ApiError,
  SESSION_ENDED,
  Session,
  UNREACHABLE,
  accessFrom,
  apiRequest,
  liveUrl,
  prepareRequest,
  type Fetch,
  type SessionUser,
} from '../../web/lib/session.svelte';

const jane: SessionUser = {
  username: 'jane',
  displayName: 'Jane Smith',
  role: 'ops',
  icb: null,
  practices: [],
  breakGlass: false,
};

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const error = (status: number, code: string, message: string) => json(status, { error: { code, message } });

type Answer = Response | 'unreachable' | Promise<Response>;
interface Sent {
  path: string;
  method: string;
  headers: Headers;
  body: string | null;
}

/** A fetch that answers from a per-route queue (the last answer repeats) and records what was sent. */
function fakeFetch(routes: Record<string, Answer[]>): { fetch: Fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch: Fetch = async (path, init = {}) => {
    const method = init.method ?? 'GET';
    sent.push({ path, method, headers: new Headers(init.headers), body: typeof init.body === 'string' ? init.body : null });
    const queue = routes[`${method} ${path}`];
    if (!queue || queue.length === 0) throw new Error(`fake fetch: nothing for ${method} ${path}`);
    const answer = queue.length > 1 ? queue.shift()! : queue[0]!;
    if (answer === 'unreachable') throw new TypeError('Failed to fetch');
    const response = await answer;
    return response.clone();
  };
  return { fetch, sent };
}

describe('page access', () => {
  it('is a read-only wall display when the URL carries ?display=<secret>', () => {
    expect(accessFrom('?display=s3cr3t-x')).toEqual({ kind: 'display', secret: 's3cr3t-x' });
    expect(accessFrom('?foo=1&display=abc')).toEqual({ kind: 'display', secret: 'abc' });
  });

  it('needs an account when there is no display secret, or an empty one', () => {
    expect(accessFrom('')).toEqual({ kind: 'account' });
    expect(accessFrom('?display=')).toEqual({ kind: 'account' });
  });

  it('opens the live feed on the page origin, with the display secret encoded', () => {
    expect(liveUrl({ protocol: 'https:', host: 'pulse.nhs.uk' }, { kind: 'account' })).toBe('wss://pulse.nhs.uk/ws');
    expect(liveUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, { kind: 'display', secret: 'a+b/c=' })).toBe(
      'ws://127.0.0.1:8080/ws?display=a%2Bb%2Fc%3D',
    );
  });
});

describe('api requests', () => {
  it('sends the CSRF token and a JSON body type on state-changing requests only', () => {
    const post = new Headers(prepareRequest({ method: 'post', body: '{}' }, 'tok').headers);
    expect(post.get('X-CSRF-Token')).toBe('tok');
    expect(post.get('Content-Type')).toBe('application/json');
    expect(post.get('Accept')).toBe('application/json');

    const get = new Headers(prepareRequest({}, 'tok').headers);
    expect(get.get('X-CSRF-Token')).toBeNull();
    expect(get.get('Content-Type')).toBeNull();
    expect(get.get('Accept')).toBe('application/json');
  });

  it('keeps a content type the caller chose', () => {
    const headers = new Headers(prepareRequest({ method: 'PUT', body: 'x', headers: { 'Content-Type': 'text/plain' } }, 't').headers);
    expect(headers.get('Content-Type')).toBe('text/plain');
  });

  it("throws the server's error message and code", async () => {
    const { fetch } = fakeFetch({ 'POST /api/maintenance': [error(403, 'FORBIDDEN', 'your account may not do this here')] });
    const failure = await apiRequest(fetch, '/api/maintenance', { method: 'POST', body: '{}' }, 't').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ message: 'your account may not do this here', status: 403, code: 'FORBIDDEN' });
  });

  it('names the status when the error body is not JSON, and says so when the server cannot be reached', async () => {
    const { fetch } = fakeFetch({
      'GET /api/a': [new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' })],
      'GET /api/b': ['unreachable'],
    });
    await expect(apiRequest(fetch, '/api/a', {}, null)).rejects.toMatchObject({ message: 'Pulse answered 502 Bad Gateway', code: 'HTTP_502' });
    await expect(apiRequest(fetch, '/api/b', {}, null)).rejects.toMatchObject({ message: UNREACHABLE, status: 0, code: 'NETWORK' });
  });
});

describe('session', () => {
  it('is signed in on load when /api/auth/me knows the cookie', async () => {
    const { fetch } = fakeFetch({ 'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' })] });
    const session = new Session({ fetch });
    expect(session.state.phase).toBe('checking');
    await session.load();
    expect(session.state).toEqual({ phase: 'signed-in', user: jane, csrf: 'c1', signOutError: null });
    expect(session.user).toEqual(jane);
  });

  it('is signed out on load after a 401, with no error shown', async () => {
    const { fetch } = fakeFetch({ 'GET /api/auth/me': [error(401, 'UNAUTHENTICATED', 'sign in')] });
    const session = new Session({ fetch });
    await session.load();
    expect(session.state).toEqual({ phase: 'signed-out', reason: 'none', error: null });
  });

  it('says the server cannot be reached when /api/auth/me fails on load', async () => {
    const session = new Session({ fetch: fakeFetch({ 'GET /api/auth/me': ['unreachable'] }).fetch });
    await session.load();
    expect(session.state).toEqual({ phase: 'signed-out', reason: 'none', error: UNREACHABLE });
  });

  it('signs in with a JSON POST, and is "signing in" until the answer comes', async () => {
    let answer!: (r: Response) => void;
    const pending = new Promise<Response>((resolve) => (answer = resolve));
    const { fetch, sent } = fakeFetch({
      'GET /api/auth/me': [error(401, 'UNAUTHENTICATED', 'sign in')],
      'POST /api/auth/login': [pending],
    });
    const session = new Session({ fetch });
    await session.load();
    const signingIn = session.signIn('jane', 'correct horse battery');
    expect(session.state.phase).toBe('signing-in');
    answer(json(200, { user: jane, csrf: 'c2' }));
    expect(await signingIn).toBe(true);
    expect(session.state).toMatchObject({ phase: 'signed-in', csrf: 'c2' });
    const login = sent.find((s) => s.path === '/api/auth/login')!;
    expect(login.headers.get('Content-Type')).toBe('application/json');
    expect(JSON.parse(login.body!)).toEqual({ username: 'jane', password: 'correct horse battery' });
  });

  it("shows the server's message after a wrong password or too many attempts", async () => {
    const { fetch } = fakeFetch({
      'POST /api/auth/login': [
        error(401, 'BAD_CREDENTIALS', 'wrong username or password'),
        error(429, 'THROTTLED', 'too many failed sign-ins; try again in 15 min'),
      ],
    });
    const session = new Session({ fetch });
    expect(await session.signIn('jane', 'nope')).toBe(false);
    expect(session.state).toEqual({ phase: 'signed-out', reason: 'none', error: 'wrong username or password' });
    expect(await session.signIn('jane', 'nope')).toBe(false);
    expect(session.state).toMatchObject({ error: 'too many failed sign-ins; try again in 15 min' });
  });

  it('signs out with the CSRF token from the session', async () => {
    const { fetch, sent } = fakeFetch({
      'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' })],
      'POST /api/auth/logout': [json(200, { signedOut: 1 })],
    });
    const session = new Session({ fetch });
    await session.load();
    await session.signOut();
    expect(sent.at(-1)?.headers.get('X-CSRF-Token')).toBe('c1');
    expect(session.state).toEqual({ phase: 'signed-out', reason: 'signed-out', error: null });
  });

  it('counts a sign-out the server answers 401 to as signed out, and stays signed in when it fails otherwise', async () => {
    const gone = fakeFetch({
      'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' })],
      'POST /api/auth/logout': [error(401, 'UNAUTHENTICATED', 'sign in')],
    });
    const a = new Session({ fetch: gone.fetch });
    await a.load();
    await a.signOut();
    expect(a.state).toMatchObject({ phase: 'signed-out', reason: 'signed-out' });

    const down = fakeFetch({ 'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' })], 'POST /api/auth/logout': ['unreachable'] });
    const b = new Session({ fetch: down.fetch });
    await b.load();
    await b.signOut();
    expect(b.state).toMatchObject({ phase: 'signed-in', signOutError: `Could not sign out: ${UNREACHABLE}` });
  });

  it('goes back to sign-in saying the session ended when /api/auth/me turns 401 on a recheck', async () => {
    const { fetch } = fakeFetch({
      'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' }), error(401, 'UNAUTHENTICATED', 'sign in')],
    });
    const session = new Session({ fetch });
    await session.load();
    expect(await session.recheck()).toBe(false);
    expect(session.state).toEqual({ phase: 'signed-out', reason: 'ended', error: null });
    expect(SESSION_ENDED).toBe('Your session has ended — please sign in again');
  });

  it('stays signed in when a recheck cannot reach the server (the dashboard shows offline instead)', async () => {
    const { fetch } = fakeFetch({ 'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' }), 'unreachable'] });
    const session = new Session({ fetch });
    await session.load();
    expect(await session.recheck()).toBe(true);
    expect(session.state.phase).toBe('signed-in');
  });

  it('ends the session when any API call answers 401, and still throws', async () => {
    const { fetch } = fakeFetch({
      'GET /api/auth/me': [json(200, { user: jane, csrf: 'c1' })],
      'GET /api/practices': [error(401, 'UNAUTHENTICATED', 'sign in to use this')],
    });
    const session = new Session({ fetch });
    await session.load();
    await expect(session.api('/api/practices')).rejects.toMatchObject({ status: 401 });
    expect(session.state).toMatchObject({ phase: 'signed-out', reason: 'ended' });
  });

  it('ignores a late answer to a question asked before someone signed in', async () => {
    let answer!: (r: Response) => void;
    const slowMe = new Promise<Response>((resolve) => (answer = resolve));
    const { fetch } = fakeFetch({
      'GET /api/auth/me': [slowMe],
      'POST /api/auth/login': [json(200, { user: jane, csrf: 'c2' })],
    });
    const session = new Session({ fetch });
    const loading = session.load();
    await session.signIn('jane', 'correct horse battery');
    answer(error(401, 'UNAUTHENTICATED', 'sign in'));
    await loading;
    expect(session.state).toMatchObject({ phase: 'signed-in', csrf: 'c2' });
  });
});
