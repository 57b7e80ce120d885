// Backup mode end to end against the real server, real probe workers and the simulator's
// continuity receiver (which verifies every signature and applies each idempotency key once).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PracticeView } from '../../server/live/protocol';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

let stack: Stack;
let ops: SignedIn;

interface Detail {
  ods: string;
  mode: string;
  enteredBy: string | null;
  reason: string | null;
  actions: { key: string; kind: string; name: string; state: string; attempts: number; direction: string; lastError: string | null }[];
  checklist: { id: string; done: boolean; by: string | null; direction: string }[];
  readiness: { id: string; done: boolean; checkedAt: string | null; overdue: boolean }[];
  backlog: { urgentReferrals: number; prescriptions: number; consultations: number } | null;
  transitions: { from: string; to: string; by: string; automatic: boolean; evidence: { status: string; cause: string | null } }[];
  suggestion: { suggestLeave: boolean; healthyForMs: number };
  costs: { description: string; amountPence: number }[];
}

const detail = (ods: string) => ops.get<Detail>(`/api/practices/${ods}/backup`);
const practice = async (ods: string) => (await ops.get<PracticeView & { mode: string }>(`/api/practices/${ods}`));

beforeAll(async () => {
  stack = await startStack({ seed: 11 });
  ops = await signIn(stack.pulse.url, stack.pulse.store.accounts);
  await waitFor('practices up', async () => (await ops.get<{ practices: PracticeView[] }>('/api/practices?limit=1000')).practices.every((p) => p.status === 'up'), 20_000);
}, 40_000);

afterAll(async () => {
  await stack?.stop();
});

