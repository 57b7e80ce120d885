// How CIS2 role claims become a Pulse role and scope: every rule of mapClaims, and properties
// that must hold for any claims (never national ops, never a practice outside the estate, never
// a manager without a manager role there).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isManagerRole, mapClaims } from '../../../server/auth/claims';
import type { OidcMapping } from '../../../server/auth/oidc-config';
import type { Estate, Practice } from '../../../server/config/estate';

const practice = (ods: string, icb: string | null): Practice => ({
  ods, name: ods, pcn: 'pcn', icb, system: 'emis-web', dependsOn: [], checks: [], fleet: null, backupPlan: null,
});
const estate: Pick<Estate, 'practices'> = {
  practices: new Map(
    [practice('A81001', 'QHM'), practice('A81002', 'QHM'), practice('B82001', 'QWO'), practice('C83001', null)].map((p) => [p.ods, p]),
  ),
};
const mapping: OidcMapping = { icbOps: ['QHM', 'QWO'], managerRoleCodes: ['R8000', 'S8001:G8001:R8010'] };

let nextId = 1;
const role = (org_code: string, role_code = 'S8000:G8000:R8001', extra: Record<string, unknown> = {}) => ({
  person_roleid: `5550000${String(nextId++).padStart(5, '0')}`,
  org_code,
  role_code,
  role_name: '"Clinical":"Clinical Provision":"Nurse Access Role"',
  activities: ['Receive Self Claimed LR Alert'],
  ...extra,
});
const user = (roles: unknown, more: Record<string, unknown> = {}) => ({ sub: '910000000001', name: 'Sam Jones', nhsid_nrbac_roles: roles, ...more });
const map = (claims: Record<string, unknown>, m: OidcMapping = mapping) => mapClaims(claims, m, estate);

describe('the subject', () => {
  it.each([
    ['missing', {}],
    ['empty', { sub: '  ' }],
    ['not a string', { sub: 910000000001 }],
    ['absurdly long', { sub: 'x'.repeat(256) }],
  ])('refuses claims whose subject is %s', (_, claims) => {
    expect(map({ ...user([role('A81001')]), sub: undefined, ...claims })).toMatchObject({ ok: false, code: 'no_subject' });
  });

  it('keeps the subject as the account key', () => {
    expect(map(user([role('A81001')]))).toMatchObject({ ok: true, subject: '910000000001' });
  });
});

describe('practice-level roles', () => {
  it('makes anyone with a role at a practice in the estate a viewer of it', () => {
    const r = role('A81001');
    expect(map(user([r]))).toEqual({
      ok: true, role: 'viewer', icb: null, practices: ['A81001'], displayName: 'Sam Jones', subject: '910000000001',
      grantedBy: [r.person_roleid], unused: [],
    });
  });

  it('makes a manager when the job role code is in managerRoleCodes', () => {
    expect(map(user([role('A81001', 'S8000:G8000:R8000')]))).toMatchObject({ ok: true, role: 'manager', practices: ['A81001'] });
  });

  it('matches a whole role code too, but not a part of one', () => {
    expect(map(user([role('A81001', 'S8001:G8001:R8010')]))).toMatchObject({ role: 'manager' });
    // R8010 is only listed as part of S8001:G8001:R8010: another staff group's R8010 is not a manager.
    expect(map(user([role('A81001', 'S8002:G8002:R8010')]))).toMatchObject({ role: 'viewer' });
  });

  it('reads role_code only: a role_name equal to a manager code grants nothing more', () => {
    expect(map(user([role('A81001', 'S8000:G8000:R8001', { role_name: 'R8000' })]))).toMatchObject({ role: 'viewer' });
    expect(map(user([role('A81001', undefined, { role_code: undefined, role_name: 'R8000' })]))).toMatchObject({ role: 'viewer' });
  });

  it('normalises the org code (case, spaces)', () => {
    expect(map(user([role(' a81001 ')]))).toMatchObject({ ok: true, practices: ['A81001'] });
  });

  it('collects every practice a viewer has a role at, sorted, once each', () => {
    const claims = user([role('B82001'), role('A81002'), role('A81001'), role('A81001', 'S8000:G8000:R8002')]);
    expect(map(claims)).toMatchObject({ ok: true, role: 'viewer', icb: null, practices: ['A81001', 'A81002', 'B82001'] });
  });

  it('gives a manager only the practices they manage: a viewer role elsewhere is not promoted', () => {
    const managed = role('A81001', 'S8000:G8000:R8000');
    const result = map(user([managed, role('A81002')]));
    expect(result).toMatchObject({ ok: true, role: 'manager', practices: ['A81001'], grantedBy: [managed.person_roleid], unused: ['viewer of A81002'] });
  });

  it('covers a practice with no ICB in the estate', () => {
    expect(map(user([role('C83001')]))).toMatchObject({ ok: true, role: 'viewer', practices: ['C83001'] });
  });
});

