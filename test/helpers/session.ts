// Signs a test in as a real user of a running Pulse: creates the account in its store and
// signs in through the API, so tests use the same cookie and CSRF token a browser would.
import { hashPassword } from '../../server/auth/password';
import type { Role } from '../../server/auth/types';
import type { AccountStore } from '../../server/auth/types';

export interface SignedIn {
  cookie: string;
  csrf: string;
  /** fetch with the session cookie, the CSRF token and the page's own Origin. */
  fetch: (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>;
  get: <T>(path: string) => Promise<T>;
}

let counter = 0;

export async function signIn(
  url: string,
  accounts: AccountStore,
  user: { role: Role; icb?: string | null; practices?: string[]; username?: string } = { role: 'ops' },
): Promise<SignedIn> {
  const username = user.username ?? `test-${user.role}-${++counter}`;
  const password = `correct horse battery ${counter} staple`;
  await accounts.createUser({
    username,
    displayName: username,
    role: user.role,
    icb: user.icb ?? null,
    practices: user.practices ?? [],
    // Cheap hashing keeps tests fast; production uses the default cost.
    passwordHash: await hashPassword(password, { N: 2 ** 10 }),
    now: Date.now(),
  });
  const res = await globalThis.fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  const doFetch = (path: string, init: RequestInit & { json?: unknown } = {}) =>
    globalThis.fetch(`${url}${path}`, {
      ...init,
      body: init.json === undefined ? init.body : JSON.stringify(init.json),
      headers: { cookie, 'x-csrf-token': csrf, origin: url, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    });
  return {
    cookie,
    csrf,
    fetch: doFetch,
    get: async <T>(path: string) => (await (await doFetch(path)).json()) as T,
  };
}
