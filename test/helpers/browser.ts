// Real headless browsers (Debian's Chromium through playwright-core, Firefox
// ESR through puppeteer-core) with fake camera/mic, driving the project's own
// browser client (public/foci-client.js) against a real focus. The page
// helpers take either library's page through the small interface below.
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startFoci, type Foci } from '../../src/server.ts';

export { launchChromium } from './chromium.ts';
export { launchFirefox } from './firefox.ts';

/**
 * What the helpers need of a page; both a playwright and a puppeteer `Page`
 * fit. Functions passed to `evaluate` run in the page, so they take one
 * serialisable argument and use no closure.
 */
export interface Page {
  goto(url: string): Promise<unknown>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  waitForFunction(fn: () => unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** A browser that opens pages of type P (playwright's or puppeteer's). */
export interface Browser<P extends Page = Page> {
  newPage(): Promise<P>;
}

/** A focus on ephemeral ports, quiet unless FOCI_TEST_LOG is set. */
export async function startTestFoci(overrides: Partial<Config> = {}): Promise<Foci> {
  const config = loadConfig({}, { listenPort: 0, mediaPort: 0, workers: 2, logLevel: 'warn', ...overrides });
  return startFoci(config, createLogger(process.env.FOCI_TEST_LOG ?? 'silent'));
}

export interface Key {
  callId: string;
  deviceId: string;
  purpose: string;
}

/** A page with the client loaded and connected (window.foci). */
export async function openClient<P extends Page>(browser: Browser<P>, url: string, options: { openSignaling?: boolean } = {}): Promise<P> {
  const page = await browser.newPage();
  (page as unknown as { on(event: 'pageerror', listener: (e: Error) => void): void }).on('pageerror', (e) => console.error('[page error]', e.message));
  await page.goto(`${url}/demo`);
  // The demo page exposes window.FociClient (an import() here would be rewritten by Vite).
  await page.waitForFunction(() => (window as any).FociClient !== undefined);
  await page.evaluate(async (opts) => {
    const w = window as any;
    const FociClient = w.FociClient;
    w.foci = await FociClient.connect(location.origin, opts);
    w.subs = {};
    w.ended = [];
    w.foci.addEventListener('streamended', (e: CustomEvent) => w.ended.push(e.detail));
  }, options);
  return page;
}

export type Feed = 'camera' | 'screen' | 'audio' | 'video';

/** Publishes fake camera/mic (or a screen) under `key`. */
export async function publish(
  page: Page,
  key: Key,
  feed: Feed = 'camera',
  options: { simulcast?: boolean; codec?: string } = {},
  size: { width: number; height: number } = { width: 640, height: 360 },
): Promise<void> {
  await page.evaluate(
    async ({ key, feed, options, size }) => {
      const w = window as any;
      const stream =
        feed === 'screen'
          ? await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })
          : await navigator.mediaDevices.getUserMedia({
              audio: feed !== 'video',
              video: feed === 'audio' ? false : size,
            });
      const { transceivers } = await w.foci.publish({ ...key, stream, ...options });
      w.published ??= {};
      w.published[JSON.stringify(key)] = { stream, transceivers };
    },
    { key, feed, options, size },
  );
}

/** Subscribes and plays the stream (audio energy needs an element playing it). */
export async function subscribe(page: Page, key: Key): Promise<{ kinds: string[] }> {
  return page.evaluate(async (key) => {
    const w = window as any;
    const { stream, tracks } = await w.foci.subscribe(key);
    const element = document.createElement(stream.getVideoTracks().length ? 'video' : 'audio') as HTMLMediaElement;
    element.autoplay = true;
    element.srcObject = stream;
    document.body.append(element);
    w.subs[JSON.stringify(key)] = { stream, tracks, ended: [] as string[] };
    for (const t of tracks) t.addEventListener('ended', () => w.subs[JSON.stringify(key)].ended.push(t.kind));
    return { kinds: tracks.map((t: MediaStreamTrack) => t.kind) };
  }, key);
}

export interface ReceiveStats {
  framesDecoded: number;
  audioEnergy: number;
  frameWidth: number;
  videoCodec: string | undefined;
}

/** What the page receives for a subscribed stream, from getStats of its receivers. */
export async function receiveStats(page: Page, key: Key): Promise<ReceiveStats> {
  return page.evaluate(async (key) => {
    const w = window as any;
    const sub = w.subs[JSON.stringify(key)];
    const out = { framesDecoded: 0, audioEnergy: 0, frameWidth: 0, videoCodec: undefined as string | undefined };
    const transceivers = w.foci.pc.getTransceivers().filter((t: RTCRtpTransceiver) => sub.tracks.includes(t.receiver.track));
    for (const t of transceivers) {
      const report: RTCStatsReport = await t.receiver.getStats();
      report.forEach((s: any) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') {
          out.framesDecoded += s.framesDecoded ?? 0;
          out.frameWidth = Math.max(out.frameWidth, s.frameWidth ?? 0);
          const codec = s.codecId ? report.get(s.codecId) : undefined;
          out.videoCodec = codec?.mimeType;
        } else {
          out.audioEnergy += s.totalAudioEnergy ?? 0;
        }
      });
    }
    return out;
  }, key);
}

/** What the page's whole connection receives, over every receiver, plus its DTLS/SRTP state. */
export async function connectionStats(page: Page): Promise<{ framesDecoded: number; audioEnergy: number; dtlsState?: string; srtpCipher?: string }> {
  return page.evaluate(async () => {
    const report: RTCStatsReport = await (window as any).foci.pc.getStats();
    const out = { framesDecoded: 0, audioEnergy: 0, dtlsState: undefined as string | undefined, srtpCipher: undefined as string | undefined };
    report.forEach((s: any) => {
      if (s.type === 'inbound-rtp') {
        out.framesDecoded += s.framesDecoded ?? 0;
        out.audioEnergy += s.totalAudioEnergy ?? 0;
      } else if (s.type === 'transport') {
        out.dtlsState = s.dtlsState;
        out.srtpCipher = s.srtpCipher;
      }
    });
    return out;
  });
}

/** Polls until `check` passes or the time is up; returns the last value. */
export async function waitFor<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    value = await read();
  }
  return value;
}

/** Media flows: video frames decoded grow and audio has energy. */
export async function expectFlowing(page: Page, key: Key, expect: { video?: boolean; audio?: boolean } = { video: true, audio: true }): Promise<ReceiveStats> {
  const first = await waitFor(
    () => receiveStats(page, key),
    (s) => (!expect.video || s.framesDecoded > 10) && (!expect.audio || s.audioEnergy > 0),
  );
  const later = await waitFor(
    () => receiveStats(page, key),
    (s) => (!expect.video || s.framesDecoded > first.framesDecoded + 10) && (!expect.audio || s.audioEnergy > first.audioEnergy),
    10_000,
  );
  if (expect.video && !(later.framesDecoded > first.framesDecoded)) throw new Error(`video frames stopped: ${JSON.stringify(later)}`);
  if (expect.audio && !(later.audioEnergy > 0)) throw new Error(`no audio energy: ${JSON.stringify(later)}`);
  return later;
}