describe('ICB-level roles', () => {
  it('makes staff of an ICB in icbOps ops for that ICB, with no practice list', () => {
    const r = role('QHM');
    expect(map(user([r]))).toEqual({
      ok: true, role: 'ops', icb: 'QHM', practices: [], displayName: 'Sam Jones', subject: '910000000001', grantedBy: [r.person_roleid], unused: [],
    });
  });

  it('ignores a role at an ICB that is not in icbOps', () => {
    expect(map(user([role('QOX')]))).toMatchObject({ ok: false, code: 'unmapped' });
    expect(map(user([role('QHM')]), { icbOps: [], managerRoleCodes: [] })).toMatchObject({ ok: false, code: 'unmapped' });
  });

  it('lets ops win over practice roles, and says which were not used', () => {
    expect(map(user([role('A81001', 'S8000:G8000:R8000'), role('B82001'), role('QWO')]))).toMatchObject({
      ok: true, role: 'ops', icb: 'QWO', practices: [], unused: ['manager of A81001', 'viewer of B82001'],
    });
  });

  it('takes several roles at the same ICB as one', () => {
    expect(map(user([role('QHM'), role('QHM', 'S8000:G8000:R8000')]))).toMatchObject({ ok: true, role: 'ops', icb: 'QHM' });
  });

  it('refuses ops roles at two ICBs when none was selected, naming both and what to do', () => {
    const result = map(user([role('QHM'), role('QWO')]));
    expect(result).toMatchObject({ ok: false, code: 'several_icbs' });
    if (!result.ok) {
      expect(result.reason).toContain('QHM, QWO');
      expect(result.reason).toMatch(/sign in again and choose/i);
    }
  });

  it('accepts ops roles at two ICBs when one was selected at sign-in', () => {
    const chosen = role('QWO');
    expect(map(user([role('QHM'), chosen], { selected_roleid: chosen.person_roleid }))).toMatchObject({ ok: true, role: 'ops', icb: 'QWO' });
  });
});

describe('the role selected at sign-in', () => {
  it('narrows the roles to the selected one', () => {
    const managed = role('A81001', 'S8000:G8000:R8000');
    const viewed = role('B82001');
    expect(map(user([managed, viewed, role('QHM')], { selected_roleid: viewed.person_roleid }))).toMatchObject({
      ok: true, role: 'viewer', icb: null, practices: ['B82001'], grantedBy: [viewed.person_roleid], unused: [],
    });
  });

  it('accepts a numeric selected_roleid for a string person_roleid', () => {
    expect(map(user([role('A81001', 'R8000', { person_roleid: '12345' })], { selected_roleid: 12345 }))).toMatchObject({ ok: true, role: 'manager' });
  });

  it('refuses a selected role that is not among the roles sent', () => {
    expect(map(user([role('A81001')], { selected_roleid: '999' }))).toMatchObject({ ok: false, code: 'selected_role_unknown' });
  });

  it('refuses a malformed selection rather than reading it as "all roles"', () => {
    expect(map(user([role('A81001')], { selected_roleid: { id: 1 } }))).toMatchObject({ ok: false, code: 'selected_role_unknown' });
  });

  it('treats an empty or null selection as none', () => {
    expect(map(user([role('A81001')], { selected_roleid: '' }))).toMatchObject({ ok: true });
    expect(map(user([role('A81001')], { selected_roleid: null }))).toMatchObject({ ok: true });
  });

  it('explains when the selected role gives no access, though another would', () => {
    const elsewhere = role('RX4');
    const result = map(user([role('A81001'), elsewhere], { selected_roleid: elsewhere.person_roleid }));
    expect(result).toMatchObject({ ok: false, code: 'unmapped' });
    if (!result.ok) expect(result.reason).toMatch(/role you chose .* RX4/);
  });
});

