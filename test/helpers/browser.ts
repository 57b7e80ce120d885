// Launches Debian's Chromium through playwright-core with the flags this network needs
// (no background connections to Google's hosts). `launch()` makes a fresh profile each time.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.PULSE_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
