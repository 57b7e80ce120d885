// Property tests at the two edges where strangers' input arrives: the estate file (an
// operator's typo, or a file someone else wrote) and HTTP requests. Whatever comes in, the
// estate loader answers with an Estate or one one-line ConfigError, and the API answers with
// a 4xx JSON error, never a 500, never a stack trace, never a hang. Bounded: ~200 runs each.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createPulse, type Pulse } from '../../server/app';
import { hashPassword } from '../../server/auth/password';
import type { Role } from '../../server/auth/types';
import { ConfigError, parseEstate } from '../../server/config/estate';
import type { Logger } from '../../server/log';
import { SqliteStore } from '../../server/store/sqlite';

const RUNS = 200;
const FILE = 'fuzz-estate.yaml';

/** A valid estate, the seed the structured generators mutate. */
const VALID = {
  defaults: { interval: '30s', timeout: '5s' },
  services: [
    { id: 'emis-web', name: 'EMIS Web', kind: 'clinical-system', checks: [{ id: 'emis-api', kind: 'http', target: 'http://127.0.0.1:9/' }] },
    { id: 'hscn', name: 'HSCN', kind: 'network', checks: [{ id: 'hscn-dns', kind: 'dns', target: 'nhs.uk' }] },
  ],
  practices: [
    {
      ods: 'A00001',
      name: 'Riverside',
      pcn: 'North',
      icb: 'QWO',
      system: 'emis-web',
      dependsOn: [{ service: 'hscn', impact: 'critical' }],
      checks: [{ id: 'gw1', kind: 'tcp', target: '127.0.0.1:9' }],
    },
  ],
};

// ---------------------------------------------------------------- estate file

/** Parses and classifies: an Estate, or a ConfigError; anything else fails the property. */
function outcome(text: string): 'estate' | 'config-error' {
  const started = performance.now();
  try {
    parseEstate(text, FILE);
    return 'estate';
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      throw new Error(`parseEstate threw ${(err as Error)?.name}: ${String((err as Error)?.message)} for ${JSON.stringify(text.slice(0, 300))}`);
    }
    expect(err.message.startsWith(FILE), err.message).toBe(true);
    expect(err.message, 'a config error is one line').not.toMatch(/[\r\n\u2028\u2029]/);
    return 'config-error';
  } finally {
    // parseEstate is synchronous: a hang cannot be interrupted, only measured (the test's
    // own timeout is the backstop). Anything near a second on a tiny input is a bug.
    expect(performance.now() - started, `parseEstate took too long on ${JSON.stringify(text.slice(0, 200))}`).toBeLessThan(1_000);
  }
}

/** Fragments of YAML syntax, so random documents reach the parser's corners (anchors, tags, flow, block scalars). */
const YAML_TOKENS = [
  ':', ': ', '- ', '-', '\n', '\n  ', '\n    ', '\t', ' ', '{', '}', '[', ']', ',', '"', "'", '&a ', '*a', '&b ', '*b', '<<: ', '!!str ', '!!binary ',
  '!!map ', '!foo ', '? ', '|', '>-', '#', '%YAML 1.2\n', '---\n', '...\n', '\\', '\\n', 'services', 'practices', 'checks', 'id', 'kind', 'http',
  'target', 'emis-web', 'A00001', 'dependsOn', 'maintenance', 'status', 'quorum', 'interval', '30s', '1e999', '0x1F', 'null', '~', 'true',
  '\u0000', '\u2028', '\uFEFF', 'é', '😀', '"\\n"', '"a\\nb"',
];

const yamlish = fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 80 }).map((parts) => parts.join(''));

/** A path into VALID and a value to put there: the loader's semantic checks, not just its YAML parser. */
const weirdValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\n', 'a\nb', '"quoted\nline"', 'x'.repeat(5_000), '../../etc/passwd', '%00', '<script>alert(1)</script>', '1e999', 'NaN', '-1', '0s', '1ms', '999999h', 'emis-web', 'hscn', 'A00001'),
);

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((k) => paths((value as Record<string | number, unknown>)[k], [...prefix, k]))];
}
const VALID_PATHS = paths(VALID);

