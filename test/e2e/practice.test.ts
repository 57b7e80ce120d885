// The practice manager's view (/practice/<ods>) in real Chromium against a real Pulse and
// simulator, under the server's strict CSP: status and cause in words during an outage,
// charts, the "we're down" report, and issue 6's journey — a practice in an outage switched
// to backup mode by its manager, its checklist ticked, its public page then saying so, and
// the way back with the re-entry backlog. axe-core (WCAG 2.2 AA) at laptop and phone sizes;
// screenshots kept in test-results/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/auth/password';
import type { Role } from '../../server/auth/types';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { launchChromium } from '../helpers/browser';
import { startStack, type Stack } from '../helpers/stack';

const SHOTS = join(process.cwd(), 'test-results');
const AXE = readFileSync(join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'a long enough test password';
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

let sim: Simulator;
let pulse: RunningPulse;
let browser: Browser;
let stack: Stack;
let ods: string;
let other: string;
const contexts: BrowserContext[] = [];

async function createUser(username: string, role: Role, practices: string[]) {
  await pulse.store.accounts.createUser({
    username,
    displayName: `${username} (test)`,
    role,
    icb: null,
    practices,
    passwordHash: await hashPassword(PASSWORD, { N: 2 ** 10 }),
    now: Date.now(),
  });
}

/** A fresh browser context signed in through the form on the practice page itself. */
async function openAs(username: string, path: string, viewport = LAPTOP): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${pulse.url}${path}`);
  const form = page.locator('form[data-testid="sign-in"]');
  await form.waitFor({ timeout: 10_000 });
  await form.locator('input[name="username"]').fill(username);
  await form.locator('input[name="password"]').fill(PASSWORD);
  await form.locator('button[type="submit"]').click();
  await page.locator('[data-testid="practice-page"]').waitFor({ timeout: 10_000 });
  return page;
}

/** axe-core run through the DevTools protocol, so the page keeps its strict CSP. */
async function violations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (d: Document, o: unknown) => Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] });
    return result.violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
}

const status = (page: Page) => page.locator('[data-testid="practice-status"]');

beforeAll(async () => {
  stack = await startStack({ seed: 23 });
  ({ sim, pulse } = stack);
  ods = sim.practices.find((p) => p.system === 'emis-web')!.ods;
  other = sim.practices.find((p) => p.ods !== ods)!.ods;
  await createUser('pm', 'manager', [ods]);
  await createUser('pm-other', 'manager', [other]);
  await createUser('watcher', 'viewer', [ods]);
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

describe('the practice manager’s view in Chromium', () => {
  let page: Page;

  it('looks like NHS software on this page only, under the strict CSP', async () => {
    page = await openAs('pm', `/practice/${ods}`);
    const header = await page.locator('.nhsuk-header').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(header).toBe('rgb(0, 94, 184)');
    const body = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(body).toBe('rgb(240, 244, 245)');
    // The console on the same origin keeps its own dark theme: nothing adopted there.
    const consolePage = await page.context().newPage();
    await consolePage.goto(pulse.url);
    await consolePage.locator('[data-testid="sign-out"]').waitFor({ timeout: 10_000 });
    expect(await consolePage.evaluate(() => document.adoptedStyleSheets.length)).toBe(0);
    expect(await consolePage.locator('.nhsuk-header').count()).toBe(0);
    await consolePage.close();
  });

  it('says "we’re down" in one tap, and "we’re back"', async () => {
    await status(page).and(page.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="status-cause"]').innerText()).toBe('Your practice is working normally');
    await page.locator('[data-testid="report-down"]').click();
    await page.locator('[data-testid="report-in-force"]').waitFor({ timeout: 5_000 });
    await status(page).and(page.locator('[data-status="down"]')).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="status-cause"]').innerText()).toMatch(/^Your practice reported itself down \(pm \(test\)/);
    await page.locator('[data-testid="report-back"]').click();
    await page.locator('[data-testid="report-down"]').waitFor({ timeout: 5_000 });
    await status(page).and(page.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
  });

  it('shows status and cause in words, and since when, during an EMIS Web outage', async () => {
    await sim.play('emis-web-outage', { durationMs: 120_000 });
    await status(page).and(page.locator('[data-status="down"]')).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="status-cause"]', { hasText: 'EMIS Web is down' }).waitFor({ timeout: 5_000 });
    expect(await page.locator('[data-testid="status-cause"]').innerText()).toBe('EMIS Web is down across the region — not a problem at your practice');
    expect(await page.locator('[data-testid="status-tag"]').innerText()).toBe('Down');
    expect(await page.locator('[data-testid="status-since"]').innerText()).toMatch(/^since \d\d:\d\d \(/);
    await page.locator('[data-testid="practice-incident"][data-status="open"]').first().waitFor({ timeout: 15_000 });
  });

  it('draws the checks’ latency and availability charts, over 24 hours and over 7 days', async () => {
    const gateway = page.locator(`[data-testid="check"][data-check="${ods}-gateway"]`);
    const canvas = gateway.locator('canvas[data-testid="latency-chart"]');
    await canvas.waitFor({ timeout: 10_000 });
    const painted = () =>
      canvas.evaluate((el) => {
        const c = el as HTMLCanvasElement;
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let inked = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) inked++;
        return { width: c.width, height: c.height, inked };
      });
    const drawn = await painted();
    expect(drawn.width).toBeGreaterThan(100);
    expect(drawn.inked).toBeGreaterThan(500);
    expect(await gateway.locator('canvas[data-testid="availability-chart"]').count()).toBe(1);
    expect(await gateway.innerText()).toMatch(/latency, last 24 hours: mean \d+ ms/);
    await page.locator('label[for="period-7d"]').click();
    await gateway.getByText(/latency, last 7 days/).waitFor({ timeout: 10_000 });
    expect((await painted()).inked).toBeGreaterThan(500);
    await page.locator('label[for="period-24h"]').click();
  });

  it('is usable by keyboard alone, with the focus visible', async () => {
    await page.reload();
    await page.locator(`[data-testid="check"][data-check="${ods}-gateway"]`).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const style = getComputedStyle(el);
      return { text: el.textContent?.trim(), outline: style.outlineStyle, shadow: style.boxShadow };
    });
    expect(first.text).toBe('Skip to main content');
    expect(first.outline !== 'none' || first.shadow !== 'none').toBe(true);
    // The chart period is a radio group: arrow keys move between 24 hours and 7 days.
    await page.locator('#period-24h').focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.locator('#period-7d').isChecked()).toBe(true);
    const gateway = page.locator(`[data-testid="check"][data-check="${ods}-gateway"]`);
    await gateway.getByText(/latency, last 7 days/).waitFor({ timeout: 10_000 });
    await page.keyboard.press('ArrowLeft');
    expect(await page.locator('#period-24h').isChecked()).toBe(true);
  });

  it('issue 6: its manager switches the practice to backup mode, ticks the checklist, and its public page says backup', async () => {
    const backup = page.locator('[data-testid="backup"]');
    await backup.and(page.locator('[data-mode="normal"]')).waitFor({ timeout: 10_000 });
    // Readiness is there before any outage, with its dates.
    expect(await page.locator('[data-testid="readiness-item"]').count()).toBeGreaterThan(0);

    const form = page.locator('[data-testid="switch-form"][data-direction="enter"]');
    // The reason code the cause suggests is chosen already; the reason text is required.
    expect(await form.locator('input[value="clinical-system-down"]').isChecked()).toBe(true);
    await form.locator('[data-testid="switch-submit"]').click();
    await page.getByText('Enter what has happened, in a few words').first().waitFor();
    await form.locator('textarea').fill('EMIS Web down across the region; working from paper');
    await form.locator('[data-testid="switch-submit"]').click();
    await page.locator('[data-testid="switch-confirm"]').waitFor();
    await page.locator('[data-testid="switch-confirm-yes"]').click();

    await page.locator('[data-testid="backup"]:is([data-mode="entering"], [data-mode="backup"])').waitFor({ timeout: 10_000 });
    // The button pressed is gone with the form: focus lands on the backup card, not the page's top.
    await page.waitForFunction(() => document.activeElement?.id === 'backup-heading', undefined, { timeout: 5_000 });
    expect(await page.locator('[data-testid="backup-reason"]').innerText()).toContain('EMIS Web down across the region');
    expect(await page.locator('[data-testid="backup-action"]').count()).toBeGreaterThan(0);

    const items = page.locator('[data-testid="checklist-item"]');
    const total = await items.count();
    expect(total).toBeGreaterThan(0);
    for (let i = 0; i < total; i++) {
      await items.nth(i).check();
      await page.locator('[data-testid="checklist-count"]', { hasText: `(${i + 1} of ${total} done)` }).waitFor({ timeout: 5_000 });
    }
    // Every action settles (the simulator's receivers answer), and the live feed says backup.
    await backup.and(page.locator('[data-mode="backup"]')).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="backup-action"][data-state="done"]').first().waitFor({ timeout: 15_000 });

    const patients = await page.context().newPage();
    await patients.goto(`${pulse.url}/status/${ods}`);
    expect(await patients.locator('body').innerText()).toMatch(/backup/i);
    await patients.close();

    // Ticks are recorded on the server, not only on screen.
    await page.reload();
    await page.locator('[data-testid="checklist-count"]', { hasText: `(${total} of ${total} done)` }).waitFor({ timeout: 10_000 });
  });

  it('has no axe violations and is screenshotted in backup mode, at laptop and phone sizes', async () => {
    await page.setViewportSize(LAPTOP);
    await page.locator('[data-testid="backup"][data-mode="backup"]').waitFor({ timeout: 10_000 });
    await page.locator('canvas[data-testid="availability-chart"]').first().waitFor();
    expect(await violations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'practice-1366x768.png') });
    await page.screenshot({ path: join(SHOTS, 'practice-1366x768-full.png'), fullPage: true });
    await page.setViewportSize(PHONE);
    expect(await violations(page)).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'practice-390x844.png') });
    await page.screenshot({ path: join(SHOTS, 'practice-390x844-full.png'), fullPage: true });
    await page.locator('[data-testid="check"]').first().screenshot({ path: join(SHOTS, 'practice-390x844-check.png') });
    await page.locator('[data-testid="backup"]').screenshot({ path: join(SHOTS, 'practice-390x844-backup.png') });
    await page.setViewportSize(LAPTOP);
  });

  it('suggests leaving once healthy, leaves, and counts down the re-entry backlog, urgent first', async () => {
    await sim.restoreAll();
    await page.locator('[data-testid="leave-suggestion"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-testid="leave-suggestion"]').innerText()).toMatch(/healthy for .+ — leave backup mode\?/);
    const form = page.locator('[data-testid="switch-form"][data-direction="leave"]');
    expect(await form.locator('input[value="recovered"]').isChecked()).toBe(true);
    await form.locator('textarea').fill('EMIS Web back; checked on two workstations');
    await form.locator('[data-testid="switch-submit"]').click();
    await page.locator('[data-testid="switch-confirm-yes"]').click();
    await page.locator('[data-testid="backup"][data-mode="normal"]').waitFor({ timeout: 20_000 });

    const backlogForm = page.locator('[data-testid="backlog-form"]');
    await backlogForm.waitFor({ timeout: 10_000 });
    await backlogForm.locator('input[name="urgentReferrals"]').fill('2');
    await backlogForm.locator('input[name="prescriptions"]').fill('5');
    await backlogForm.locator('input[name="consultations"]').fill('11');
    await backlogForm.locator('[data-testid="backlog-save"]').click();
    await page.locator('[data-testid="backlog-total"]', { hasText: '18 items still to enter' }).waitFor({ timeout: 5_000 });
    const rows = page.locator('[data-testid="backlog-row"]');
    expect(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-key')))).toEqual(['urgentReferrals', 'prescriptions', 'consultations']);
    await rows.first().locator('[data-testid="backlog-count-down"]').click();
    await page.locator('[data-testid="backlog-total"]', { hasText: '17 items still to enter' }).waitFor({ timeout: 5_000 });
    expect(await rows.first().locator('[data-testid="backlog-count"]').innerText()).toBe('1');
    await page.screenshot({ path: join(SHOTS, 'practice-backlog-1366x768.png'), fullPage: true });
  });

  it('lets a viewer see but not switch, tick or report', async () => {
    const viewer = await openAs('watcher', `/practice/${ods}`, PHONE);
    await viewer.locator('[data-testid="backup"]').waitFor({ timeout: 10_000 });
    expect(await viewer.locator('[data-testid="switch-form"]').count()).toBe(0);
    expect(await viewer.locator('[data-testid="report-down"], [data-testid="report-back"]').count()).toBe(0);
    expect(await viewer.locator('input[data-testid="readiness-item"]').count()).toBe(0);
    expect(await viewer.locator('[data-testid="readiness-item"]').count()).toBeGreaterThan(0);
    expect(await violations(viewer)).toEqual([]);
  });

  it('keeps a tick when an older read of backup mode answers after it', async () => {
    const p = await openAs('pm', `/practice/${ods}`);
    await status(p).and(p.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
    const item = p.locator('input[data-testid="readiness-item"]').first();
    await item.waitFor({ timeout: 10_000 });
    const was = await item.isChecked();

    // The next read of backup mode is answered by the real server at once but delivered late,
    // as on a slow network; a tick is made and answered meanwhile.
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let asked = () => {};
    const askedOnce = new Promise<void>((resolve) => (asked = resolve));
    await p.route(`**/api/practices/${ods}/backup`, async (route) => {
      const response = await route.fetch();
      asked();
      await released;
      await route.fulfill({ response });
    });
    // A status change on the live feed makes the page read backup mode again.
    await p.locator('[data-testid="report-down"]').click();
    await askedOnce;
    const ticked = p.waitForResponse((r) => r.url().includes(`/backup/readiness/`) && r.request().method() === 'POST');
    await item.click();
    expect((await ticked).ok()).toBe(true);
    await p.waitForFunction((want) => (document.querySelector('input[data-testid="readiness-item"]') as HTMLInputElement | null)?.checked === want, !was);

    const late = p.waitForResponse((r) => r.url().endsWith(`/api/practices/${ods}/backup`));
    release();
    await late;
    await p.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    expect(await item.isChecked()).toBe(!was);

    await p.unroute(`**/api/practices/${ods}/backup`);
    await p.locator('[data-testid="report-back"]').click();
    await status(p).and(p.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
  });

  it('tells a manager of another practice plainly that this one is not theirs', async () => {
    const stranger = await openAs('pm-other', `/practice/${ods}`);
    const error = stranger.locator('[data-testid="practice-error"]');
    await error.waitFor({ timeout: 10_000 });
    expect(await error.getAttribute('data-status')).toBe('403');
    expect(await error.innerText()).toMatch(/does not give you access to practice/);
    expect(await violations(stranger)).toEqual([]);
  });
});
