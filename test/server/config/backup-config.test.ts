// The estate file's `backup` section: plans resolve to practices, and every mistake is one
// line naming the file, the line and the field.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEstate } from '../../../server/config/estate';

const base = (backup: string, practiceExtra = '') => `services:
  - { id: emis-web, name: EMIS Web, kind: clinical-system }
${backup}
practices:
  - { ods: A81001, name: Riverside, pcn: North, icb: QWO, system: emis-web${practiceExtra} }
  - { ods: A81002, name: Oakwood, pcn: South, icb: QWO, system: emis-web }
`;

function error(text: string): string {
  try {
    parseEstate(text, 'estate.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('backup plans', () => {
  it('resolves each practice to its plan: named, then appliesTo, then the default', () => {
    const estate = parseEstate(
      base(`backup:
  plans:
    - { id: north, appliesTo: { pcns: [North] }, suggestLeaveAfter: 20m, autoEnterAfter: 30m }
    - { id: fallback, default: true }
    - id: special
      checklist: [{ id: paper, text: Paper out, on: both }]
      actions:
        - { kind: webhook, name: Phone, on: leave, url: "https://phones.example.nhs.uk/hook", secret: { env: PHONE_SECRET } }`),
      'estate.yaml',
    );
    expect(estate.practices.get('A81001')!.backupPlan).toBe('north');
    expect(estate.practices.get('A81002')!.backupPlan).toBe('fallback');
    const north = estate.backup.plans.get('north')!;
    expect(north).toMatchObject({ autoEnterAfterMs: 30 * 60_000, suggestLeaveAfterMs: 20 * 60_000, actions: [] });
    const special = estate.backup.plans.get('special')!;
    expect(special.checklist[0]!.on).toEqual(['enter', 'leave']);
    expect(special.actions[0]).toMatchObject({ kind: 'webhook', on: ['leave'], secret: { env: 'PHONE_SECRET' }, timeoutMs: 10_000 });
    expect(estate.backup.notify).toEqual({ sender: 'log' });
  });

  it('without a backup section, no practice has a plan and switching still works', () => {
    const estate = parseEstate(base(''), 'estate.yaml');
    expect(estate.practices.get('A81001')!.backupPlan).toBeNull();
    expect(estate.backup.plans.size).toBe(0);
  });

  it('names an unknown plan with the file, line and field', () => {
    expect(error(base('backup: { plans: [{ id: standard }] }', ', backupPlan: nope'))).toBe(
      'estate.yaml:5: practices[0].backupPlan: unknown backup plan "nope" (known: standard)',
    );
  });

  it('refuses a secret written in the file, a bad URL, a bad template id and duplicate items', () => {
    expect(error(base(`backup:
  plans:
    - id: p
      actions:
        - { kind: webhook, name: Phone, url: "https://x.example", secret: "s3cret" }`))).toMatch(/^estate\.yaml:7: backup\.plans\[0\]\.actions\[0\]\.secret: expected a secret reference/);
    expect(error(base(`backup:
  plans:
    - id: p
      actions:
        - { kind: webhook, name: Phone, url: "ftp://x.example", secret: { env: X } }`))).toMatch(/backup\.plans\[0\]\.actions\[0\]\.url: expected an http\(s\) URL/);
    expect(error(base(`backup:
  plans:
    - id: p
      actions:
        - { kind: notify, name: Text, channel: sms, to: ["07700 900123"], template: welcome }`))).toMatch(/template: expected a GOV\.UK Notify template id/);
    expect(error(base(`backup:
  plans:
    - id: p
      checklist: [{ id: paper, text: a }, { id: paper, text: b }]`))).toMatch(/backup\.plans\[0\]\.checklist\[1\]\.id: duplicate checklist item "paper"/);
    expect(error(base(`backup:
  plans: [{ id: a, default: true }, { id: b, default: true }]`))).toMatch(/backup\.plans\[1\]\.default: only one plan may be the default/);
  });
});
