// The demo page, driven as a person would: buttons and inputs only.
import { describe, expect, it } from 'vitest';
import { useCall } from '../helpers/call-fixture.ts';

const call = useCall();

describe('demo page', () => {
  it('shows a live call between two tabs', async () => {
    const [a, b] = await Promise.all([call.browser.newPage(), call.browser.newPage()]);
    for (const page of [a, b]) {
      await page.goto(`${call.foci.url}/`);
      await page.click('#connect');
      await page.waitForSelector('#state:text("connected")');
    }
    await a.click('#pub-camera');
    await a.waitForSelector('#log:has-text("published camera")');
    const device = await a.inputValue('#device');
    await b.fill('#remote-device', device);
    await b.click('#subscribe');
    await b.waitForSelector('#log:has-text("subscribed to")');
    // The remote video plays: it has a size and its clock moves.
    const playing = await b.waitForFunction(() => {
      const video = document.querySelector('#media video') as HTMLVideoElement | null;
      return video !== null && video.videoWidth > 0 && video.currentTime > 0.5;
    }, undefined, { timeout: 20_000 });
    expect(await playing.jsonValue()).toBe(true);
    if (process.env.FOCI_SCREENSHOT) await b.screenshot({ path: process.env.FOCI_SCREENSHOT });
  });
});