describe('users Pulse has no role for', () => {
  it('refuses roles only at organisations Pulse does not monitor, naming them', () => {
    const result = map(user([role('RX4'), role('Y12345')]));
    expect(result).toMatchObject({ ok: false, code: 'unmapped' });
    if (!result.ok) expect(result.reason).toContain('RX4, Y12345');
  });

  it.each([
    ['no roles claim', undefined],
    ['a roles claim that is not a list', 'A81001'],
    ['an empty list', []],
  ])('refuses %s', (_, roles) => {
    const result = map(user(roles));
    expect(result).toMatchObject({ ok: false, code: 'unmapped' });
    if (!result.ok) expect(result.reason).toContain('no roles were sent');
  });

  it('skips malformed role entries and keeps the well-formed ones', () => {
    const good = role('A81002');
    const claims = user([null, 'A81001', { org_code: 'A81001' }, { person_roleid: 'x', org_code: 7 }, { person_roleid: {}, org_code: 'A81001' }, good]);
    expect(map(claims)).toMatchObject({ ok: true, practices: ['A81002'], grantedBy: [good.person_roleid] });
  });

  it('grants nothing for membership of an organisation without a role there', () => {
    expect(map(user([], { nhsid_user_orgs: [{ org_code: 'A81001', org_name: 'THE DENSHAM SURGERY' }] }))).toMatchObject({ ok: false, code: 'unmapped' });
  });
});

describe('the display name', () => {
  it('prefers name, then given and family names, then the subject', () => {
    const roles = [role('A81001')];
    expect(map(user(roles, { name: 'Dr Sam Jones', given_name: 'Sam', family_name: 'Jones' }))).toMatchObject({ displayName: 'Dr Sam Jones' });
    expect(map(user(roles, { name: undefined, given_name: 'Sam', family_name: 'Jones' }))).toMatchObject({ displayName: 'Sam Jones' });
    expect(map(user(roles, { name: '  ', family_name: 'Jones' }))).toMatchObject({ displayName: 'Jones' });
    expect(map(user(roles, { name: undefined }))).toMatchObject({ displayName: '910000000001' });
    expect(map(user(roles, { name: ['Sam'] }))).toMatchObject({ displayName: '910000000001' });
  });

  it('is one printable line of at most 200 characters', () => {
    const result = map(user([role('A81001')], { name: `Sam\n\u0000Jones\u202e${'x'.repeat(300)}` }));
    expect(result.ok && result.displayName).toMatch(/^Sam Jones x+$/);
    expect(result.ok && result.displayName.length).toBe(200);
  });
});

describe('isManagerRole', () => {
  it.each([
    ['S8000:G8000:R8000', ['R8000'], true],
    ['s8000:g8000:r8000', ['R8000'], true],
    ['S8000:G8000:R8000', ['S8000:G8000:R8000'], true],
    ['R8000', ['R8000'], true],
    ['S8000:G8000:R80001', ['R8000'], false],
    ['S8000:G8000:R8001', ['R8000', 'G8000'], false],
    ['S8000:G8000:R8000', [], false],
    [undefined, ['R8000'], false],
  ])('%s with %j → %s', (code, list, expected) => {
    expect(isManagerRole(code, list)).toBe(expected);
  });
});

describe('for any claims', () => {
  const orgs = ['A81001', 'A81002', 'B82001', 'C83001', 'QHM', 'QWO', 'QOX', 'RX4', 'a81001'];
  const codes = ['S8000:G8000:R8000', 'S8000:G8000:R8001', 'S8001:G8001:R8010', 'R8000', ''];
  const roleArb = fc.record({
    person_roleid: fc.constantFrom('1', '2', '3', '4', '5', '6'),
    org_code: fc.constantFrom(...orgs),
    role_code: fc.constantFrom(...codes),
  });
  const claimsArb = fc.record({
    sub: fc.constant('s'),
    nhsid_nrbac_roles: fc.array(roleArb, { maxLength: 6 }),
    selected_roleid: fc.option(fc.constantFrom('1', '2', '3', '9'), { nil: undefined }),
  });

  it('never grants national ops, a practice outside the estate, or a role the claims do not hold', () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const result = map(claims);
        if (!result.ok) return;
        const held = claims.nhsid_nrbac_roles.filter((r) => claims.selected_roleid === undefined || r.person_roleid === claims.selected_roleid);
        const at = (org: string) => held.filter((r) => r.org_code.toUpperCase() === org);
        if (result.role === 'ops') {
          expect(result.icb).not.toBeNull();
          expect(mapping.icbOps).toContain(result.icb);
          expect(at(result.icb!).length).toBeGreaterThan(0);
          expect(result.practices).toEqual([]);
        } else {
          expect(result.icb).toBeNull();
          expect(result.practices.length).toBeGreaterThan(0);
          for (const ods of result.practices) {
            expect(estate.practices.has(ods)).toBe(true);
            const roles = at(ods);
            expect(roles.length).toBeGreaterThan(0);
            if (result.role === 'manager') expect(roles.some((r) => isManagerRole(r.role_code, mapping.managerRoleCodes))).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('does not change the claims it reads', () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const before = structuredClone(claims);
        map(claims);
        expect(claims).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });
});
