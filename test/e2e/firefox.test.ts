// Firefox ESR and Chromium in one call: each publishes and subscribes on one
// connection, and a member receives from both browsers at once. What a user
// sees is asserted: decoded frames grow between two reads and audio has
// energy, on every remote stream.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Foci } from '../../src/server.ts';
import { expectFlowing, launchChromium, launchFirefox, openClient, publish, receiveStats, startTestFoci, subscribe, waitFor, type Browser, type Key, type Page } from '../helpers/browser.ts';

let foci: Foci;
let chromium: Browser & { close(): Promise<void> };
let firefox: Browser & { close(): Promise<void> };
let pages: Page[] = [];


beforeAll(async () => {
  // One at a time: both starting at once on 2 loaded cores is slow to no gain.
  foci = await startTestFoci();
  chromium = await launchChromium();
  firefox = await launchFirefox();
});
afterEach(async () => {
  await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
  pages = [];
});
afterAll(async () => {
  await chromium?.close();
  await firefox?.close();
  await foci?.close();
});

async function client(browser: Browser, options?: { openSignaling?: boolean }): Promise<Page> {
  const page = await openClient(browser, foci.url, options);
  pages.push(page);
  return page;
}

let n = 0;
const keyFor = (deviceId: string): Key => ({ callId: `ff-call-${++n}`, deviceId, purpose: 'm.usermedia' });

/** Tracks of a subscription that fired `ended`. */
const endedTracks = (page: Page, key: Key) => page.evaluate((k) => (window as any).subs[JSON.stringify(k)].ended as string[], key);

/** The SDP the page's connection last applied from the server. */
const remoteDescription = (page: Page) => page.evaluate(() => (window as any).foci.pc.remoteDescription?.sdp as string);

describe('Firefox ESR in a call with Chromium', () => {
  for (const openSignaling of [false, true]) {
    it(`publishes and subscribes on one connection (${openSignaling ? 'client' : 'server'}-opened signaling), both directions`, async () => {
      const fox = await client(firefox, { openSignaling });
      const chrome = await client(chromium);
      const foxKey = keyFor('fox');
      const chromeKey = keyFor('chrome');
      // Firefox publishes first, so its publish answer covers the primed sections.
      await publish(fox, foxKey);
      await publish(chrome, chromeKey);
      expect((await subscribe(chrome, foxKey)).kinds.sort()).toEqual(['audio', 'video']);
      expect((await subscribe(fox, chromeKey)).kinds.sort()).toEqual(['audio', 'video']);

      const atChrome = await expectFlowing(chrome, foxKey);
      expect(atChrome.framesDecoded).toBeGreaterThan(10);
      expect(atChrome.audioEnergy).toBeGreaterThan(0);
      const atFox = await expectFlowing(fox, chromeKey);
      expect(atFox.framesDecoded).toBeGreaterThan(10);
      expect(atFox.audioEnergy).toBeGreaterThan(0);
      // Firefox's own stream still reaches Chromium after Firefox subscribed (a renegotiation on its connection).
      const later = await expectFlowing(chrome, foxKey);
      expect(later.framesDecoded).toBeGreaterThan(atChrome.framesDecoded);
    });
  }

  it('lets a Chromium member receive a Firefox and a Chromium publisher at once', async () => {
    const [fox, chromePublisher, viewer] = [await client(firefox), await client(chromium), await client(chromium)];
    const foxKey = keyFor('fox');
    const chromeKey = keyFor('chrome');
    await publish(fox, foxKey);
    await publish(chromePublisher, chromeKey);
    // The viewer publishes too: its connection carries its own Opus section as well.
    await publish(viewer, keyFor('viewer'));
    await subscribe(viewer, foxKey);
    await subscribe(viewer, chromeKey);
    const fromFox = await expectFlowing(viewer, foxKey);
    const fromChrome = await expectFlowing(viewer, chromeKey);
    expect(fromFox.framesDecoded).toBeGreaterThan(10);
    expect(fromFox.audioEnergy).toBeGreaterThan(0);
    expect(fromChrome.framesDecoded).toBeGreaterThan(10);
    expect(fromChrome.audioEnergy).toBeGreaterThan(0);
    // Both directions keep flowing: the first stream did not stall when the second was added.
    const again = await expectFlowing(viewer, foxKey);
    expect(again.framesDecoded).toBeGreaterThan(fromFox.framesDecoded);
    // One payload type, one fmtp line, across the whole BUNDLE.
    const sdp = await remoteDescription(viewer);
    const fmtp = new Map<string, Set<string>>();
    for (const line of sdp.split('\r\n').filter((l) => l.startsWith('a=fmtp:'))) {
      const [pt, config] = [line.slice(7, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
      fmtp.set(pt, (fmtp.get(pt) ?? new Set()).add(config));
    }
    for (const [pt, configs] of fmtp) expect([pt, [...configs]]).toEqual([pt, [[...configs][0]]]);
  });

  it('lets a Firefox member receive a Firefox and a Chromium publisher at once', async () => {
    const [foxPublisher, chromePublisher, viewer] = [await client(firefox), await client(chromium), await client(firefox)];
    const foxKey = keyFor('fox');
    const chromeKey = keyFor('chrome');
    await publish(foxPublisher, foxKey);
    await publish(chromePublisher, chromeKey);
    await publish(viewer, keyFor('foxviewer'));
    await subscribe(viewer, chromeKey);
    await subscribe(viewer, foxKey);
    const fromChrome = await expectFlowing(viewer, chromeKey);
    const fromFox = await expectFlowing(viewer, foxKey);
    expect(fromChrome.framesDecoded).toBeGreaterThan(10);
    expect(fromChrome.audioEnergy).toBeGreaterThan(0);
    expect(fromFox.framesDecoded).toBeGreaterThan(10);
    expect(fromFox.audioEnergy).toBeGreaterThan(0);
    const again = await receiveStats(viewer, chromeKey);
    expect(again.framesDecoded).toBeGreaterThan(fromChrome.framesDecoded);
  });

  it('ends Firefox tracks on unsubscribe and unpublish, and lets Firefox publish again on the freed sections', async () => {
    const fox = await client(firefox);
    const chrome = await client(chromium);
    // A Firefox member that only receives (no camera of its own).
    const viewer = await client(firefox);
    const foxKey = keyFor('fox');
    const chromeKey = keyFor('chrome');
    await publish(fox, foxKey);
    await publish(chrome, chromeKey);
    await subscribe(chrome, foxKey);
    await subscribe(viewer, foxKey);
    await subscribe(viewer, chromeKey);
    await expectFlowing(viewer, foxKey);
    await expectFlowing(viewer, chromeKey);

    await viewer.evaluate((k) => (window as any).foci.unsubscribe(k), chromeKey);
    expect((await waitFor(() => endedTracks(viewer, chromeKey), (e) => e.length === 2, 10_000)).sort()).toEqual(['audio', 'video']);
    await fox.evaluate((k) => (window as any).foci.unpublish(k), foxKey);
    expect((await waitFor(() => endedTracks(chrome, foxKey), (e) => e.length === 2, 10_000)).sort()).toEqual(['audio', 'video']);
    expect((await waitFor(() => endedTracks(viewer, foxKey), (e) => e.length === 2, 10_000)).sort()).toEqual(['audio', 'video']);

    const screen = { ...foxKey, purpose: 'm.screenshare' };
    await publish(fox, screen, 'video');
    await subscribe(chrome, screen);
    const again = await expectFlowing(chrome, screen, { video: true });
    expect(again.framesDecoded).toBeGreaterThan(10);
  });
});
