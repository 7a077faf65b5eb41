// A call of 25 members on one focus: one real Chromium member and 24 light
// members (node-datachannel, test/helpers/light-member.ts) that publish a real
// VP8 clip (160x90, 5 fps) and Opus silence. Every member subscribes to every
// other member on its one connection: 600 forwarded tracks.
//
// It prints what such a call costs: SDP sizes and negotiation times, measured.
// (`performance` is the global one: page.evaluate bodies run in the page.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import type { StreamKey } from '../../bench/client.ts';
import { launchChromium, startTestFoci, waitFor } from '../helpers/browser.ts';
import { LightMember } from '../helpers/light-member.ts';
import { pool } from '../../bench/scenarios.ts';

const LIGHT = 24;
const CALL = '!call25:example.org/c1';
const keyOf = (deviceId: string, purpose = 'm.usermedia'): StreamKey => ({ callId: CALL, deviceId, purpose });
const CHROMIUM_KEY = keyOf('CHROMIUM');
const SCREEN_KEY = keyOf('CHROMIUM', 'm.screenshare');

let foci: Foci;
let browser: Browser;
let page: Page;
const members: LightMember[] = [];
const report: string[] = [];
const note = (line: string) => {
  report.push(line);
  console.log(`[call-25] ${line}`);
};

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `min ${sorted[0]!.toFixed(0)}, median ${at(0.5).toFixed(0)}, p90 ${at(0.9).toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)} ms`;
};
const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;

interface Sent {
  event: string;
  purpose?: string;
  sdpBytes: number;
  messageBytes: number;
}

/**
 * Opens the demo page and takes the camera and microphone (a lobby: the
 * member is not in the call yet). join() then connects and publishes,
 * recording the offers the client sends and the server offers it receives.
 */
async function openLobby(): Promise<Page> {
  const p = await browser.newPage();
  p.on('pageerror', (e) => console.error('[page error]', e.message));
  await p.goto(`${foci.url}/demo`);
  await p.waitForFunction(() => (window as any).FociClient !== undefined);
  await p.evaluate(async () => {
    const w = window as any;
    w.camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 180, frameRate: 10 } });
    w.subs = {};
    w.sent = [];
    w.received = [];
    w.ended = [];
  });
  return p;
}

/** In the page: connects, records signaling sizes, publishes the camera; returns the times. */
function join(p: Page, key: StreamKey): Promise<{ connectMs: number; publishMs: number }> {
  return p.evaluate(async (key) => {
    const w = window as any;
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    let t = performance.now();
    w.foci = await w.FociClient.connect(location.origin);
    const connectMs = performance.now() - t;
    const request = w.foci.request.bind(w.foci);
    w.foci.request = (message: any) => {
      if (typeof message.sdp === 'string') {
        w.sent.push({ event: message.event, purpose: message.purpose, sdpBytes: bytes(message.sdp), messageBytes: bytes(JSON.stringify(message)) + 16 });
        if (message.event === 'publish') w.lastOffer = message.sdp;
      }
      return request(message);
    };
    w.foci.addEventListener('message', (e: CustomEvent) => {
      const m = e.detail;
      if (typeof m.sdp === 'string') w.received.push({ event: m.event, id: m.id, reason: m.reason, sdpBytes: bytes(m.sdp), sections: m.sdp.split('\r\nm=').length - 1 });
      if (m.event === 'stream_ended' || m.event === 'session_ended') w.ended.push(m);
    });
    t = performance.now();
    const { transceivers } = await w.foci.publish({ ...key, stream: w.camera });
    const publishMs = performance.now() - t;
    // Keep the load light: 24 light members receive this camera.
    for (const tr of transceivers as RTCRtpTransceiver[]) {
      if (tr.sender.track?.kind !== 'video') continue;
      const params = tr.sender.getParameters();
      for (const e of params.encodings) e.maxBitrate = 150_000;
      await tr.sender.setParameters(params);
    }
    return { connectMs, publishMs };
  }, key);
}

/** Frames decoded on each subscribed video, by device id. */
function framesDecoded(p: Page): Promise<Record<string, number>> {
  return p.evaluate(async () => {
    const w = window as any;
    const out: Record<string, number> = {};
    const transceivers: RTCRtpTransceiver[] = w.foci.pc.getTransceivers();
    for (const [device, sub] of Object.entries<any>(w.subs)) {
      const t = transceivers.find((x) => x.receiver.track.kind === 'video' && sub.tracks.includes(x.receiver.track));
      out[device] = 0;
      if (!t) continue;
      const stats: RTCStatsReport = await t.receiver.getStats();
      stats.forEach((s: any) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') out[device] = s.framesDecoded ?? 0;
      });
    }
    return out;
  });
}

