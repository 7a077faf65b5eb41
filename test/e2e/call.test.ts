import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import { expectFlowing, launchChromium, openClient, publish, startTestFoci, subscribe } from '../helpers/browser.ts';

let foci: Foci;
let browser: Browser;

beforeAll(async () => {
  [foci, browser] = await Promise.all([startTestFoci(), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await foci?.close();
});

describe('a call through the SFU', () => {
  it('forwards camera and microphone from one tab to another', async () => {
    const alice = await openClient(browser, foci.url);
    const bob = await openClient(browser, foci.url);
    const key = { callId: 'c1', deviceId: 'alice', purpose: 'm.usermedia' };
    await publish(alice, key);
    const { kinds } = await subscribe(bob, key);
    expect(kinds.sort()).toEqual(['audio', 'video']);
    const stats = await expectFlowing(bob, key);
    expect(stats.framesDecoded).toBeGreaterThan(10);
    expect(stats.audioEnergy).toBeGreaterThan(0);
  });
});
