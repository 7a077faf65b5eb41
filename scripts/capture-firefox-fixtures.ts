// Captures real SDP from headless Firefox ESR talking to a real focus into
// fixtures/sdp/firefox-*.sdp: its answer to the priming offer, and the
// publish offers it makes afterwards on that primed connection (the case a
// fresh RTCPeerConnection cannot show).
//
//   node_modules/.bin/node scripts/capture-firefox-fixtures.ts
//
// Every message the page sends on its data channels is recorded in the page;
// offers are taken from there, so even a publish the server refuses is captured.
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, launchFirefox, openClient, publish, startTestFoci, subscribe, type Page } from '../test/helpers/browser.ts';


const OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdp');

/** Records what the page sends on data channels, from before the client connects. */
const RECORD_SENT = () => {
  const w = window as any;
  w.sentMessages = [];
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: any) {
    if (typeof data === 'string') w.sentMessages.push(data);
    return send.call(this, data);
  };
};

async function sent(page: Page): Promise<{ event: string; id: string; sdp?: string; reason?: string }[]> {
  const texts = await page.evaluate(() => (window as any).sentMessages as string[]);
  return texts.map((t) => JSON.parse(t));
}

async function main(): Promise<void> {
  const foci = await startTestFoci();
  const [firefox, chromium] = await Promise.all([launchFirefox(), launchChromium()]);
  try {
    const files: Record<string, string> = {};
    const ffVersion = await firefox.version();
    console.log(`firefox ${ffVersion}`);

    // 1. Firefox connects (primed), then publishes camera + mic.
    const fox = await firefox.newPage();
    await fox.goto(`${foci.url}/demo`);
    await fox.waitForFunction(() => (window as any).FociClient !== undefined);
    await fox.evaluate(RECORD_SENT);
    // What openClient() does after loading the page (which would drop the recorder).
    await fox.evaluate(async () => {
      const w = window as any;
      w.foci = await w.FociClient.connect(location.origin, {});
      w.subs = {};
    });
    const key = { callId: 'capture', deviceId: 'fox', purpose: 'm.usermedia' };
    await publish(fox, key).catch((e) => console.log(`publish failed (recorded anyway): ${(e as Error).message.split('\n')[0]}`));
    // 2. Chromium publishes; Firefox subscribes to it, then publishes a second, video-only feed.
    const chrome = await openClient(chromium, foci.url);
    const chromeKey = { callId: 'capture', deviceId: 'chrome', purpose: 'm.usermedia' };
    await publish(chrome, chromeKey);
    await subscribe(fox, chromeKey).catch((e) => console.log(`subscribe failed: ${(e as Error).message.split('\n')[0]}`));
    await publish(fox, { ...key, purpose: 'm.screenshare' }, 'video').catch((e) =>
      console.log(`second publish failed (recorded anyway): ${(e as Error).message.split('\n')[0]}`),
    );

    const messages = await sent(fox);
    const prime = messages.find((m) => m.event === 'negotiate' && String(m.id).startsWith('prime-') && m.sdp);
    const publishes = messages.filter((m) => m.event === 'publish' && m.sdp);
    const subscribeAnswer = messages.find((m) => m.event === 'subscribe' && m.sdp);
    if (prime?.sdp) files['firefox-prime.answer.sdp'] = prime.sdp;
    if (publishes[0]?.sdp) files['firefox-publish-after-prime.offer.sdp'] = publishes[0].sdp;
    if (subscribeAnswer?.sdp) files['firefox-subscribe.answer.sdp'] = subscribeAnswer.sdp;
    const last = publishes.at(-1);
    if (publishes.length > 1 && last?.sdp) files['firefox-publish-with-subscription.offer.sdp'] = last.sdp;
    for (const [file, sdp] of Object.entries(files)) {
      await writeFile(join(OUT_DIR, file), sdp);
      console.log(`ok   ${file}`);
    }
  } finally {
    await Promise.allSettled([firefox.close(), chromium.close()]);
    await foci.close();
  }
}

await main();
