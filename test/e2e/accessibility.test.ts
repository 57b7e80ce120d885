// WCAG 2.2 AA in real Chromium with axe-core: the sign-in page, the signed-in dashboard during
// an outage, a wall display link and the patients' page have no violations. (axe is injected
// with CSP bypassed for the test only; the pages themselves run under the strict CSP.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/auth/password';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { launchChromium } from '../helpers/browser';
import { startStack, type Stack } from '../helpers/stack';

const AXE = readFileSync(join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');

let sim: Simulator;
let pulse: RunningPulse;
let browser: Browser;
let context: BrowserContext;
let stack: Stack;

async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (d: Document, o: unknown) => Promise<{ violations: { id: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] });
    return result.violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
}

beforeAll(async () => {
  stack = await startStack({ seed: 13 });
  ({ sim, pulse } = stack);
  await pulse.store.accounts.createUser({
    username: 'a11y',
    displayName: 'Access Tester',
    role: 'ops',
    icb: null,
    practices: [],
    passwordHash: await hashPassword('a long enough password', { N: 2 ** 10 }),
    now: Date.now(),
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
}, 40_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('accessibility (axe-core, WCAG 2.2 AA)', () => {
  it('has no violations on the sign-in page, with and without an error shown', async () => {
    const page = await context.newPage();
    await page.goto(pulse.url);
    await page.locator('form[data-testid="sign-in"]').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.locator('button[type="submit"]').click();
    await page.locator('[data-testid="sign-in-error"]').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  it('has no violations on the dashboard during an EMIS Web outage, nor on a wall display link', async () => {
    const page = await context.newPage();
    await page.goto(pulse.url);
    await page.fill('input[name="username"]', 'a11y');
    await page.fill('input[name="password"]', 'a long enough password');
    await page.click('button[type="submit"]');
    await page.locator('[data-testid="practice-tile"][data-status="up"]').first().waitFor({ timeout: 15_000 });
    await sim.play('emis-web-outage', { durationMs: 60_000 });
    await page.locator('[data-testid="incident"]').first().waitFor({ timeout: 15_000 });
    expect(await violations(page)).toEqual([]);
    await page.close();

    const { secret } = await pulse.store.accounts.createToken({ kind: 'display', name: 'wall', icb: null, createdBy: 'test', now: Date.now() });
    const wall = await context.newPage();
    await wall.goto(`${pulse.url}/?display=${secret}`);
    await wall.locator('[data-testid="practice-tile"]').first().waitFor({ timeout: 15_000 });
    expect(await violations(wall)).toEqual([]);
    await wall.close();
    await sim.restoreAll();
  });

  it('has no violations on the patients’ page', async () => {
    const page = await context.newPage();
    await page.goto(`${pulse.url}/status/${sim.practices[0]!.ods}`);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });
});