function setIn(root: unknown, path: (string | number)[], value: unknown, newKey: string | null): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  if (path.length === 0) return newKey === null ? value : { ...copy, [newKey]: value };
  let node = copy;
  for (const part of path.slice(0, -1)) node = node[part] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (newKey !== null && node[last] !== null && typeof node[last] === 'object' && !Array.isArray(node[last])) {
    (node[last] as Record<string, unknown>)[newKey] = value;
  } else {
    node[last] = value;
  }
  return copy;
}

const mutatedEstate = fc
  .tuple(fc.constantFrom(...VALID_PATHS), weirdValue, fc.option(fc.string({ unit: 'binary', maxLength: 12 }), { freq: 3 }))
  .map(([path, value, newKey]) => stringify(setIn(VALID, path, value, newKey)));

describe('parseEstate under arbitrary input', () => {
  it('accepts the seed estate (so the mutations start from something valid)', () => {
    expect(outcome(stringify(VALID))).toBe('estate');
  });

  it('answers arbitrary text with an Estate or a one-line ConfigError naming the file', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme-ascii', maxLength: 400 })), (text) => {
        outcome(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary bytes (as UTF-8 and as Latin-1) the same way', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('utf8', 'latin1') as fc.Arbitrary<BufferEncoding>, (bytes, encoding) => {
        outcome(Buffer.from(bytes).toString(encoding));
      }),
      { numRuns: RUNS },
    );
  });

  it('answers random YAML syntax (anchors, aliases, tags, flow and block collections) the same way', () => {
    fc.assert(
      fc.property(yamlish, (text) => {
        outcome(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary JSON-like documents written as YAML the same way', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        outcome(stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it('answers a valid estate with one field replaced by anything the same way', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(mutatedEstate, (text) => {
        seen.add(outcome(text));
      }),
      { numRuns: RUNS },
    );
    // Mutations that leave the estate valid exist (a name, a target); mutations that break it too.
    expect(seen).toEqual(new Set(['estate', 'config-error']));
  });

  it('refuses resource-exhaustion and dangling-alias YAML with a ConfigError, not a crash', () => {
    const laughs = ['a: &a [x,x,x,x,x,x,x,x,x]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n');
    for (const text of [laughs, 'services: *nowhere\n']) {
      expect(outcome(text)).toBe('config-error');
      expect(() => parseEstate(text, FILE)).toThrow(/invalid YAML/);
    }
  });
});

// ---------------------------------------------------------------- HTTP requests

const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: "Riverside <script>alert(1)</script>", pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
  - { ods: B00003, name: Moorside Health Centre, pcn: South, icb: QHM, system: emis-web, checks: [{ id: gw3, kind: http, target: "http://127.0.0.1:9/" }] }
