// The patients' page: plain words, the right advice for what is healthy (never "call 111"
// while NHS 111 is down), every value escaped, nothing about people.
import { describe, expect, it } from 'vitest';
import { createPulse } from '../../../server/app';
import { parseEstate } from '../../../server/config/estate';
import { silentLogger } from '../../../server/log';
import { patientAdvice, patientTemplatesSchema, renderPatientPage, situationOf } from '../../../server/patients/page';
import { SqliteStore } from '../../../server/store/sqlite';

const templates = patientTemplatesSchema.parse(undefined);

describe('patient advice', () => {
  it('tells patients of a practice in backup mode to keep their appointment and where to go', () => {
    const { headline, advice } = patientAdvice({ practiceName: 'Riverside', situation: 'backup', nhs111Working: true, updatedAt: new Date(0), templates });
    expect(headline).toMatch(/^Riverside is working from its backup plan/);
    expect(headline).toContain('keep your appointment');
    expect(advice.join(' ')).toContain('pharmacy');
    expect(advice.join(' ')).toContain('111');
    expect(advice.at(-1)).toBe('In an emergency, call 999.');
  });

  it('never sends patients to NHS 111 while it is down', () => {
    for (const situation of ['normal', 'problems', 'backup'] as const) {
      const { advice } = patientAdvice({ practiceName: 'X', situation, nhs111Working: false, updatedAt: new Date(0), templates });
      expect(advice.join(' ')).not.toMatch(/111/);
    }
  });

  it('says a practice that is down or degraded is having problems, and backup mode comes first', () => {
    expect(situationOf('normal', 'up')).toBe('normal');
    expect(situationOf('normal', 'down')).toBe('problems');
    expect(situationOf('normal', 'degraded')).toBe('problems');
    expect(situationOf('normal', 'unknown')).toBe('normal');
    expect(situationOf('backup', 'up')).toBe('backup');
  });

  it('escapes the practice name and carries no script', () => {
    const page = String(
      renderPatientPage({ practiceName: '<script>alert(1)</script>', situation: 'normal', nhs111Working: true, updatedAt: new Date(0), templates }),
    );
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;');
    expect(page).not.toMatch(/style="/);
  });
});

describe('GET /status/:ods', () => {
  const ESTATE = `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system, checks: [{ id: emis-api, kind: http, target: "http://127.0.0.1:9/" }] }
  - { id: nhs-111, name: NHS 111 online, kind: national, checks: [{ id: n111, kind: http, target: "http://127.0.0.1:9/" }] }
practices:
  - { ods: A00001, name: Riverside Medical Practice, pcn: North, system: emis-web }
`;
  it('is public, answers in plain English, and follows NHS 111’s health', async () => {
    const pulse = createPulse({
      estate: parseEstate(ESTATE, 'e.yaml'),
      store: new SqliteStore(':memory:'),
      clock: { now: () => Date.now() },
      log: silentLogger,
      workerToken: 'w',
    });
    await pulse.restore();
    const at = Date.now();
    const result = (checkId: string, ok: boolean, t: number) =>
      ok
        ? { ok: true as const, checkId, at: t, location: 'l', latencyMs: 5 }
        : { ok: false as const, checkId, at: t, location: 'l', latencyMs: 5, error: 'refused' as const, detail: 'refused' };
    pulse.ingest([result('emis-api', true, at), result('n111', true, at)]);
    await pulse.tick();
    let res = await pulse.app.request('/status/A00001');
    expect(res.status).toBe(200);
    let page = await res.text();
    expect(page).toContain('Riverside Medical Practice is open and working normally.');
    expect(page).toContain('111.nhs.uk');

    // EMIS Web and NHS 111 both go down.
    for (const t of [at + 1, at + 2]) pulse.ingest([result('emis-api', false, t), result('n111', false, t)]);
    await pulse.tick();
    res = await pulse.app.request('/status/A00001');
    page = await res.text();
    expect(page).toContain('is having problems with its computer systems');
    expect(page).not.toContain('111');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await pulse.app.request('/status/Z99999')).status).toBe(404);
    expect((await pulse.app.request('/status.css')).headers.get('content-type')).toContain('text/css');
  });
});
