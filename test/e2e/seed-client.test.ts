// The browser client that came with the original SFU-to-SFU code for MSC3401
// (matrix-org/waterfall's static/index.html, May 2022), unmodified in
// behaviour: fixtures/seed-client/index.html is written to act as it does. It
// opens `signaling` itself, never reads server offers, posts its offer as
// text/plain, and subscribes with its own offer.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import { launchChromium, startTestFoci, waitFor } from '../helpers/browser.ts';

const SEED_PAGE = readFileSync(new URL('../../fixtures/seed-client/index.html', import.meta.url), 'utf8');

interface SeedStats {
  framesDecoded: number;
  audioPackets: number;
  signalingState: string;
}

describe('the seed author\'s own browser client', () => {
  let foci: Foci;
  let browser: Browser;

  beforeAll(async () => {
    foci = await startTestFoci();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await foci?.close();
  });

  async function seedPage(): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('[seed page error]', e.message));
    // Served from the focus's origin (a secure context for getUserMedia); nothing is fetched.
    await page.route(`${foci.url}/seed`, (route) => route.fulfill({ body: SEED_PAGE, contentType: 'text/html' }));
    await page.goto(`${foci.url}/seed`);
    await page.evaluate((url) => (window as any).seedConnect(url), foci.url);
    return page;
  }

  const stats = (page: Page) => page.evaluate(() => (window as any).seedStats() as Promise<SeedStats>);
  const alerts = (page: Page) => page.evaluate(() => (window as any).alerts as string[]);

  async function expectReceiving(page: Page): Promise<void> {
    const first = await waitFor(() => stats(page), (s) => s.framesDecoded > 10 && s.audioPackets > 10);
    expect(first.framesDecoded, 'video frames decoded').toBeGreaterThan(10);
    const later = await waitFor(() => stats(page), (s) => s.framesDecoded > first.framesDecoded + 10 && s.audioPackets > first.audioPackets, 10_000);
    expect(later.framesDecoded).toBeGreaterThan(first.framesDecoded);
    expect(later.audioPackets).toBeGreaterThan(first.audioPackets);
  }

  it('publishes and subscribes in both directions on one connection, with no error shown', async () => {
    const [alice, bob] = await Promise.all([seedPage(), seedPage()]);
    const callId = 'seed-call';

    const tracksOf = async (deviceId: string) => foci.registry.get({ callId, deviceId, purpose: 'm.usermedia' })?.tracks.length ?? 0;
    const answered = (page: Page) => page.evaluate(() => (window as any).pc.remoteDescription?.sdp.includes('m=audio') ?? false);
    await alice.evaluate((c) => (window as any).seedPublish(c, 'ALICE', 'm.usermedia'), callId);
    expect(await waitFor(() => tracksOf('ALICE'), (n) => n === 2)).toBe(2);
    expect(await waitFor(() => answered(alice), (a) => a)).toBe(true);

    await bob.evaluate((c) => (window as any).seedSubscribe(c, 'ALICE', 'm.usermedia'), callId);
    await expectReceiving(bob);
    // The answer names the stream and tracks, so ontrack gets a stream to show.
    const received = await bob.evaluate(() => (window as any).received.map((r: any) => ({ kind: r.kind, streams: r.streams })));
    expect(received.map((r: { kind: string }) => r.kind).sort()).toEqual(['audio', 'video']);
    expect(received.every((r: { streams: number }) => r.streams === 1)).toBe(true);

    // The other way round: Bob publishes on the connection he receives on, Alice subscribes on hers.
    await bob.evaluate((c) => (window as any).seedPublish(c, 'BOB', 'm.usermedia'), callId);
    expect(await waitFor(() => tracksOf('BOB'), (n) => n === 2)).toBe(2);
    await waitFor(() => bob.evaluate(() => (window as any).pc.signalingState), (s) => s === 'stable');
    await alice.evaluate((c) => (window as any).seedSubscribe(c, 'BOB', 'm.usermedia'), callId);
    await expectReceiving(alice);
    await expectReceiving(bob);

    expect(await alerts(alice)).toEqual([]);
    expect(await alerts(bob)).toEqual([]);
  });

  it('shows the server\'s error the way the page reads errors ({event: "error", message})', async () => {
    const carol = await seedPage();
    await carol.evaluate(() => (window as any).seedPublish('seed-call', 'CAROL', 'm.usermedia'));
    await waitFor(() => carol.evaluate(() => (window as any).pc.remoteDescription?.sdp.includes('m=audio') ?? false), (a) => a);
    await carol.evaluate(() => (window as any).seedSubscribe('seed-call', 'NOBODY', 'm.usermedia'));
    const shown = await waitFor(() => alerts(carol), (a) => a.length > 0, 5000);
    expect(shown).toEqual([expect.stringContaining('no stream')]);
  });
});