`;

type Caller = 'anonymous' | 'display' | 'viewer' | 'ops';
const CALLERS: Caller[] = ['anonymous', 'display', 'viewer', 'ops'];
const PASSWORD = 'fuzzing is a long password';

let pulse: Pulse;
let store: SqliteStore;
let webDir: string;
const headers = {} as Record<Caller, Record<string, string>>;
const logged: string[] = [];
const log: Logger = (level, message, fields) => {
  if (level === 'error') logged.push(`${message} ${JSON.stringify(fields)}`);
};

async function signIn(username: string): Promise<Record<string, string>> {
  const res = await pulse.app.request('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
  const cookie = /pulse_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie, 'x-csrf-token': csrf, origin: 'http://localhost' };
}

beforeAll(async () => {
  webDir = mkdtempSync(join(tmpdir(), 'pulse-fuzz-web-'));
  mkdirSync(join(webDir, 'assets'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>Pulse</title>');
  writeFileSync(join(webDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(webDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  store = new SqliteStore(':memory:');
  pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store, clock: { now: () => Date.now() }, log, workerToken: 'worker-secret', webDir });
  await pulse.restore();
  for (const [username, role, icb] of [['viewer', 'viewer', 'QWO'], ['ops', 'ops', null]] as [Caller, Role, string | null][]) {
    await store.accounts.createUser({ username, displayName: username, role, icb, practices: [], passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }), now: Date.now() });
    headers[username] = await signIn(username);
  }
  headers.anonymous = {};
  const display = await store.accounts.createToken({ kind: 'display', name: 'wall', icb: 'QWO', createdBy: 'test', now: Date.now() });
  headers.display = { authorization: `Bearer ${display.secret}` };
  // An incident, so the incident routes have something real to act on as well as nonsense.
  for (const at of [Date.now(), Date.now() + 1]) {
    pulse.ingest([{ ok: false, checkId: 'gw1', at, location: 'l', latencyMs: 1, error: 'refused', detail: 'refused' }]);
    await pulse.tick();
  }
});

afterAll(async () => {
  await store?.close();
  rmSync(webDir, { recursive: true, force: true });
});

/** Every declared route with its method, as a template whose `:params` and `*` the generator fills. */
const ROUTES: [string, string][] = [
  ['GET', '/'], ['GET', '/wall'], ['GET', '/practice/:ods'], ['GET', '/incidents/:id'], ['GET', '/healthz'], ['GET', '/metrics'], ['GET', '/favicon.svg'], ['GET', '/assets/*'], ['GET', '/api/openapi.json'],
  ['GET', '/api/practices'], ['GET', '/api/practices/:ods'], ['POST', '/api/practices/:ods/reports'], ['GET', '/api/services'],
  ['GET', '/api/services/:id'], ['GET', '/api/checks'], ['GET', '/api/checks/:id/history'], ['GET', '/api/trend'], ['GET', '/api/maintenance'],
  ['GET', '/api/backup'], ['GET', '/api/practices/:ods/backup'], ['POST', '/api/practices/:ods/backup/enter'], ['POST', '/api/practices/:ods/backup/leave'],
  ['POST', '/api/practices/:ods/backup/checklist/:itemId'], ['POST', '/api/practices/:ods/backup/readiness/:itemId'], ['PUT', '/api/practices/:ods/backup/backlog'],
  ['POST', '/api/practices/:ods/backup/costs'], ['GET', '/api/backup/bulk'], ['GET', '/api/backup/costs'], ['POST', '/api/backup/bulk'],
  ['POST', '/api/maintenance'], ['POST', '/api/maintenance/:id/cancel'], ['GET', '/api/incidents'], ['GET', '/api/incidents/:id'],
  ['POST', '/api/incidents/:id/notes'], ['POST', '/api/incidents/:id/references'], ['GET', '/api/workers'], ['GET', '/api/locations'],
  ['POST', '/api/auth/login'], ['GET', '/api/auth/providers'], ['GET', '/api/auth/me'], ['POST', '/api/auth/logout'], ['POST', '/api/auth/logout-everywhere'],
  ['GET', '/api/tokens'], ['POST', '/api/tokens'], ['POST', '/api/tokens/:id/revoke'], ['GET', '/api/audit'], ['POST', '/api/heartbeats/:ods'], ['GET', '/readyz'], ['POST', '/api/admin/reload'], ['GET', '/status/:ods'], ['GET', '/status.css'],
];

const segment = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('A00001', 'B00003', 'Z99999', '1', '2', '0', '-1', '99999999999999999999', 'emis-web', 'gw1', 'gw3', 'app.js', 'index.html') },
  { weight: 4, arbitrary: fc.constantFrom('..', '%2e%2e', '..%2f..%2fpackage.json', '%00', '%', '%zz', '%ff', '%c0%ae', '.', '', '~', '%20', '+', 'a;b', 'a?b=c', '#x', '\\..\\', 'é', '😀', '\u202e', 'null', 'undefined', '__proto__', 'constructor') },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('a'.repeat(4_000), '%41'.repeat(2_000), '../'.repeat(500)) },
);

const anyMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');

/** A method and a path: mostly a real route (its own method, or any), its parameters filled with anything. */
const target = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.constantFrom(...ROUTES), fc.array(segment, { minLength: 2, maxLength: 2 }), fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyMethod }))
      .map(([[own, route], [a, b], other]) => [other ?? own, route.replace(/:\w+/, a!).replace('*', b!)] as const),
  },
  { weight: 1, arbitrary: fc.tuple(anyMethod, fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join('/')}`)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...ROUTES), fc.string({ maxLength: 40 }))
      .map(([[own, route], q]) => [own, `${route.replace(/:\w+/g, 'A00001').replace('*', 'app.js')}?${encodeURIComponent(q)}=${q.length}&limit=${q}&status=${q}`] as const),
  },
);

