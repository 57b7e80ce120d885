// The operations console and the incident page in real Chromium against a real Pulse and
// simulator: search, filters and sort work and survive a reload; an EMIS Web outage shows in
// the supplier roll-up with the number of practices it takes down; the incident page lists
// the affected practices; ops switch every practice of the incident into backup mode (and
// are asked again when the count changed meanwhile); one practice is switched from the
// console; the Backup mode panel lists who is in backup with their action and checklist
// progress; the incident's cost log takes entries in pounds and shows the total;
// maintenance windows are planned and cancelled; axe-core finds no WCAG 2.2 AA
// violation on either page, with or without a dialog open. Screenshots at 1920×1080 and a
// 390×844 phone are kept in test-results/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/auth/password';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { launchChromium } from '../helpers/browser';
import { signIn, type SignedIn } from '../helpers/session';
import { startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const SHOTS = join(process.cwd(), 'test-results');
const AXE = readFileSync(join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'a long console password';

let stack: Stack;
let sim: Simulator;
let pulse: RunningPulse;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let rest: SignedIn;
let emisOds: string[];
let incidentId: number;

async function violations(p: Page): Promise<string[]> {
  await p.addScriptTag({ content: AXE });
  return p.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (d: Document, o: unknown) => Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] });
    return result.violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
}

const tile = (ods: string) => page.locator(`[data-testid="practice-tile"][data-ods="${ods}"]`);
const tileOds = () => page.locator('[data-testid="practice-tile"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-ods')));

