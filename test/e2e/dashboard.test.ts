// The dashboard in real Chromium against a real Pulse and simulator: a practice tile turns
// "Down" when its clinical system fails, and the page says plainly when its data is stale.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPulse } from '../../server/main';
import type { Simulator } from '../../server/simulator';
import { launchChromium } from '../helpers/browser';
import { startStack, type Stack } from '../helpers/stack';
import { hashPassword } from '../../server/auth/password';

const SHOTS = join(process.cwd(), 'test-results');

let sim: Simulator;
let pulse: RunningPulse;
let browser: Browser;
let page: Page;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ seed: 11 });
  ({ sim, pulse } = stack);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('dashboard in Chromium', () => {
  it('refuses a wrong password, then signs in through the form', async () => {
    await pulse.store.accounts.createUser({
      username: 'jsmith',
      displayName: 'Jane Smith',
      role: 'ops',
      icb: null,
      practices: [],
      passwordHash: await hashPassword('a long test password', { N: 2 ** 10 }),
      now: Date.now(),
    });
    await page.goto(pulse.url);
    const form = page.locator('form[data-testid="sign-in"]');
    await form.waitFor({ timeout: 10_000 });
    await form.locator('input[name="username"]').fill('jsmith');
    await form.locator('input[name="password"]').fill('not the password');
    await form.locator('button[type="submit"]').click();
    await page.locator('[data-testid="sign-in-error"]').waitFor({ timeout: 5_000 });
    expect(await page.locator('[data-testid="sign-in-error"]').innerText()).toMatch(/wrong username or password/i);
    await form.locator('input[name="password"]').fill('a long test password');
    await form.locator('button[type="submit"]').click();
    await page.locator('[data-testid="sign-out"]').waitFor({ timeout: 10_000 });
  });

  it('shows an EMIS practice turn Down, with its cause, when EMIS Web fails', async () => {
    const emis = sim.practices.find((p) => p.system === 'emis-web')!;
    const other = sim.practices.find((p) => p.system === 'systmone')!;
    const tile = page.locator(`[data-testid="practice-tile"][data-ods="${emis.ods}"]`);
    await tile.and(page.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="connection"]', { hasText: 'Live' }).waitFor({ timeout: 5_000 });

    sim.play('emis-web-outage', { durationMs: 60_000 });

    await tile.and(page.locator('[data-status="down"]')).waitFor({ timeout: 15_000 });
    const text = await tile.innerText();
    expect(text).toContain('Down');
    expect(text).toContain(emis.name);
    expect(text).toMatch(/EMIS Web/);
    const otherTile = page.locator(`[data-testid="practice-tile"][data-ods="${other.ods}"]`);
    expect(await otherTile.getAttribute('data-status')).toBe('up');

    const emisCount = sim.practices.filter((p) => p.system === 'emis-web').length;
    await page.locator('[data-testid="count-down"]', { hasText: String(emisCount) }).waitFor({ timeout: 5_000 });
    await page.screenshot({ path: join(SHOTS, 'e2e-emis-outage.png') });

    sim.restoreAll();
    await tile.and(page.locator('[data-status="up"]')).waitFor({ timeout: 15_000 });
  });

  it('says the data is stale when the server goes away', async () => {
    const banner = page.locator('[data-testid="stale-banner"]');
    expect(await banner.isVisible()).toBe(false);
    await pulse.stop();
    await banner.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await banner.innerText()).toMatch(/stale/i);
    await page.screenshot({ path: join(SHOTS, 'e2e-stale.png') });
  });
});