const body = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  {
    weight: 3,
    // Near-valid bodies: the right keys with wrong or hostile values.
    arbitrary: fc
      .record(
        { state: fc.constantFrom('up', 'down', 'degraded', 'sideways'), by: fc.string(), note: fc.string(), text: fc.string(), system: fc.string(), reference: fc.string(), subject: fc.string(), start: fc.string(), end: fc.string(), author: fc.string(), reason: fc.string(), kind: fc.constantFrom('display', 'worker', 'admin'), name: fc.string(), icb: fc.option(fc.string()), username: fc.string(), password: fc.string(), agent: fc.string() },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom('{"by":"' + 'x'.repeat(60_000) + '","text":"y"}', '['.repeat(20_000) + ']'.repeat(20_000), '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000), '{"username":', '\u0000', '') },
);

const contentType = fc.constantFrom<string | undefined>('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined, 'application/json; charset=latin1', '*/*');

/** Requests as `app.request` would send them; a path the URL parser itself rejects is not a request. */
function buildRequest(p: string, m: string, b: string | Uint8Array | undefined, type: string | undefined, caller: Caller): Request | null {
  let url: URL;
  try {
    url = new URL(p, 'http://localhost');
  } catch {
    return null;
  }
  const h = new Headers(headers[caller]);
  if (type) h.set('content-type', type);
  return new Request(url, { method: m, headers: h, body: m === 'GET' || m === 'HEAD' ? undefined : (b as BodyInit | undefined) });
}

describe('the HTTP API under arbitrary requests', () => {
  it('fuzzes every declared route (a new route is added to ROUTES)', () => {
    const declared = new Set(pulse.app.routes.filter((r) => (r.handler as { permission?: string }).permission && r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    expect([...declared].sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  });

  it('never answers 500, answers every 4xx as a JSON error, and answers each request within 2 s', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(target, body, contentType, fc.constantFrom(...CALLERS), async ([m, p], b, type, caller) => {
        const req = buildRequest(p, m, b, type, caller);
        if (!req) return;
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const res = await Promise.race([
          pulse.app.request(req),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${m} ${p} took over 2 s`)), 2_000))),
        ]).finally(() => clearTimeout(timer));
        const text = await res.text();
        expect(performance.now() - started).toBeLessThan(2_000);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const what = `${caller} ${m} ${p.slice(0, 200)} → ${res.status} ${text.slice(0, 200)}`;
        // /readyz answers 503 by design when not ready (here: no probe worker), with its reasons.
        if (new URL(req.url).pathname === '/readyz' && (m === 'GET' || m === 'HEAD')) {
          expect([200, 503], what).toContain(res.status);
          if (m === 'GET') expect((JSON.parse(text) as { reasons: unknown }).reasons, what).toBeInstanceOf(Array);
          return;
        }
        expect(res.status, what).toBeLessThan(500);
        // The patients' page answers people, in HTML, even when there is no such practice.
        const patientPage = new URL(req.url).pathname.startsWith('/status/') && res.headers.get('content-type')?.startsWith('text/html');
        if (res.status >= 400 && m !== 'HEAD' && !patientPage) {
          expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
          const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
          expect(typeof parsed.error?.code, what).toBe('string');
          expect(typeof parsed.error?.message, what).toBe('string');
          // An error explains; it never shows a stack trace or a file path of the server.
          expect(text, what).not.toMatch(/\bat \S+ \(?[^)\s]+\.(?:ts|js|mjs):\d+|node_modules\//);
        }
        // Every answer, error or not, carries the security headers.
        expect(res.headers.get('content-security-policy'), what).toContain("script-src 'self'");
        expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
        // A session that signed itself out is signed back in, so later runs still test a signed-in caller.
        if (/^\/api\/auth\/logout/.test(new URL(p, 'http://localhost').pathname) && res.status === 200 && (caller === 'ops' || caller === 'viewer')) {
          headers[caller] = await signIn(caller);
        }
      }),
      { numRuns: RUNS },
    );
    expect(logged, 'nothing reached the error log').toEqual([]);
    // The runs reached past the guards: some were let in, some refused, some malformed.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    expect([...statuses.keys()]).toEqual(expect.arrayContaining([400, 401, 404]));
  });
});
