// Captures real SDP offers from headless Chromium into fixtures/sdp/.
//
//   node_modules/.bin/node scripts/capture-sdp-fixtures.ts          # everything
//   node_modules/.bin/node scripts/capture-sdp-fixtures.ts cases    # single-connection cases only
//   node_modules/.bin/node scripts/capture-sdp-fixtures.ts calls    # group-call offers only
//
// The group-call offers (CALL_CASES) come from a Chromium member of a real
// call on a focus started in this process: the other members are publishers
// on node-datachannel (bench/client.ts), and every section the member
// receives is one the server offered. Everything runs on loopback.
//
// The in-page code lives in PAGE_HTML as plain JavaScript (not TypeScript) so
// that this file type-checks without the DOM lib and runs under Node's type
// stripping with no build step.

import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BenchClient, type StreamKey } from '../bench/client.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startFoci, type Foci } from '../src/server.ts';
import { launchChromium } from '../test/helpers/chromium.ts';

const OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdp');
const CASE_TIMEOUT_MS = 15_000;

// Fixture file name -> name of the builder in the page's CASES table.
const CASES: Record<string, string> = {
  'datachannel-only.offer.sdp': 'datachannelOnly',
  'audio-video.offer.sdp': 'audioVideo',
  'audio-video-addtrack.offer.sdp': 'audioVideoAddTrack',
  'simulcast.offer.sdp': 'simulcast',
  'screenshare.offer.sdp': 'screenshare',
  'h264-only.offer.sdp': 'h264Only',
  'audio-only.offer.sdp': 'audioOnly',
  'vp9.offer.sdp': 'vp9',
  'datachannel-and-media.offer.sdp': 'datachannelAndMedia',
};

// Group-call offers: a member of a call of `members` (its own camera + mic
// sending, every other member's audio + video received, one data channel).
// `screenshare`: the re-offer that adds a screenshare to that connection.
const CALL_CASES: { file: string; members: number; screenshare: boolean }[] = [
  { file: 'call-6.offer.sdp', members: 6, screenshare: false },
  { file: 'call-25.offer.sdp', members: 25, screenshare: false },
  { file: 'call-25-screenshare.offer.sdp', members: 25, screenshare: true },
];
const CALL_TIMEOUT_MS = 60_000;

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>sdp capture</title></head><body>
<script>
const ICE_GATHERING_MAX_MS = 2000;

async function userMedia(video) {
  return navigator.mediaDevices.getUserMedia({ audio: true, video });
}

function sendOnly(pc, track) {
  return pc.addTransceiver(track, { direction: 'sendonly' });
}

// Keeps only codecs matching mimeType, plus rtx (retransmission needs it).
function preferCodec(transceiver, mimeType) {
  const { codecs } = RTCRtpSender.getCapabilities('video');
  const wanted = codecs.filter((c) => {
    const m = c.mimeType.toLowerCase();
    return m === mimeType.toLowerCase() || m === 'video/rtx';
  });
  if (!wanted.some((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase())) {
    throw new Error(mimeType + ' not supported by this browser');
  }
  transceiver.setCodecPreferences(wanted);
}

// Canvas fallback for screen capture; contentHint marks it as screen content.
function canvasScreenTrack() {
  const canvas = document.createElement('canvas');
  canvas.width = 1920;
  canvas.height = 1080;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  ctx.font = '48px sans-serif';
  ctx.fillText('screenshare', 100, 100);
  const track = canvas.captureStream(5).getVideoTracks()[0];
  track.contentHint = 'detail';
  return track;
}

const CASES = {
  async datachannelOnly(pc) {
    pc.createDataChannel('probe');
  },
  async audioVideo(pc, tracks) {
    const stream = await userMedia({ width: 640, height: 360 });
    for (const t of stream.getTracks()) { tracks.push(t); sendOnly(pc, t); }
  },
  async audioVideoAddTrack(pc, tracks) {
    const stream = await userMedia({ width: 640, height: 360 });
    for (const t of stream.getTracks()) { tracks.push(t); pc.addTrack(t, stream); }
  },
  async simulcast(pc, tracks) {
    const stream = await userMedia({ width: 1280, height: 720 });
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    tracks.push(audio, video);
    sendOnly(pc, audio);
    pc.addTransceiver(video, {
      direction: 'sendonly',
      sendEncodings: [
        { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
        { rid: 'f', maxBitrate: 1500000 },
      ],
    });
  },
  async screenshare(pc, tracks) {
    let video;
    let source;
    try {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      video = display.getVideoTracks()[0];
      // Chromium leaves contentHint empty for display tracks; set it like real apps do.
      if (!video.contentHint) video.contentHint = 'detail';
      source = 'getDisplayMedia: ' + video.label;
    } catch (err) {
      source = 'canvas fallback (' + err.name + ': ' + err.message + ')';
      video = canvasScreenTrack();
    }
    tracks.push(video);
    sendOnly(pc, video);
    return source;
  },
  async h264Only(pc, tracks) {
    const stream = await userMedia(true);
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    tracks.push(audio, video);
    sendOnly(pc, audio);
    preferCodec(sendOnly(pc, video), 'video/H264');
  },
  async audioOnly(pc, tracks) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const [audio] = stream.getAudioTracks();
    tracks.push(audio);
    sendOnly(pc, audio);
  },
  async vp9(pc, tracks) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const [video] = stream.getVideoTracks();
    tracks.push(video);
    preferCodec(sendOnly(pc, video), 'video/VP9');
  },
  async datachannelAndMedia(pc, tracks) {
    pc.createDataChannel('probe');
    const stream = await userMedia(true);
    for (const t of stream.getTracks()) { tracks.push(t); sendOnly(pc, t); }
  },
};

