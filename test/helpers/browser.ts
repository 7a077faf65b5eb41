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

/**
 * A page with the client loaded and connected (window.foci). The page also
 * records what a user of the call would notice: `ended` (stream_ended
 * notices, with the time `at` they arrived), `closedEvents` (the client's
 * `closed` events), `sessionEnded` (session_ended messages) and `sizes` (the
 * largest SDP it offered in a publish, and the largest server offer it got).
 * Tracks that a server offer adds to a subscribed stream later (the publisher
 * swapped a camera) join that subscription and play.
 */
export async function openClient<P extends Page>(browser: Browser<P>, url: string, options: { openSignaling?: boolean } = {}): Promise<P> {
  const page = await browser.newPage();
  (page as unknown as { on(event: 'pageerror', listener: (e: Error) => void): void }).on('pageerror', (e) => console.error('[page error]', e.message));
  await page.goto(`${url}/demo`);
  // The demo page exposes window.FociClient (an import() here would be rewritten by Vite).
  await page.waitForFunction(() => (window as any).FociClient !== undefined);
  await page.evaluate(async (opts) => {
    const w = window as any;
    w.sizes = { clientOffer: 0, serverOffer: 0 };
    const send = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: any) {
      if (typeof data === 'string' && data.includes('"event":"publish"')) {
        const sdp = JSON.parse(data).sdp;
        if (typeof sdp === 'string') w.sizes.clientOffer = Math.max(w.sizes.clientOffer, sdp.length);
      }
      return send.call(this, data);
    } as any;
    const FociClient = w.FociClient;
    w.foci = await FociClient.connect(location.origin, opts);
    w.subs = {};
    w.pastSubs = [];
    w.ended = [];
    w.closedEvents = [];
    w.sessionEnded = [];
    w.foci.addEventListener('streamended', (e: CustomEvent) => w.ended.push({ ...e.detail, at: Date.now() }));
    w.foci.addEventListener('closed', (e: CustomEvent) => w.closedEvents.push({ ...e.detail, at: Date.now() }));
    w.foci.addEventListener('message', (e: CustomEvent) => {
      const m = e.detail;
      if (m.event === 'session_ended') w.sessionEnded.push({ ...m, at: Date.now() });
      if (typeof m.sdp === 'string' && (m.event === 'subscribe' || m.event === 'negotiate')) w.sizes.serverOffer = Math.max(w.sizes.serverOffer, m.sdp.length);
    });
    // Plays a received track and notes when it ends.
    w.adopt = (sub: any, track: MediaStreamTrack, play: boolean) => {
      if (!sub.tracks.includes(track)) sub.tracks.push(track);
      track.addEventListener('ended', () => {
        sub.ended.push(track.kind);
        sub.endedAt.push(Date.now());
      });
      if (!play) return;
      const element = document.createElement(track.kind === 'video' ? 'video' : 'audio') as HTMLMediaElement;
      element.autoplay = true;
      element.srcObject = new MediaStream([track]);
      document.body.append(element);
    };
    w.foci.pc.addEventListener('track', (e: RTCTrackEvent) => {
      const streamId = e.streams[0]?.id;
      for (const sub of Object.values(w.subs) as any[]) if (sub.streamId === streamId && !sub.tracks.includes(e.track)) w.adopt(sub, e.track, true);
    });
  }, options);
  return page;
}

export type Feed = 'camera' | 'screen' | 'audio' | 'video';

export interface PublishOptions {
  simulcast?: boolean;
  codec?: string;
  /** Camera size; 320×180 by default (640×360 with simulcast: below it Chromium sends one layer). */
  width?: number;
  height?: number;
}

/** Publishes fake camera/mic (or a screen) under `key`. */
export async function publish(page: Page, key: Key, feed: Feed = 'camera', options: PublishOptions = {}): Promise<void> {
  const { width = options.simulcast ? 640 : 320, height = options.simulcast ? 360 : 180, ...rest } = options;
  await page.evaluate(
    async ({ key, feed, options, width, height }) => {
      const w = window as any;
      const stream =
        feed === 'screen'
          ? await navigator.mediaDevices.getDisplayMedia({ video: { width, height }, audio: false })
          : await navigator.mediaDevices.getUserMedia({
              audio: feed !== 'video',
              video: feed === 'audio' ? false : { width, height },
            });
      const { transceivers } = await w.foci.publish({ ...key, stream, ...options });
      w.published ??= {};
      w.published[JSON.stringify(key)] = { stream, transceivers };
    },
    { key, feed, options: rest, width, height },
  );
}

/**
 * Swaps the camera of a published stream: stops the old video transceiver and
 * sends a new camera track in the same offer, under the same key (not
 * replaceTrack). Returns the ids of the old and new tracks.
 */
