// The wall display (/wall) in real Chromium against a real Pulse and simulator: opened with a
// read-only display link (no sign-in), an EMIS Web outage shows within two check intervals,
// the grouping switch is kept in the address, it never scrolls at 1080p, 4K or a small
// window (where it falls back to one tile per group), axe finds nothing, and the stale banner
// comes when the server stops and goes when it is back. Screenshots go to test-results/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPulse, type RunningPulse } from '../../server/main';
import { launchChromium } from '../helpers/browser';
import { startStack, type Stack } from '../helpers/stack';

const SHOTS = join(process.cwd(), 'test-results');
const AXE = readFileSync(join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');
/** Check interval of this stack's estate. */
const INTERVAL_MS = 2_000;

let stack: Stack;
let restarted: RunningPulse | null = null;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let wallUrl: string;

/** True when the page can scroll either way (the wall must never). */
const scrolls = (p: Page) =>
  p.evaluate(() => {
    const root = document.scrollingElement ?? document.documentElement;
    return root.scrollHeight > window.innerHeight || root.scrollWidth > window.innerWidth;
  });

beforeAll(async () => {
  stack = await startStack({ seed: 17, interval: `${INTERVAL_MS}ms`, timeout: '500ms' });
  const { secret } = await stack.pulse.store.accounts.createToken({ kind: 'display', name: 'ops centre', icb: null, createdBy: 'test', now: Date.now() });
  wallUrl = `${stack.pulse.url}/wall?display=${secret}`;
  browser = await launchChromium();
  // CSP bypassed only so the test can inject axe; the page itself runs under the strict CSP.
  context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, bypassCSP: true });
  page = await context.newPage();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await restarted?.stop();
  await stack?.stop();
});

