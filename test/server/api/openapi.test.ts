// The API document is complete and lint-clean: every HTTP route Pulse answers is in it, each
// with the security its guard enforces, and @redocly/cli's recommended rules find nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../../server/app';
import { openapiPath, operationIdOf, permissionsOf, secureDocument } from '../../../server/api/openapi';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { SqliteStore } from '../../../server/store/sqlite';

// With OIDC configured, so /auth/oidc/* are routes too (the provider is never asked here).
const ESTATE = `auth:
  oidc:
    issuer: https://idp.example.nhs.uk
    clientId: pulse
    clientSecret: { env: PULSE_TEST_OPENAPI_OIDC_SECRET }
    redirectUrl: http://localhost/auth/oidc/callback
    mapping: { managerRoleCodes: [R8000], icbOps: [QWO] }
services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside, pcn: North, icb: QWO, system: emis-web, checks: [{ id: gw1, kind: http, target: "http://127.0.0.1:9/" }] }
`;
type Doc = { paths: Record<string, Record<string, { operationId: string; security: Record<string, string[]>[]; responses: Record<string, unknown> }>>; components: { securitySchemes: Record<string, unknown> }; servers: unknown[] };

let pulse: Pulse;
let doc: Doc;
let text: string;
beforeAll(async () => {
  process.env.PULSE_TEST_OPENAPI_OIDC_SECRET = 'not used';
  pulse = createPulse({ estate: parseEstate(ESTATE, 'e.yaml'), store: new SqliteStore(':memory:'), clock: { now: () => Date.now() }, log: silentLogger, workerToken: 'w', webDir: join(tmpdir(), 'no-such-web-dir') });
  const res = await pulse.app.request('/api/openapi.json');
  expect(res.status).toBe(200);
  text = await res.text();
  doc = JSON.parse(text) as Doc;
});

describe('the OpenAPI document', () => {
  it('documents every route Pulse answers (a route added without docs fails here)', () => {
    // The dashboard's page shell and static files are not API; ALL /api/* is the 404 catch-all.
    const notApi = new Set(['GET /', 'GET /assets/*', 'GET /favicon.svg', 'GET /wall', 'GET /practice/{ods}', 'GET /incidents/{id}', 'ALL /api/*', 'GET /status/{ods}', 'GET /status.css']);
    const routes = new Set(pulse.app.routes.filter((r) => (r.handler as { permission?: string }).permission).map((r) => `${r.method} ${openapiPath(r.path)}`));
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)));
    expect([...routes].filter((r) => !notApi.has(r) && !documented.has(r))).toEqual([]);
    expect(routes).toContain('GET /auth/oidc/callback');
  });

  it('declares its credentials and a server, and gives every operation an operationId and security', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['agent', 'csrf', 'display', 'metrics', 'session']);
    expect(doc.servers.length).toBeGreaterThan(0);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        expect(Array.isArray(op.security), `${method} ${path}`).toBe(true);
      }
    }
  });

  it('derives security, 401 and 403 from the guard each route declares', () => {
    const op = (method: string, path: string) => doc.paths[path]![method]!;
    // read: a person or a display link; only "not signed in" can refuse it.
    expect(op('get', '/api/locations').security).toEqual([{ session: [] }, { display: [] }]);
    expect(Object.keys(op('get', '/api/locations').responses)).toContain('401');
    expect(Object.keys(op('get', '/api/locations').responses)).not.toContain('403');
    // A state change with the session cookie also needs the CSRF header; display links cannot.
    expect(op('post', '/api/maintenance').security).toEqual([{ session: [], csrf: [] }]);
    expect(Object.keys(op('post', '/api/maintenance').responses)).toEqual(expect.arrayContaining(['401', '403']));
    // Public routes with a token of their own.
    expect(op('post', '/api/heartbeats/{ods}').security).toEqual([{ agent: [] }]);
    expect(op('get', '/metrics').security).toEqual([{}, { metrics: [] }]);
    expect(op('get', '/healthz').security).toEqual([]);
    expect(operationIdOf('get', '/api/practices/{ods}/backup')).toBe('getPracticesByOdsBackup');
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is clean under @redocly/cli lint with the recommended rules (redocly.yaml)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pulse-openapi-')), 'openapi.json');
    writeFileSync(file, text);
    const run = promisify(execFile);
    // No Node API is exported by @redocly/cli 2: its own binary, with the project's redocly.yaml.
    const result = await run(join('node_modules', '.bin', 'redocly'), ['lint', file, '--config', 'redocly.yaml', '--format=json'], {
      maxBuffer: 16 * 1024 * 1024,
      // A test does not phone home: no usage telemetry, no update check.
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true' },
    }).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
    };
    // The one accepted finding: the OIDC sign-in steps are browser redirects and truly answer
    // only 302 (there is no 2XX to document). Anything else is a real problem in the document.
    const accepted = new Set(['operation-2xx-response #/paths/~1auth~1oidc~1start/get/responses', 'operation-2xx-response #/paths/~1auth~1oidc~1callback/get/responses']);
    const found = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}`);
    expect(found.filter((f) => !accepted.has(f)), JSON.stringify(report.problems, null, 1)).toEqual([]);
    expect(report.totals.errors).toBe(0);
  }, 60_000);

  it('refuses to document an operation whose route declares no permission (it would look open)', () => {
    const permissions = permissionsOf([{ method: 'GET', path: '/api/known/:id', handler: Object.assign(() => undefined, { permission: 'read' }) }]);
    const doc = { paths: { '/api/known/{id}': { get: { responses: {} } }, '/api/unguarded': { get: { responses: {} } } } };
    expect(() => secureDocument(doc, permissions, [])).toThrow(/GET \/api\/unguarded/);
  });
});