export async function swapCamera(page: Page, key: Key, size = { width: 320, height: 180 }): Promise<{ oldTrackId: string; newTrackId: string }> {
  return page.evaluate(
    async ({ key, size }) => {
      const w = window as any;
      const published = w.published[JSON.stringify(key)];
      const old = published.transceivers.find((t: RTCRtpTransceiver) => t.sender.track?.kind === 'video' && t.currentDirection !== 'stopped');
      if (!old) throw new Error('no video transceiver to swap');
      const oldTrack: MediaStreamTrack = old.sender.track;
      const stream = await navigator.mediaDevices.getUserMedia({ video: size });
      const { transceivers } = await w.foci.publish({ ...key, stream, stop: [old] });
      oldTrack.stop();
      published.transceivers = [...published.transceivers.filter((t: RTCRtpTransceiver) => t !== old), ...transceivers];
      return { oldTrackId: oldTrack.id, newTrackId: stream.getVideoTracks()[0]!.id };
    },
    { key, size },
  );
}

/** Subscribes and plays the stream (audio energy needs an element playing it). */
export async function subscribe(page: Page, key: Key): Promise<{ kinds: string[] }> {
  return page.evaluate(async (key) => {
    const w = window as any;
    const { stream, tracks, streamId } = await w.foci.subscribe(key);
    const element = document.createElement(stream.getVideoTracks().length ? 'video' : 'audio') as HTMLMediaElement;
    element.autoplay = true;
    element.srcObject = stream;
    document.body.append(element);
    const sub = { streamId, stream, tracks: [] as MediaStreamTrack[], ended: [] as string[], endedAt: [] as number[] };
    w.subs[JSON.stringify(key)] = sub;
    for (const t of tracks) w.adopt(sub, t, false);
    return { kinds: tracks.map((t: MediaStreamTrack) => t.kind) };
  }, key);
}

/** Unsubscribes; the subscription's tracks are no longer counted as the page's. */
export async function unsubscribe(page: Page, key: Key): Promise<void> {
  await page.evaluate(async (key) => {
    const w = window as any;
    await w.foci.unsubscribe(key);
    w.pastSubs.push(w.subs[JSON.stringify(key)]);
    delete w.subs[JSON.stringify(key)];
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

/** One live received track of a subscription, as the page's getStats sees it. */
export interface TrackReading {
  /** The subscription's key (JSON). */
  key: string;
  kind: string;
  id: string;
  mid: string | null;
  framesDecoded: number;
  audioEnergy: number;
}

/** Every live track of every subscription of the page. */
export async function liveTracks(page: Page): Promise<TrackReading[]> {
  return page.evaluate(async () => {
    const w = window as any;
    const out: any[] = [];
    const transceivers: RTCRtpTransceiver[] = w.foci.pc.getTransceivers();
    for (const [key, sub] of Object.entries(w.subs) as [string, any][]) {
      for (const track of sub.tracks as MediaStreamTrack[]) {
        if (track.readyState !== 'live') continue;
        const t = transceivers.find((x) => x.receiver.track === track);
        const reading = { key, kind: track.kind, id: track.id, mid: t?.mid ?? null, framesDecoded: 0, audioEnergy: 0 };
        if (t) {
          (await t.receiver.getStats()).forEach((s: any) => {
            if (s.type !== 'inbound-rtp') return;
            reading.framesDecoded += s.framesDecoded ?? 0;
            reading.audioEnergy += s.totalAudioEnergy ?? 0;
          });
        }
        out.push(reading);
      }
    }
    return out;
  });
}

/**
 * Every live received track of every member decodes: two reads, and in the
 * second each video track has decoded more frames (and each audio track has
 * more energy, unless `audio: false`) than in the first. Throws with the
 * tracks that did not grow. Returns the number of live tracks per member.
 * `except` leaves tracks out (those of a member that just vanished).
 */
export async function expectAllDecoding(
  members: Record<string, Page>,
  { audio = true, timeoutMs = 15_000, except }: { audio?: boolean; timeoutMs?: number; except?: (t: TrackReading) => boolean } = {},
): Promise<Record<string, number>> {
  const names = Object.keys(members);
  const read = async (page: Page) => (await liveTracks(page)).filter((t) => !except?.(t));
  const readAll = async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await read(members[n]!)] as const)));
  const first = await readAll();
  const stuck = (later: Record<string, TrackReading[]>) => {
    const problems: string[] = [];
    for (const n of names) {
      for (const before of first[n]!) {
        const after = later[n]!.find((t) => t.id === before.id);
        const what = `${n} ← ${before.key} ${before.kind} (mid ${before.mid})`;
        if (!after) problems.push(`${what}: ended`);
        else if (before.kind === 'video' && !(after.framesDecoded > before.framesDecoded)) problems.push(`${what}: frames ${before.framesDecoded} → ${after.framesDecoded}`);
        else if (before.kind === 'audio' && audio && !(after.audioEnergy > before.audioEnergy)) problems.push(`${what}: energy ${before.audioEnergy} → ${after.audioEnergy}`);
      }
    }
    return problems;
  };
  await new Promise((r) => setTimeout(r, 1000));
  const later = await waitFor(readAll, (l) => stuck(l).length === 0, timeoutMs);
  const problems = stuck(later);
  if (problems.length > 0) throw new Error(`not decoding after ${timeoutMs} ms:\n  ${problems.join('\n  ')}`);
  return Object.fromEntries(names.map((n) => [n, later[n]!.length]));
}

/** The largest SDP the page offered (publish) and the largest server offer it received, in bytes. */
export async function sdpSizes(page: Page): Promise<{ clientOffer: number; serverOffer: number }> {
  return page.evaluate(() => ({ ...(window as any).sizes }));
}