describe('wall display in Chromium', () => {
  it('opens from a display link with no sign-in, every practice on screen, live, without scrolling', async () => {
    await page.goto(wallUrl);
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="wall-tile"][data-status="up"]').first().waitFor({ timeout: 20_000 });
    expect(await page.locator('form[data-testid="sign-in"]').count()).toBe(0);
    expect(await page.locator('[data-testid="wall-grid"]').getAttribute('data-mode')).toBe('tiles');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="wall-tile"]').length === n, stack.sim.practices.length);
    expect(await page.locator('[data-testid="last-update"] time').innerText()).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(await scrolls(page)).toBe(false);
  });

  it('shows an EMIS Web outage within two check intervals: tiles, counts and the incident with its cause', async () => {
    const emis = stack.sim.practices.filter((p) => p.system === 'emis-web');
    const other = stack.sim.practices.find((p) => p.system !== 'emis-web')!;
    await page.locator('[data-testid="wall-count-down"]', { hasText: /^\D*0\D*$/ }).waitFor({ timeout: 15_000 });

    await stack.sim.fail('service:emis-web', 'down');
    // The bound: confirmation needs two failed probes, so two intervals, plus one
    // probe timeout and the server's 100 ms tick to reach the screen.
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="wall-tile"][data-status="down"]').length === n,
      emis.length,
      { timeout: 2 * INTERVAL_MS + 500 + 500 },
    );
    for (const p of emis) expect(await page.locator(`[data-testid="wall-tile"][data-ods="${p.ods}"]`).getAttribute('data-status')).toBe('down');
    expect(await page.locator(`[data-testid="wall-tile"][data-ods="${other.ods}"]`).getAttribute('data-status')).toBe('up');
    await page.locator('[data-testid="wall-count-down"]', { hasText: String(emis.length) }).waitFor({ timeout: 5_000 });

    const incident = page.locator('[data-testid="wall-incident"][data-key="service:emis-web"]');
    await incident.waitFor({ timeout: 10_000 });
    const text = await incident.innerText();
    expect(text).toMatch(/EMIS Web/);
    expect(text).toMatch(/Cause: EMIS Web: /);
    expect(await incident.locator('[data-testid="wall-incident-affected"]').innerText()).toBe(String(emis.length));
    // Worst first: the first practice tile on the wall is a down one.
    expect(await page.locator('[data-testid="wall-tile"]').first().getAttribute('data-status')).toBe('down');
  });

  it('has no accessibility violations during the outage (axe-core, WCAG 2.2 AA)', async () => {
    await page.addScriptTag({ content: AXE });
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (d: Document, o: unknown) => Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] });
      return result.violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
    });
    expect(violations).toEqual([]);
  });

  it('fits 1920×1080 and 3840×2160 without scrolling, with the trend drawn (screenshots kept)', async () => {
    await page.locator('[data-testid="wall-trend"][data-loaded="true"]').waitFor({ timeout: 10_000 });
    // The incident made the wall read the trend again: the outage is in it (from stored transitions).
    const emis = stack.sim.practices.filter((p) => p.system === 'emis-web').length;
    await page.locator('[data-testid="trend-text"]', { hasText: new RegExp(`peak ${emis} at`) }).waitFor({ state: 'attached', timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'wall-1920x1080-outage.png') });
    expect(await scrolls(page)).toBe(false);

    const big = await context.newPage();
    await big.setViewportSize({ width: 3840, height: 2160 });
    await big.goto(wallUrl);
    await big.locator('[data-testid="wall-tile"][data-status="down"]').first().waitFor({ timeout: 15_000 });
    await big.locator('[data-testid="wall-trend"][data-loaded="true"]').waitFor({ timeout: 10_000 });
    expect(await scrolls(big)).toBe(false);
    // Text grows with the screen: a 4K wall's tiles are larger than a 1080p wall's.
    const width = async (p: Page) => (await p.locator('[data-testid="wall-tile"]').first().boundingBox())!.width;
    expect(await width(big)).toBeGreaterThan(await width(page));
    await big.screenshot({ path: join(SHOTS, 'wall-3840x2160-outage.png') });
    await big.close();
  });

  it('falls back to one tile per group with counts when tiles would be too small, still without scrolling', async () => {
    const small = await context.newPage();
    await small.setViewportSize({ width: 640, height: 360 });
    await small.goto(wallUrl);
    await small.locator('[data-testid="wall-grid"][data-mode="aggregate"]').waitFor({ timeout: 15_000 });
    const groups = small.locator('[data-testid="wall-group"]');
    expect(await groups.count()).toBeGreaterThan(0);
    // Worst first: the first group has a down practice in it, and says how many.
    expect(await groups.first().getAttribute('data-worst')).toBe('down');
    expect(await scrolls(small)).toBe(false);
    await small.screenshot({ path: join(SHOTS, 'wall-640x360-aggregate.png') });
    await small.close();
  });

  it('switches between PCN and clinical system, and keeps the choice in the address', async () => {
    await page.locator('[data-testid="group-system"]').click();
    await page.locator('[data-testid="wall"][data-group-by="system"]').waitFor();
    expect(new URL(page.url()).searchParams.get('group')).toBe('system');
    expect(new URL(page.url()).searchParams.get('display')).not.toBeNull();
    const labels = await page.locator('[data-testid="wall-group-label"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-group')));
    // EMIS Web is down, so its group comes first.
    expect(labels[0]).toBe('emis-web');
    await page.reload();
    await page.locator('[data-testid="wall"][data-group-by="system"]').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="wall-tile"]').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'wall-1920x1080-by-system.png') });
    await stack.sim.restoreAll();
    await page.locator('[data-testid="wall-count-down"]', { hasText: /^\D*0\D*$/ }).waitFor({ timeout: 20_000 });
  });

  it('turns stale (banner, greyed grid) when the server stops, and live again when it is back', async () => {
    const banner = page.locator('[data-testid="stale-banner"]');
    expect(await banner.count()).toBe(0);
    await stack.pulse.stop();
    await banner.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await banner.innerText()).toMatch(/stale/i);
    expect(await page.locator('[data-testid="connection"]').innerText()).toMatch(/stale|offline/i);
    const grey = await page.locator('.grid-wrap').evaluate((el) => getComputedStyle(el).filter);
    expect(grey).toContain('grayscale');
    await page.screenshot({ path: join(SHOTS, 'wall-1920x1080-stale.png') });

    // The same server comes back on the same port, over the same data.
    restarted = await startPulse({ ...stack.options, port: stack.pulse.port });
    await banner.waitFor({ state: 'detached', timeout: 40_000 });
    await page.locator('[data-testid="connection"][data-state="live"]').waitFor({ timeout: 5_000 });
    expect(await page.locator('.grid-wrap').evaluate((el) => getComputedStyle(el).filter)).toBe('none');
  });
});
