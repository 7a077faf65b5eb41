// The set-up most end-to-end files share: one focus and one headless Chromium
// for the file, started before its tests and closed after them, and pages
// opened through `client()` closed after each test.
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Config } from '../../src/config.ts';
import type { Foci } from '../../src/server.ts';
import { launchChromium, openClient, startTestFoci } from './browser.ts';

export interface CallFixture {
  readonly foci: Foci;
  readonly browser: Browser;
  /** A page with the client connected (see openClient), closed after the test. */
  client(options?: { openSignaling?: boolean }): Promise<Page>;
}

export function useCall(overrides: Partial<Config> = {}): CallFixture {
  let foci: Foci | undefined;
  let browser: Browser | undefined;
  let pages: Page[] = [];
  beforeAll(async () => {
    [foci, browser] = await Promise.all([startTestFoci(overrides), launchChromium()]);
  });
  afterEach(async () => {
    await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
    pages = [];
  });
  afterAll(async () => {
    await browser?.close();
    await foci?.close();
  });
  return {
    get foci() {
      return foci!;
    },
    get browser() {
      return browser!;
    },
    async client(options) {
      const page = await openClient(browser!, foci!.url, options);
      pages.push(page);
      return page;
    },
  };
}