// Resolves true once gathering completes, false if it is still going after the cap.
function iceGatheringDone(pc) {
  return new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done(true);
    const timer = setTimeout(() => done(false), ICE_GATHERING_MAX_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); done(true); }
    });
  });
}

// Returns { sdp, note } for one case, always releasing the pc and devices.
window.captureOffer = async (caseName) => {
  const pc = new RTCPeerConnection();
  const tracks = [];
  try {
    const notes = [await CASES[caseName](pc, tracks)];
    await pc.setLocalDescription(await pc.createOffer());
    if (!(await iceGatheringDone(pc))) notes.push('ICE gathering incomplete after cap');
    const note = notes.filter(Boolean).join('; ');
    return { sdp: pc.localDescription.sdp, note: note || null };
  } finally {
    for (const t of tracks) t.stop();
    pc.close();
  }
};

window.captureCapabilities = () => ({
  userAgent: navigator.userAgent,
  sender: {
    audio: RTCRtpSender.getCapabilities('audio'),
    video: RTCRtpSender.getCapabilities('video'),
  },
  receiver: {
    audio: RTCRtpReceiver.getCapabilities('audio'),
    video: RTCRtpReceiver.getCapabilities('video'),
  },
});
</script>
</body></html>
`;

interface CaptureResult {
  sdp: string;
  note: string | null;
}

// getUserMedia/getDisplayMedia need a secure context; http://127.0.0.1 counts.
async function startPageServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE_HTML);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/` };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function captureCase(page: Page, caseName: string): Promise<CaptureResult> {
  const result = await withTimeout(
    page.evaluate(`window.captureOffer(${JSON.stringify(caseName)})`) as Promise<CaptureResult>,
    CASE_TIMEOUT_MS,
    caseName,
  );
  if (!result?.sdp?.startsWith('v=0')) throw new Error(`${caseName}: no SDP returned`);
  return result;
}