describe('backup mode', () => {
  it('switches a practice in an outage into backup mode: recorded, actions delivered signed and once, patients told', async () => {
    const ods = stack.sim.practices[0]!.ods;
    await stack.sim.fail(`practice:${ods}`, 'down');
    await waitFor(`${ods} down`, async () => (await practice(ods)).status === 'down', 10_000);

    const res = await ops.fetch(`/api/practices/${ods}/backup/enter`, {
      method: 'POST',
      json: { reasonCode: 'reported-by-practice', reason: 'Gateway down since 08:10; practice on paper' },
    });
    expect(res.status).toBe(200);
    const entered = (await res.json()) as Detail;
    expect(['entering', 'backup']).toContain(entered.mode);
    // The decision was recorded with the evidence of the moment, before anything was sent.
    expect(entered.transitions[entered.transitions.length - 1]).toMatchObject({ from: 'normal', to: 'entering', automatic: false, evidence: { status: 'down' } });
    expect(entered.actions.map((a) => a.name).sort()).toEqual(['Pause online booking', 'Phone message', 'Text the practice manager']);

    await waitFor('backup mode reached', async () => (await detail(ods)).mode === 'backup', 10_000);
    const after = await detail(ods);
    expect(after.actions.every((a) => a.state === 'done' && a.attempts === 1)).toBe(true);
    const deliveries = stack.sim.continuity.deliveries();
    expect(deliveries.rejected).toBe(0);
    const mine = deliveries.applied.filter((d) => (d.body as { ods: string }).ods === ods);
    expect(mine.map((d) => d.action).sort()).toEqual(['online-booking', 'phone-message']);
    expect(mine.every((d) => d.received === 1)).toBe(true);
    expect(mine[0]!.body).toMatchObject({ event: 'practice.backup.enter', ods, reasonCode: 'reported-by-practice' });

    expect((await practice(ods)).mode).toBe('backup');
    const page = await (await fetch(`${stack.pulse.url}/status/${ods}`)).text();
    expect(page).toMatch(/backup plan/i);

    // A second enter is refused, and says why.
    const again = await ops.fetch(`/api/practices/${ods}/backup/enter`, { method: 'POST', json: { reasonCode: 'other', reason: 'again' } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('ALREADY_IN_BACKUP');

    // Each checklist tick is recorded with who and when.
    const tick = await ops.fetch(`/api/practices/${ods}/backup/checklist/paper-templates`, { method: 'POST', json: { done: true } });
    expect(tick.status).toBe(200);
    const ticked = (await tick.json()) as Detail;
    expect(ticked.checklist.find((c) => c.id === 'paper-templates')).toMatchObject({ done: true, direction: 'enter' });
    const unknownItem = await ops.fetch(`/api/practices/${ods}/backup/checklist/no-such-step`, { method: 'POST', json: { done: true } });
    expect(unknownItem.status).toBe(404);
    expect(((await unknownItem.json()) as { error: { message: string } }).error.message).toContain('paper-templates');

    // Recovered and healthy for the plan's suggestLeaveAfter: leaving is suggested, never automatic.
    await stack.sim.restore(`practice:${ods}`);
    await waitFor('leave suggested', async () => (await detail(ods)).suggestion.suggestLeave, 15_000);
    expect((await detail(ods)).mode).toBe('backup');

    const left = await ops.fetch(`/api/practices/${ods}/backup/leave`, { method: 'POST', json: { reasonCode: 'recovered', reason: 'Gateway back; checked on two workstations' } });
    expect(left.status).toBe(200);
    await waitFor('back to normal', async () => (await detail(ods)).mode === 'normal', 10_000);
    const normal = await detail(ods);
    expect(normal.checklist.map((c) => c.direction)).toEqual(normal.checklist.map(() => 'leave'));
    expect(normal.actions.filter((a) => a.direction === 'leave')).toHaveLength(3);

    // The re-entry backlog: counted down by the practice.
    const backlog = await ops.fetch(`/api/practices/${ods}/backup/backlog`, { method: 'PUT', json: { urgentReferrals: 2, prescriptions: 14, consultations: 31 } });
    expect(backlog.status).toBe(200);
    expect(((await backlog.json()) as Detail).backlog).toMatchObject({ urgentReferrals: 2, prescriptions: 14, consultations: 31 });
    const negative = await ops.fetch(`/api/practices/${ods}/backup/backlog`, { method: 'PUT', json: { urgentReferrals: -1, prescriptions: 0, consultations: 0 } });
    expect(negative.status).toBe(400);
    expect(((await negative.json()) as { error: { message: string } }).error.message).toMatch(/urgentReferrals/);

    // The ICB's cost log.
    const cost = await ops.fetch(`/api/practices/${ods}/backup/costs`, { method: 'POST', json: { description: 'Locum GP, 4 hours', amountPence: 36000 } });
    expect(cost.status).toBe(200);
    const costs = await ops.get<{ costs: { ods: string; amountPence: number }[]; totalPence: number }>('/api/backup/costs');
    expect(costs).toMatchObject({ costs: [{ ods, amountPence: 36000 }], totalPence: 36000 });

    // Every act is in the audit log.
    const audit = await ops.get<{ entries: { action: string; subject: string | null }[] }>('/api/audit?limit=100');
    const actions = audit.entries.filter((e) => e.subject === `practice:${ods}`).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['backup.enter', 'backup.checklist.tick', 'backup.leave', 'backup.backlog', 'backup.cost']));
  }, 60_000);

  it('refuses bad requests with a message naming the field', async () => {
    const ods = stack.sim.practices[1]!.ods;
    const noReason = await ops.fetch(`/api/practices/${ods}/backup/enter`, { method: 'POST', json: { reasonCode: 'other', reason: '   ' } });
    expect(noReason.status).toBe(400);
    expect(((await noReason.json()) as { error: { message: string } }).error.message).toMatch(/reason/);
    const badCode = await ops.fetch(`/api/practices/${ods}/backup/enter`, { method: 'POST', json: { reasonCode: 'bored', reason: 'x' } });
    expect(badCode.status).toBe(400);
    expect(((await badCode.json()) as { error: { message: string } }).error.message).toMatch(/reasonCode/);
    const leaveNormal = await ops.fetch(`/api/practices/${ods}/backup/leave`, { method: 'POST', json: { reasonCode: 'recovered', reason: 'x' } });
    expect(leaveNormal.status).toBe(409);
    expect((await detail(ods)).mode).toBe('normal');
  });

  it('lets a manager switch only their own practice, and a viewer none', async () => {
    const [mine, theirs] = [stack.sim.practices[2]!.ods, stack.sim.practices[3]!.ods];
    const manager = await signIn(stack.pulse.url, stack.pulse.store.accounts, { role: 'manager', practices: [mine] });
    const viewer = await signIn(stack.pulse.url, stack.pulse.store.accounts, { role: 'viewer', icb: null });
    const body = { reasonCode: 'planned', reason: 'continuity drill' };
    expect((await manager.fetch(`/api/practices/${theirs}/backup/enter`, { method: 'POST', json: body })).status).toBe(403);
    expect((await viewer.fetch(`/api/practices/${mine}/backup/enter`, { method: 'POST', json: body })).status).toBe(403);
    expect((await manager.fetch('/api/backup/bulk', { method: 'POST', json: { ...body, action: 'enter', incidentId: 1, expectedCount: 1 } })).status).toBe(403);
    expect((await manager.fetch(`/api/practices/${mine}/backup/enter`, { method: 'POST', json: body })).status).toBe(200);
    await waitFor('drill in backup', async () => (await detail(mine)).mode === 'backup', 10_000);
    expect((await manager.fetch(`/api/practices/${mine}/backup/leave`, { method: 'POST', json: { reasonCode: 'planned', reason: 'drill over' } })).status).toBe(200);
    await waitFor('drill over', async () => (await detail(mine)).mode === 'normal', 10_000);
  }, 30_000);

  it('switches every practice of an incident in one act, after confirming how many', async () => {
    const emis = stack.sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods).sort();
    await stack.sim.fail('service:emis-web', 'down');
    const incidents = async () => (await ops.get<{ incidents: { id: number; key: string; status: string; affected: string[] }[] }>('/api/incidents?status=open')).incidents;
    await waitFor('EMIS incident with every EMIS practice', async () => (await incidents()).some((i) => i.key === 'service:emis-web' && i.affected.length === emis.length), 15_000);
    const incident = (await incidents()).find((i) => i.key === 'service:emis-web')!;

    const preview = await ops.get<{ count: number; practices: string[] }>(`/api/backup/bulk?action=enter&incidentId=${incident.id}`);
    expect(preview.count).toBe(emis.length);
    const body = { action: 'enter', incidentId: incident.id, reasonCode: 'clinical-system-down', reason: 'EMIS Web national outage' };
    const wrong = await ops.fetch('/api/backup/bulk', { method: 'POST', json: { ...body, expectedCount: preview.count + 1 } });
    expect(wrong.status).toBe(409);
    expect((await wrong.json()) as { count: number }).toMatchObject({ error: { code: 'COUNT_CHANGED' }, count: preview.count });

    const res = await ops.fetch('/api/backup/bulk', { method: 'POST', json: { ...body, expectedCount: preview.count } });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { bulkId: string; switched: string[] };
    expect(result.switched.sort()).toEqual(emis);
    // One audit entry names them all.
    const audit = await ops.get<{ entries: { action: string; detail: { practices: string[]; bulkId: string } }[] }>('/api/audit?limit=50');
    const bulk = audit.entries.filter((e) => e.action === 'backup.enter.bulk');
    expect(bulk).toHaveLength(1);
    expect(bulk[0]!.detail.practices.sort()).toEqual(emis);
    await waitFor('all in backup', async () => {
      const all = (await ops.get<{ practices: PracticeView[] }>('/api/practices?limit=1000')).practices;
      return emis.every((o) => all.find((p) => p.ods === o)?.mode === 'backup');
    }, 20_000);
    const counts = (await ops.get<{ counts: { backup: number } }>('/api/practices?limit=1')).counts;
    expect(counts.backup).toBe(emis.length);
    await stack.sim.restore('service:emis-web');
  }, 60_000);
});