beforeAll(async () => {
  stack = await startStack({ seed: 17 });
  ({ sim, pulse } = stack);
  emisOds = sim.practices.filter((p) => p.system === 'emis-web').map((p) => p.ods);
  await pulse.store.accounts.createUser({
    username: 'opsdesk',
    displayName: 'Ops Desk',
    role: 'ops',
    icb: null,
    practices: [],
    passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }),
    now: Date.now(),
  });
  rest = await signIn(pulse.url, pulse.store.accounts, { role: 'ops' });
  browser = await launchChromium();
  // CSP bypassed only so the test can inject axe-core; the page itself runs under the strict CSP.
  context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, bypassCSP: true });
  page = await context.newPage();
  mkdirSync(SHOTS, { recursive: true });
  await page.goto(pulse.url);
  await page.fill('input[name="username"]', 'opsdesk');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.locator('[data-testid="practice-tile"][data-status="up"]').first().waitFor({ timeout: 15_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('operations console in Chromium', () => {
  it('searches, filters and sorts, keeps the view in the URL, and keeps it across a reload', async () => {
    const all = sim.practices.length;
    await page.locator(`[data-testid="practice-count"][data-matching="${all}"]`).waitFor();

    const target = sim.practices[3]!;
    await page.fill('[data-testid="filter-q"]', target.ods.toLowerCase());
    await page.locator('[data-testid="practice-count"][data-matching="1"]').waitFor();
    // A change of search is said to screen readers (the count in a polite live region).
    expect(await page.locator('[data-testid="practice-count-announce"][role="status"]').innerText()).toBe(`1 practice of ${all} match.`);
    expect(await tileOds()).toEqual([target.ods]);
    expect(new URL(page.url()).searchParams.get('q')).toBe(target.ods.toLowerCase());

    // By PCN: every practice of that PCN, and only those.
    const pcn = target.pcn;
    await page.fill('[data-testid="filter-q"]', pcn);
    const inPcn = sim.practices.filter((p) => p.pcn.toLowerCase().includes(pcn.toLowerCase()) || p.name.toLowerCase().includes(pcn.toLowerCase()));
    await page.locator(`[data-testid="practice-count"][data-matching="${inPcn.length}"]`).waitFor();
    expect((await tileOds()).sort()).toEqual(inPcn.map((p) => p.ods).sort());

    // Clinical system + status + sort by ODS code.
    await page.fill('[data-testid="filter-q"]', '');
    await page.selectOption('[data-testid="filter-system"]', 'systmone');
    await page.check('[data-testid="filter-status-up"]');
    await page.selectOption('[data-testid="filter-sort"]', 'ods');
    const systmone = sim.practices.filter((p) => p.system === 'systmone').map((p) => p.ods).sort();
    await page.locator(`[data-testid="practice-count"][data-matching="${systmone.length}"]`).waitFor();
    expect(await tileOds()).toEqual(systmone);
    const url = new URL(page.url());
    expect(Object.fromEntries(url.searchParams)).toEqual({ status: 'up', system: 'systmone', sort: 'ods' });

    await page.reload();
    await page.locator(`[data-testid="practice-count"][data-matching="${systmone.length}"]`).waitFor({ timeout: 15_000 });
    expect(await tileOds()).toEqual(systmone);
    expect(await page.inputValue('[data-testid="filter-system"]')).toBe('systmone');
    expect(await page.inputValue('[data-testid="filter-sort"]')).toBe('ods');
    expect(await page.isChecked('[data-testid="filter-status-up"]')).toBe(true);

    // Mode: nobody is in backup yet.
    await page.selectOption('[data-testid="filter-mode"]', 'backup');
    await page.locator('[data-testid="no-match"]').waitFor();

    await page.click('[data-testid="filter-clear"]');
    await page.locator(`[data-testid="practice-count"][data-matching="${all}"]`).waitFor();
    expect(new URL(page.url()).search).toBe('');
  });

  it('plans a maintenance window and cancels it; the dialog takes focus, Escape closes it and focus returns', async () => {
    const plan = page.locator('[data-testid="maintenance-plan"]');
    await plan.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('[data-testid="maintenance-dialog"]');
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('maintenance-plan');

    await plan.click();
    await dialog.waitFor();
    expect(await violations(page)).toEqual([]);
    // Submitting without a reason is refused on the spot, saying what is missing.
    await dialog.locator('[data-testid="mw-submit"]').click();
    expect(await dialog.innerText()).toMatch(/Enter the reason/);
    // What the server refuses is shown in its own words, and nothing is planned.
    await dialog.locator('[data-testid="mw-subject"]').selectOption('practice');
    await dialog.locator('#mw-ods').fill('ZZ9999');
    await dialog.locator('[data-testid="mw-reason"]').fill('Supplier upgrade');
    await dialog.locator('[data-testid="mw-submit"]').click();
    await dialog.locator('[data-testid="maintenance-error"]', { hasText: 'unknown practice "ZZ9999"' }).waitFor();
    await dialog.locator('[data-testid="mw-subject"]').selectOption('service:vision');
    await page.screenshot({ path: join(SHOTS, 'console-maintenance-dialog.png') });
    await dialog.locator('[data-testid="mw-submit"]').click();
    await dialog.waitFor({ state: 'detached' });

    const row = page.locator('[data-testid="maintenance-window"][data-subject="service:vision"]');
    await row.waitFor();
    expect(await row.innerText()).toMatch(/Planned[\s\S]*Vision[\s\S]*Supplier upgrade[\s\S]*Ops Desk/);
    const planned = await rest.get<{ windows: { subject: string; author: string; reason: string }[] }>('/api/maintenance');
    expect(planned.windows).toEqual([expect.objectContaining({ subject: 'service:vision', reason: 'Supplier upgrade', author: 'Ops Desk' })]);

    await row.locator('[data-testid="maintenance-cancel"]').click();
    await page.locator('[data-testid="maintenance-cancel-dialog"]').waitFor();
    await page.click('[data-testid="maintenance-cancel-confirm"]');
    await row.waitFor({ state: 'detached' });
    await page.locator('[data-testid="maintenance-none"]').waitFor();
    expect((await rest.get<{ windows: unknown[] }>('/api/maintenance')).windows).toEqual([]);
  });

  it('shows an EMIS Web outage in the supplier roll-up with the number of practices it takes down', async () => {
    // Filtered to "down", the count on screen follows every delta of the outage; the live
    // region a screen reader hears must not (it speaks when the filters change, not per delta).
    await page.goto(`${pulse.url}/?status=down`);
    await page.locator('[data-testid="practice-count"]').waitFor({ timeout: 10_000 });
    await page.evaluate(() => {
      const w = window as unknown as { announced: string[] };
      w.announced = [];
      const regions = document.querySelectorAll('.practices [role="status"], .practices [aria-live], .practices [role="alert"]');
      const observer = new MutationObserver(() => regions.forEach((r) => w.announced.push(r.textContent ?? '')));
      regions.forEach((r) => observer.observe(r, { childList: true, characterData: true, subtree: true }));
    });
    sim.play('emis-web-outage', { durationMs: 120_000 });
    const emis = page.locator(`[data-testid="service"][data-id="emis-web"][data-status="down"][data-affected="${emisOds.length}"]`);
    await emis.waitFor({ timeout: 15_000 });
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="practice-count"]')?.getAttribute('data-matching')) >= n, emisOds.length, {
      timeout: 15_000,
    });
    expect(await page.evaluate(() => (window as unknown as { announced: string[] }).announced)).toEqual([]);
    await page.goto(pulse.url);
    await emis.waitFor({ timeout: 15_000 });
    expect(await emis.innerText()).toContain(`${emisOds.length} practices affected`);
    expect(await page.locator('[data-testid="service"][data-id="systmone"]').getAttribute('data-affected')).toBe('0');

    // The count narrows the practice list to that system.
    await emis.locator('[data-testid="service-pick"]').click();
    await page.locator(`[data-testid="practice-count"][data-matching="${emisOds.length}"]`).waitFor();
    expect(new URL(page.url()).searchParams.get('system')).toBe('emis-web');

    const incident = page.locator('[data-testid="incident"]').first();
    await incident.waitFor({ timeout: 15_000 });
    expect(await violations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'console-outage-1920.png') });
  });

  it('opens the incident page with the affected practices, their status and mode', async () => {
    const link = page.locator('[data-testid="incident-link"]').first();
    incidentId = Number(await page.locator('[data-testid="incident"]').first().getAttribute('data-incident-id'));
    await link.click();
    await page.locator(`[data-testid="incident-page"][data-incident-id="${incidentId}"]`).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/incidents/${incidentId}`);
    await page.locator('[data-testid="affected-practice"]').nth(emisOds.length - 1).waitFor({ timeout: 15_000 });
    const rows = await page.locator('[data-testid="affected-practice"]').evaluateAll((els) =>
      els.map((e) => ({ ods: e.getAttribute('data-ods'), status: e.getAttribute('data-status'), mode: e.getAttribute('data-mode') })),
    );
    expect(rows.map((r) => r.ods).sort()).toEqual([...emisOds].sort());
    expect(new Set(rows.map((r) => `${r.status}/${r.mode}`))).toEqual(new Set(['down/normal']));
    expect(await page.locator('[data-testid="incident-title"]').innerText()).toMatch(/EMIS Web/);
    expect(await page.locator('[data-testid="incident-cause"]').innerText()).toBe('EMIS Web is down');
    expect(await page.locator('[data-testid="timeline"]').innerText()).not.toBe('');

    await page.fill('[data-testid="note-text"]', 'Supplier ticket raised');
    await page.click('[data-testid="note-submit"]');
    await page.locator('[data-testid="notes"]', { hasText: 'Supplier ticket raised' }).waitFor();
    expect(await violations(page)).toEqual([]);
  });

  it('switches every practice of the incident into backup mode, asking again when the count changed', async () => {
    await page.click('[data-testid="bulk-enter"]');
    const dialog = page.locator('[data-testid="bulk-dialog"]');
    await dialog.locator(`[data-testid="bulk-count"][data-count="${emisOds.length}"]`).waitFor({ timeout: 10_000 });
    expect(await dialog.innerText()).toContain(`This will switch ${emisOds.length} practices into backup mode`);
    expect(await violations(page)).toEqual([]);

    // The reason is required before anything is sent.
    await dialog.locator('[data-testid="bulk-confirm"]').click();
    expect(await dialog.innerText()).toMatch(/Enter the reason/);

    // Meanwhile someone else switches one of them: the count the person saw is now wrong.
    const first = emisOds[0]!;
    const single = await rest.fetch(`/api/practices/${first}/backup/enter`, {
      method: 'POST',
      json: { reasonCode: 'reported-by-practice', reason: 'Practice phoned in' },
    });
    expect(single.status).toBe(200);

    await dialog.locator('[data-testid="reason-code"]').selectOption('clinical-system-down');
    await dialog.locator('[data-testid="reason"]').fill('EMIS Web outage across the ICB');
    await dialog.locator('[data-testid="bulk-confirm"]').click();
    await dialog.locator('[data-testid="bulk-count-changed"]').waitFor({ timeout: 10_000 });
    await dialog.locator(`[data-testid="bulk-count"][data-count="${emisOds.length - 1}"]`).waitFor();
    expect(await dialog.locator('[data-testid="bulk-count-changed"]').innerText()).toContain(`from ${emisOds.length} to ${emisOds.length - 1}`);

    await dialog.locator('[data-testid="bulk-confirm"]').click();
    const result = dialog.locator('[data-testid="bulk-result"]');
    await result.waitFor({ timeout: 10_000 });
    expect(await result.getAttribute('data-switched')).toBe(String(emisOds.length - 1));
    await page.screenshot({ path: join(SHOTS, 'incident-bulk-result-1920.png') });
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });

    // Every affected practice now shows a backup mode (entering while its actions run, then backup).
    await waitFor('every affected practice in backup mode', async () => {
      const modes = await page.locator('[data-testid="affected-practice"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-mode')));
      return modes.length === emisOds.length && modes.every((m) => m === 'entering' || m === 'backup');
    });
    const audit = await rest.fetch('/api/audit?format=json');
    expect(audit.status).toBe(200);
  });

  it('lists the practices in backup mode with their action and checklist progress; a tick shows on refresh', async () => {
    await page.goto(pulse.url);
    const panel = page.locator('[data-testid="backup-panel"]');
    await page.locator(`[data-testid="backup-panel"][data-count="${emisOds.length}"]`).waitFor({ timeout: 15_000 });
    // A few rows at first, so a mass outage does not push the practices off the screen; all on asking.
    expect(await panel.locator('[data-testid="backup-row"]').count()).toBe(Math.min(8, emisOds.length));
    await panel.locator('[data-testid="backup-show-all"]').click();
    await panel.locator(`[data-testid="backup-row"]`).nth(emisOds.length - 1).waitFor();
    expect(await panel.getAttribute('data-count')).toBe(String(emisOds.length));
    const listed = await panel.locator('[data-testid="backup-row"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-ods')));
    expect([...listed].sort()).toEqual([...emisOds].sort());

    // Each run's three actions (two webhooks, one text) settle; the panel hears of it when the
    // live feed moves the practice from entering to backup.
    await waitFor('every practice in backup with its actions done', async () => {
      const rows = await panel.locator('[data-testid="backup-row"]').evaluateAll((els) =>
        els.map((e) => ({ mode: e.getAttribute('data-mode'), actions: e.querySelector('[data-testid="backup-row-actions"]')?.textContent?.trim() })),
      );
      return rows.length === emisOds.length && rows.every((r) => r.mode === 'backup' && r.actions === '3 of 3 actions done');
    }, 20_000);
    expect(await panel.locator('[data-testid="backup-summary"]').innerText()).toBe(`${emisOds.length} in backup mode`);
    const ods = [...emisOds].sort()[1]!;
    const row = panel.locator(`[data-testid="backup-row"][data-ods="${ods}"]`);
    expect(await row.locator('[data-testid="backup-row-checklist"]').innerText()).toBe('0 of 4 steps');
    expect(await row.locator('[data-testid="backup-row-mode"]').innerText()).toContain('Backup mode');
    expect(await row.locator('[data-testid="backup-row-failed"]').count()).toBe(0);
    expect(await row.locator('[data-testid="backup-row-link"]').getAttribute('href')).toBe(`/practice/${ods}`);

    // Someone at the practice ticks two steps: the panel shows them once asked again.
    for (const item of ['paper-templates', 'tell-staff']) {
      const tick = await rest.fetch(`/api/practices/${ods}/backup/checklist/${item}`, { method: 'POST', json: { done: true } });
      expect(tick.status).toBe(200);
    }

    // Another practice goes back to normal, but its online-booking webhook is refused until
    // Pulse gives up; it still has paper records to re-enter, so it stays on the panel.
    const back = [...emisOds].sort().at(-1)!;
    sim.continuity.failNext('online-booking', 8);
    const left = await rest.fetch(`/api/practices/${back}/backup/leave`, {
      method: 'POST',
      json: { reasonCode: 'recovered', reason: 'EMIS Web is back for this practice' },
    });
    expect(left.status).toBe(200);
    await waitFor('the practice back to normal with its leave actions settled', async () => {
      const detail = await rest.get<{ mode: string }>(`/api/practices/${back}/backup`);
      return detail.mode === 'normal';
    }, 20_000);
    // No reload: the live feed's change of mode makes the panel ask again, and a practice back
    // to normal with nothing left to re-enter leaves it.
    await page.locator(`[data-testid="backup-panel"][data-count="${emisOds.length - 1}"]`).waitFor({ timeout: 15_000 });
    expect(await panel.locator(`[data-testid="backup-row"][data-ods="${back}"]`).count()).toBe(0);
    const backlog = await rest.fetch(`/api/practices/${back}/backup/backlog`, {
      method: 'PUT',
      json: { urgentReferrals: 2, prescriptions: 5, consultations: 11 },
    });
    expect(backlog.status).toBe(200);

    await page.reload();
    await panel.locator('[data-testid="backup-show-all"]').click();
    await row.locator('[data-testid="backup-row-checklist"]', { hasText: '2 of 4 steps' }).waitFor({ timeout: 15_000 });
    expect(await row.getAttribute('data-checklist-done')).toBe('2');
    const backRow = panel.locator(`[data-testid="backup-row"][data-ods="${back}"]`);
    expect(await backRow.getAttribute('data-mode')).toBe('normal');
    expect(await backRow.locator('[data-testid="backup-row-actions"]').innerText()).toMatch(/^2 of 3 actions done · ✕\uFE0E? 1 failed$/);
    expect(await backRow.locator('[data-testid="backup-row-failed"]').innerText()).toContain('1 failed');
    expect(await backRow.locator('[data-testid="backup-row-checklist"]').innerText()).toBe('0 of 3 steps');
    expect(await backRow.locator('[data-testid="backup-row-backlog"]').innerText()).toBe('18 items to re-enter');
    // Failed actions come first: someone has to act on them.
    expect(await panel.locator('[data-testid="backup-row"]').first().getAttribute('data-ods')).toBe(back);
    expect(await panel.locator('[data-testid="backup-summary"]').innerText()).toBe(
      `${emisOds.length - 1} in backup mode · 1 with failed actions · 1 with a backlog`,
    );
    await panel.locator('[data-testid="backup-show-all"]').click();
    expect(await panel.locator('[data-testid="backup-row"]').count()).toBe(8);

    expect(await violations(page)).toEqual([]);
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, 'console-backup-panel-1920.png') });
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(pulse.url);
    const phonePanel = phone.locator('[data-testid="backup-panel"]');
    await phonePanel.locator('[data-testid="backup-row"]').first().waitFor({ timeout: 15_000 });
    await phonePanel.scrollIntoViewIfNeeded();
    await phone.screenshot({ path: join(SHOTS, 'console-backup-panel-phone.png') });
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await violations(phone)).toEqual([]);
    await phone.close();
  });

  it('keeps the incident’s cost log: refuses a bad amount saying why, adds entries in pounds, shows the total', async () => {
    await page.goto(`${pulse.url}/incidents/${incidentId}`);
    const log = page.locator('[data-testid="cost-log"]');
    await log.locator('[data-testid="cost-none"]').waitFor({ timeout: 15_000 });
    const [first, second] = [...emisOds].sort();

    // Nothing chosen, nothing typed: each field says what it needs, and nothing is sent.
    await log.locator('[data-testid="cost-submit"]').click();
    expect(await log.innerText()).toMatch(/Choose the practice[\s\S]*Describe the cost[\s\S]*Enter the amount in pounds/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('cost-ods');

    await log.locator('[data-testid="cost-ods"]').selectOption(first!);
    await log.locator('[data-testid="cost-description"]').fill('Locum GP cover, two sessions');
    await log.locator('[data-testid="cost-amount"]').fill('360.005');
    await log.locator('[data-testid="cost-submit"]').click();
    expect(await log.innerText()).toContain('Enter pence with at most two digits after the point');
    expect((await rest.get<{ costs: unknown[] }>(`/api/backup/costs?incidentId=${incidentId}`)).costs).toEqual([]);

    await log.locator('[data-testid="cost-amount"]').fill('360.00');
    await log.locator('[data-testid="cost-submit"]').click();
    await log.locator('[data-testid="cost-entry"]').first().waitFor({ timeout: 10_000 });
    expect(await log.locator('[data-testid="cost-total"]').innerText()).toBe('£360.00');

    await log.locator('[data-testid="cost-ods"]').selectOption(second!);
    await log.locator('[data-testid="cost-description"]').fill('Courier for paper prescriptions');
    await log.locator('[data-testid="cost-amount"]').fill('£1,250.5');
    await log.locator('[data-testid="cost-submit"]').click();
    await log.locator('[data-testid="cost-total"][data-pence="161050"]').waitFor({ timeout: 10_000 });
    expect(await log.locator('[data-testid="cost-total"]').innerText()).toBe('£1,610.50');
    const entries = await log.locator('[data-testid="cost-entry"]').evaluateAll((els) =>
      els.map((e) => ({ ods: e.getAttribute('data-ods'), text: (e as HTMLElement).innerText })),
    );
    expect(entries.map((e) => e.ods)).toEqual([first, second]);
    expect(entries[0]!.text).toMatch(/Locum GP cover, two sessions[\s\S]*opsdesk[\s\S]*£360\.00/);
    expect(entries[1]!.text).toMatch(/Courier for paper prescriptions[\s\S]*£1,250\.50/);

    // What the server holds: exact pence, tied to the incident, by the person signed in.
    const stored = await rest.get<{ costs: { ods: string; amountPence: number; incidentId: number; by: string }[]; totalPence: number }>(
      `/api/backup/costs?incidentId=${incidentId}`,
    );
    expect(stored.totalPence).toBe(161_050);
    expect(stored.costs.map((c) => [c.ods, c.amountPence, c.incidentId])).toEqual([
      [first, 36_000, incidentId],
      [second, 125_050, incidentId],
    ]);

    expect(await violations(page)).toEqual([]);
    await log.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, 'incident-cost-log-1920.png') });
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${pulse.url}/incidents/${incidentId}`);
    const phoneLog = phone.locator('[data-testid="cost-log"]');
    await phoneLog.locator('[data-testid="cost-entry"]').first().waitFor({ timeout: 15_000 });
    await phoneLog.scrollIntoViewIfNeeded();
    await phone.screenshot({ path: join(SHOTS, 'incident-cost-log-phone.png') });
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await violations(phone)).toEqual([]);
    await phone.close();
  });

  it('switches one practice out of backup mode from the console, with confirmation and reason', async () => {
    await page.goto(`${pulse.url}/?mode=backup&sort=ods`);
    const ods = [...emisOds].sort()[0]!;
    const t = tile(ods);
    await t.locator('[data-testid="backup-badge"][data-mode="backup"]').waitFor({ timeout: 20_000 });
    expect(await t.locator('[data-testid="backup-badge"]').innerText()).toContain('Backup mode');
    await t.locator('[data-testid="backup-switch"]').click();
    const dialog = page.locator('[data-testid="backup-dialog"]');
    await dialog.waitFor();
    expect(await dialog.innerText()).toMatch(/Return .* to normal/);
    expect(await violations(page)).toEqual([]);
    await dialog.locator('[data-testid="reason"]').fill('Practice confirmed EMIS Web is back for them');
    await dialog.locator('[data-testid="backup-confirm"]').click();
    await dialog.locator('[data-testid="backup-result"]').waitFor({ timeout: 10_000 });
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The tile's button was re-drawn (or the tile left the filtered list): focus goes back to
    // that practice or to the list's heading, never to <body> (the top of the page).
    const focused = await page.evaluate((o) => {
      const el = document.activeElement;
      return el === null || el === document.body ? 'body' : el.closest(`[data-ods="${o}"]`) ? 'tile' : el.id;
    }, ods);
    expect(['tile', 'practices-heading']).toContain(focused);
    await waitFor('the practice leaving backup mode', async () => {
      const body = await rest.get<{ mode: string }>(`/api/practices/${ods}/backup`);
      return body.mode === 'leaving' || body.mode === 'normal';
    });
  });

  it('offers a viewer nothing they may not do: no switches, no bulk, no maintenance planning, no notes', async () => {
    const viewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await pulse.store.accounts.createUser({
      username: 'watcher',
      displayName: 'Watcher',
      role: 'viewer',
      // A viewer sees the practices of their ICB: one with EMIS practices in the incident.
      icb: sim.practices.find((x) => x.ods === emisOds[0])!.icb,
      practices: [],
      passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }),
      now: Date.now(),
    });
    const p = await viewer.newPage();
    await p.goto(pulse.url);
    await p.fill('input[name="username"]', 'watcher');
    await p.fill('input[name="password"]', PASSWORD);
    await p.click('button[type="submit"]');
    await p.locator('[data-testid="practice-tile"]').first().waitFor({ timeout: 15_000 });
    await p.locator('[data-testid="maintenance"]').waitFor();
    expect(await p.locator('[data-testid="backup-switch"]').count()).toBe(0);
    expect(await p.locator('[data-testid="maintenance-plan"]').count()).toBe(0);
    await p.goto(`${pulse.url}/incidents/${incidentId}`);
    await p.locator('[data-testid="affected-practice"]').first().waitFor({ timeout: 15_000 });
    expect(await p.locator('[data-testid="bulk-enter"], [data-testid="bulk-leave"], [data-testid="backup-switch"], [data-testid="note-text"]').count()).toBe(0);
    await viewer.close();
  });

  it('looks right on a 1920×1080 screen and on a phone (screenshots kept)', async () => {
    await page.goto(pulse.url);
    await page.locator('[data-testid="practice-tile"]').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'console-1920.png') });
    await page.goto(`${pulse.url}/incidents/${incidentId}`);
    await page.locator('[data-testid="affected-practice"]').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'incident-1920.png') });
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(pulse.url);
    await phone.locator('[data-testid="practice-tile"]').first().waitFor({ timeout: 15_000 });
    await phone.screenshot({ path: join(SHOTS, 'console-phone.png'), fullPage: false });
    expect(await violations(phone)).toEqual([]);
    await phone.goto(`${pulse.url}/incidents/${incidentId}`);
    await phone.locator('[data-testid="affected-practice"]').first().waitFor({ timeout: 15_000 });
    await phone.screenshot({ path: join(SHOTS, 'incident-phone.png'), fullPage: true });
    expect(await violations(phone)).toEqual([]);
    await phone.close();
  });

  it('keeps a note just added when an older read of the incident answers after it', async () => {
    await page.goto(`${pulse.url}/incidents/${incidentId}`);
    await page.locator('[data-testid="note-text"]').waitFor({ timeout: 15_000 });
    // The recovery (started below, once the page is watching) changes the open incident on the
    // live feed, so the page reads it again: the first such read is answered by the real server
    // at once but delivered late, as on a slow network.
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let asked = () => {};
    const askedOnce = new Promise<void>((resolve) => (asked = resolve));
    let held = false;
    await page.route(`**/api/incidents/${incidentId}`, async (route) => {
      if (held) return route.continue();
      held = true;
      const response = await route.fetch();
      asked();
      await released;
      await route.fulfill({ response });
    });
    expect((await rest.get<{ status: string }>(`/api/incidents/${incidentId}`)).status).toBe('open');
    void sim.restoreAll();
    await askedOnce;
    await page.fill('[data-testid="note-text"]', 'Recovery confirmed by the supplier');
    await page.click('[data-testid="note-submit"]');
    const notes = page.locator('[data-testid="notes"]', { hasText: 'Recovery confirmed by the supplier' });
    await notes.waitFor({ timeout: 5_000 });

    const late = page.waitForResponse((r) => r.url().endsWith(`/api/incidents/${incidentId}`));
    release();
    await late;
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    expect(await notes.count()).toBe(1);
    await page.unroute(`**/api/incidents/${incidentId}`);
  });
});