async function captureAll(context: BrowserContext, url: string): Promise<number> {
  const page = await context.newPage();
  page.on('console', (msg) => console.log(`[page] ${msg.text()}`));
  await page.goto(url);

  let failures = 0;
  for (const [file, caseName] of Object.entries(CASES)) {
    try {
      const { sdp, note } = await captureCase(page, caseName);
      await writeFile(join(OUT_DIR, file), sdp);
      console.log(`ok   ${file}${note ? ` (${note})` : ''}`);
    } catch (err) {
      failures++;
      console.error(`FAIL ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  try {
    const caps = await page.evaluate('window.captureCapabilities()');
    await writeFile(join(OUT_DIR, 'capabilities.json'), JSON.stringify(caps, null, 2) + '\n');
    console.log('ok   capabilities.json');
  } catch (err) {
    failures++;
    console.error(`FAIL capabilities.json: ${err instanceof Error ? err.message : String(err)}`);
  }
  return failures;
}

/**
 * In the page (the focus's demo page, which loads public/foci-client.js):
 * joins the call, publishes camera + mic, subscribes to `others` one after
 * another, and returns the offer the connection then makes. With
 * `screenshare`, publishes a screen as a second stream and returns the offer
 * that publish sent (so the focus has accepted it); otherwise the offer is
 * set as local description, read, and rolled back.
 */
async function captureCallOffer(page: Page, self: StreamKey, others: StreamKey[], screenshare: boolean): Promise<{ sdp: string; note: string }> {
  const run = page.evaluate(
    async ({ self, others, screenshare }) => {
      const w = window as any;
      const foci = await w.FociClient.connect(location.origin);
      try {
        const camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
        await foci.publish({ ...self, stream: camera });
        for (const other of others) await foci.subscribe(other);
        const pc: RTCPeerConnection = foci.pc;
        if (!screenshare) {
          await pc.setLocalDescription(await pc.createOffer());
          const sdp = pc.localDescription!.sdp;
          await pc.setLocalDescription({ type: 'rollback' });
          return { sdp, note: `${pc.getTransceivers().length} transceivers` };
        }
        const sent: string[] = [];
        const request = foci.request.bind(foci);
        foci.request = (message: any) => {
          if (message.event === 'publish') sent.push(message.sdp);
          return request(message);
        };
        const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        await foci.publish({ ...self, purpose: 'm.screenshare', stream: screen });
        const sdp = sent.at(-1)!;
        return { sdp, note: `accepted by the focus; ${pc.getTransceivers().length} transceivers; ${screen.getVideoTracks()[0]!.label}` };
      } finally {
        foci.close();
      }
    },
    { self, others, screenshare },
  ) as Promise<{ sdp: string; note: string }>;
  return withTimeout(run, CALL_TIMEOUT_MS, 'call capture');
}

/** A focus on loopback and ephemeral ports, with `count` publishers (audio + video, no media sent). */
async function startCall(count: number): Promise<{ foci: Foci; publishers: BenchClient[]; keys: StreamKey[] }> {
  const config = loadConfig({}, { listenHost: '127.0.0.1', mediaListenIp: '127.0.0.1', listenPort: 0, mediaPort: 0, workers: 1, logLevel: 'warn' });
  const foci = await startFoci(config, createLogger('silent'));
  const publishers: BenchClient[] = [];
  const keys: StreamKey[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const key = { callId: '!capture:example.org/call', deviceId: `MEMBER${String(i + 1).padStart(2, '0')}`, purpose: 'm.usermedia' };
      const client = await BenchClient.connect(foci.url, { bindAddress: '127.0.0.1' });
      publishers.push(client);
      await client.publish(key, { audio: true, video: true });
      keys.push(key);
    }
    return { foci, publishers, keys };
  } catch (error) {
    for (const p of publishers) p.close();
    await foci.close();
    throw error;
  }
}

async function captureCalls(browser: Browser): Promise<number> {
  const largest = Math.max(...CALL_CASES.map((c) => c.members));
  const { foci, publishers, keys } = await startCall(largest - 1);
  let failures = 0;
  try {
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    for (const { file, members, screenshare } of CALL_CASES) {
      const page = await context.newPage();
      try {
        await page.goto(`${foci.url}/demo`);
        await page.waitForFunction('window.FociClient !== undefined');
        const self = { callId: '!capture:example.org/call', deviceId: `CHROMIUM-${file}`, purpose: 'm.usermedia' };
        const { sdp, note } = await captureCallOffer(page, self, keys.slice(0, members - 1), screenshare);
        if (!sdp?.startsWith('v=0')) throw new Error('no SDP returned');
        await writeFile(join(OUT_DIR, file), sdp);
        console.log(`ok   ${file} (${Buffer.byteLength(sdp)} bytes, ${sdp.split('\r\nm=').length - 1} m-sections; ${note})`);
      } catch (err) {
        failures++;
        console.error(`FAIL ${file}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        await page.close().catch(() => {});
      }
    }
  } finally {
    for (const p of publishers) p.close();
    await foci.close();
  }
  return failures;
}

async function main(): Promise<number> {
  const which = process.argv[2] ?? 'all';
  if (!['all', 'cases', 'calls'].includes(which)) throw new Error(`unknown argument ${which}: use cases, calls or nothing`);
  await mkdir(OUT_DIR, { recursive: true });
  let server: Server | undefined;
  let browser: Browser | undefined;
  try {
    // launch() gives Chromium a fresh temporary --user-data-dir and removes it on close.
    browser = await launchChromium();
    console.log(`chromium ${browser.version()}`);
    let failures = 0;
    if (which !== 'calls') {
      const site = await startPageServer();
      server = site.server;
      const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
      failures += await captureAll(context, site.url);
    }
    if (which !== 'cases') failures += await captureCalls(browser);
    return failures;
  } finally {
    await browser?.close().catch(() => {});
    if (server) server.close();
  }
}

main().then(
  (failures) => {
    if (failures > 0) console.error(`${failures} capture(s) failed`);
    process.exitCode = failures > 0 ? 1 : 0;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