/** Fails if any member left the call (a stream ended, a session closed): the figures would be of a smaller call. */
async function expectEveryoneStillThere(): Promise<void> {
  const gone = members.filter((m) => m.client.closedReason !== undefined).map((m) => `${m.key.deviceId}: ${m.client.closedReason}`);
  const ended = page ? await page.evaluate(() => (window as any).ended as unknown[]) : [];
  expect({ lightMembersClosed: gone, chromiumSaw: ended }).toEqual({ lightMembersClosed: [], chromiumSaw: [] });
}

beforeAll(async () => {
  [foci, browser] = await Promise.all([startTestFoci(), launchChromium()]);
});

afterAll(async () => {
  await page?.close().catch(() => undefined);
  const sent = await Promise.all(members.map((m) => m.leave().catch(() => [])));
  const frames = sent.flat().reduce((n, s) => n + s.frames, 0);
  if (members.length) console.log(`[call-25] light members sent ${frames} frames in all`);
  await browser?.close();
  await foci?.close();
  if (report.length) console.log(`[call-25] summary\n  ${report.join('\n  ')}`);
});

describe('a call of 25 members (1 Chromium + 24 light members)', () => {
  it('light members join, publish and subscribe to one another', { timeout: 180_000 }, async () => {
    let started = performance.now();
    const joined = await pool(Array.from({ length: LIGHT }, (_, i) => i), 6, async (i) => {
      const m = await LightMember.join(foci.url, keyOf(`LIGHT${String(i).padStart(2, '0')}`));
      members.push(m);
      await m.publish();
      return m;
    });
    expect(joined).toHaveLength(LIGHT);
    note(`${LIGHT} light members connected and published in ${(performance.now() - started).toFixed(0)} ms`);

    started = performance.now();
    const times: number[] = [];
    await Promise.all(
      members.map(async (m) => {
        for (const other of members) {
          if (other === m) continue;
          const t = performance.now();
          await m.subscribe(other.key);
          times.push(performance.now() - t);
        }
      }),
    );
    expect(times).toHaveLength(LIGHT * (LIGHT - 1));
    note(`light mesh: ${times.length} subscriptions in ${(performance.now() - started).toFixed(0)} ms (each, all running at once: ${summary(times)})`);

    // Media flows between light members: a sample of subscriptions grows.
    const sample = members.slice(0, 3).map((m, i) => [m, members[(i + 7) % LIGHT]!.key] as const);
    const first = sample.map(([m, k]) => m.packets(k, 'video'));
    await waitFor(async () => sample.map(([m, k]) => m.packets(k, 'video')), (now) => now.every((n, i) => n > first[i]! + 5), 10_000);
    for (const [i, [m, k]] of sample.entries()) expect(m.packets(k, 'video')).toBeGreaterThan(first[i]! + 5);
    await expectEveryoneStillThere();
  });

  it('Chromium joins and decodes all 24 remote videos within 10 s', { timeout: 120_000 }, async () => {
    expect(members).toHaveLength(LIGHT);
    page = await openLobby();
    const joinStart = performance.now();
    const joined = await join(page, CHROMIUM_KEY);
    const subscribeTimes: number[] = [];
    const offerBytes: number[] = [];
    for (const m of members) {
      const r = await page.evaluate(async ({ key, device }) => {
        const w = window as any;
        const t = performance.now();
        const { stream, tracks } = await w.foci.subscribe(key);
        const ms = performance.now() - t;
        const video = document.createElement('video');
        video.autoplay = true;
        video.muted = true;
        video.width = 160;
        video.height = 90;
        video.srcObject = stream;
        document.body.append(video);
        w.subs[device] = { stream, tracks };
        return { ms, kinds: tracks.map((x: MediaStreamTrack) => x.kind).sort() };
      }, { key: m.key, device: m.key.deviceId });
      expect(r.kinds).toEqual(['audio', 'video']);
      subscribeTimes.push(r.ms);
    }
    const subscribedMs = performance.now() - joinStart;

    // What a user sees: a picture from every member.
    const firstRead = await waitFor(() => framesDecoded(page), (f) => Object.values(f).length === LIGHT && Object.values(f).every((n) => n > 0), 10_000);
    const allDecodingMs = performance.now() - joinStart;
    const secondRead = await waitFor(() => framesDecoded(page), (f) => Object.keys(firstRead).every((d) => f[d]! > firstRead[d]!), 5_000);

    const received: { event: string; sdpBytes: number; sections: number }[] = await page.evaluate(() => (window as any).received);
    const sent: Sent[] = await page.evaluate(() => (window as any).sent);
    const subscribeOffers = received.filter((r) => r.event === 'subscribe');
    for (const r of subscribeOffers) offerBytes.push(r.sdpBytes);
    note(`Chromium join: connect (createSession, signaling channel, priming) ${joined.connectMs.toFixed(0)} ms; publish camera+mic ${joined.publishMs.toFixed(0)} ms (offer ${kb(sent[0]?.sdpBytes ?? 0)})`);
    note(`Chromium subscribes to ${LIGHT} (one after another): ${summary(subscribeTimes)}; all subscribed ${subscribedMs.toFixed(0)} ms after joining`);
    note(`server subscribe offers to Chromium: first ${kb(offerBytes[0] ?? 0)} (${subscribeOffers[0]?.sections} sections), last ${kb(offerBytes.at(-1) ?? 0)} (${subscribeOffers.at(-1)?.sections} sections)`);
    note(`Chromium decodes all ${LIGHT} videos ${allDecodingMs.toFixed(0)} ms after joining`);

    const notDecoding = Object.entries(firstRead).filter(([, n]) => !(n > 0)).map(([d]) => d);
    expect(notDecoding, `no frames decoded from ${notDecoding.join(', ')}`).toEqual([]);
    expect(Object.keys(firstRead)).toHaveLength(LIGHT);
    expect(allDecodingMs).toBeLessThan(10_000);
    const stalled = Object.keys(firstRead).filter((d) => !(secondRead[d]! > firstRead[d]!));
    expect(stalled, `frames stopped growing from ${stalled.join(', ')}`).toEqual([]);
    await expectEveryoneStillThere();
  });

  it('every light member subscribes to Chromium and receives its camera', { timeout: 90_000 }, async () => {
    expect(page).toBeDefined();
    const started = performance.now();
    const times = await Promise.all(
      members.map(async (m) => {
        const t = performance.now();
        await m.subscribe(CHROMIUM_KEY);
        return performance.now() - t;
      }),
    );
    note(`${LIGHT} light members subscribe to Chromium at once: ${summary(times)}; all in ${(performance.now() - started).toFixed(0)} ms`);
    const received = await waitFor(async () => members.map((m) => m.packets(CHROMIUM_KEY, 'video')), (p) => p.every((n) => n > 10), 10_000);
    expect(received.filter((n) => !(n > 10))).toEqual([]);
    // The server re-offers Chromium nothing it has to answer for these: its sections are unchanged.
    const state = await page.evaluate(() => (window as any).foci.pc.connectionState);
    expect(state).toBe('connected');
    await expectEveryoneStillThere();
  });

  it('Chromium adds a screenshare: its ~150 KB re-offer is accepted and the screen reaches a light member', { timeout: 90_000 }, async () => {
    expect(page).toBeDefined();
    const outcome = await page.evaluate(async (key) => {
      const w = window as any;
      const screen = await navigator.mediaDevices.getDisplayMedia({ video: { width: 320, height: 180, frameRate: 5 }, audio: false });
      const t = performance.now();
      try {
        await w.foci.publish({ ...key, stream: screen });
        return { ms: performance.now() - t, error: null, sections: w.foci.pc.getTransceivers().length };
      } catch (e: any) {
        return { ms: performance.now() - t, error: `${e.code}: ${e.message}`, sections: 0 };
      }
    }, SCREEN_KEY);
    const sent: Sent[] = await page.evaluate(() => (window as any).sent);
    const reOffer = sent.filter((s) => s.event === 'publish' && s.purpose === 'm.screenshare').at(-1);
    note(`Chromium screenshare re-offer: ${kb(reOffer?.sdpBytes ?? 0)} SDP, ${kb(reOffer?.messageBytes ?? 0)} as a signaling message, ${outcome.sections} transceivers; publish took ${outcome.ms.toFixed(0)} ms${outcome.error ? `; FAILED ${outcome.error}` : ''}`);
    expect(outcome.error).toBeNull();
    expect(reOffer!.sdpBytes).toBeGreaterThan(100_000);
    expect(reOffer!.sdpBytes).toBeLessThan(foci.config.maxSdpBytes);

    const viewer = members[0]!;
    const t = performance.now();
    await viewer.subscribe(SCREEN_KEY);
    note(`a light member subscribes to the screenshare in ${(performance.now() - t).toFixed(0)} ms`);
    const first = await waitFor(async () => viewer.packets(SCREEN_KEY, 'video'), (n) => n > 5, 10_000);
    expect(first).toBeGreaterThan(5);
    const later = await waitFor(async () => viewer.packets(SCREEN_KEY, 'video'), (n) => n > first + 5, 10_000);
    note(`screenshare packets at the light member: ${first}, then ${later}`);
    expect(later).toBeGreaterThan(first + 5);
    await expectEveryoneStillThere();
  });

  it('offers at the size limits: within the caps judged, past each cap its typed error, past the channel max-message-size the browser refuses to send', { timeout: 60_000 }, async () => {
    expect(page).toBeDefined();
    const before = await framesDecoded(page);
    const outcome = await page.evaluate(
      async ({ key, maxSdpBytes, maxMessageBytes }) => {
        const w = window as any;
        const pc: RTCPeerConnection = w.foci.pc;
        const enc = new TextEncoder();
        const bytes = (s: string) => enc.encode(s).length;
        const wire = (sdp: string) => ({ event: 'publish', call_id: key.callId, device_id: key.deviceId, purpose: key.purpose, sdp });
        const messageBytes = (sdp: string) => bytes(JSON.stringify({ ...wire(sdp), id: 'c999' }));
        // A larger call: the member's last offer plus copies of received sections (new mids), one at a time.
        const base = (w.lastOffer as string).replace(/\r\n$/, '');
        const received = base.split(/\r\n(?=m=)/).filter((m) => m.includes('\r\na=recvonly'));
        const grow = (fits: (sdp: string) => boolean) => {
          let sdp = base;
          for (let i = 0; ; i++) {
            const next = sdp + '\r\n' + received[i % received.length]!.replace(/\r\na=mid:\S+/, `\r\na=mid:x${i}`);
            if (!fits(next + '\r\n')) return { within: sdp + '\r\n', past: next + '\r\n' };
            sdp = next;
          }
        };
        const attempt = async (sdp: string) => {
          const size = { sdpBytes: bytes(sdp), messageBytes: messageBytes(sdp) };
          try {
            await w.foci.request(wire(sdp));
            return { ...size, error: null };
          } catch (e: any) {
            return { ...size, error: { name: String(e.name), code: (e.code as string | undefined) ?? null, message: String(e.message) } };
          }
        };
        // The largest such offer within the SDP cap. Its data channel section is
        // renamed, so the server refuses it however it judges the new sections.
        const bySdp = grow((sdp) => bytes(sdp) <= maxSdpBytes);
        const largest = await attempt(bySdp.within.replace('\r\na=mid:0\r\n', '\r\na=mid:renamed\r\n'));
        const pastSdpCap = await attempt(bySdp.past);
        const pastMessageCap = await attempt(grow((sdp) => messageBytes(sdp) <= maxMessageBytes).past);
        const pastChannel = await attempt(grow((sdp) => messageBytes(sdp) <= 262_144).past);
        return { largest, pastSdpCap, pastMessageCap, pastChannel, signalingState: pc.signalingState, connectionState: pc.connectionState };
      },
      { key: CHROMIUM_KEY, maxSdpBytes: foci.config.maxSdpBytes, maxMessageBytes: foci.config.maxMessageBytes },
    );
    const cases = { largest: outcome.largest, 'past the SDP cap': outcome.pastSdpCap, 'past the message cap': outcome.pastMessageCap, "past the channel's max-message-size": outcome.pastChannel };
    for (const [name, r] of Object.entries(cases)) note(`offer ${name}: ${r.sdpBytes} bytes SDP, ${r.messageBytes} bytes message -> ${JSON.stringify(r.error)}`);
    // Within the caps: read and judged by the server, answered on its id (not refused for size).
    expect(outcome.largest.sdpBytes).toBeLessThanOrEqual(foci.config.maxSdpBytes);
    expect(outcome.largest.error).toMatchObject({ code: 'invalid_sdp', message: expect.stringContaining('m-section 0 has mid renamed') });
    // Each cap is reachable from Chromium and answers with its typed error: the SDP
    // cap fits in a message (JSON adds ~7 % to Chromium's SDP), the message cap sits
    // below the data channel's max-message-size.
    expect(outcome.pastSdpCap.messageBytes).toBeLessThanOrEqual(foci.config.maxMessageBytes);
    expect(outcome.pastSdpCap.error).toMatchObject({ code: 'invalid_sdp', message: expect.stringContaining('larger than') });
    expect(outcome.pastMessageCap.messageBytes).toBeLessThanOrEqual(262_144);
    expect(outcome.pastMessageCap.error).toMatchObject({ code: 'too_large' });
    // Past 256 KiB Chromium's send() throws a TypeError and nothing reaches the server.
    expect(outcome.pastChannel.error).toMatchObject({ name: 'TypeError', code: null, message: expect.stringContaining('max-message-size') });
    // Nothing changed: the connection is up and every video still plays.
    expect(outcome.connectionState).toBe('connected');
    expect(outcome.signalingState).toBe('stable');
    const after = await waitFor(() => framesDecoded(page), (f) => Object.keys(before).every((d) => f[d]! > before[d]!), 5_000);
    expect(Object.keys(before).filter((d) => !(after[d]! > before[d]!))).toEqual([]);
    expect(foci.registry.get(SCREEN_KEY)?.tracks).toHaveLength(1);
    await expectEveryoneStillThere();
  });
});
