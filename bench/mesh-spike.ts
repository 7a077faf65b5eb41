// Spike 2: a small mesh on one focus, to exercise what the one-publisher spike
// does not: every connection both publishes and receives (many BUNDLE
// sections), a second publish (screen share) made while the same client's
// subscriptions are being offered (so publish offers cross server offers and
// get `glare`), an unpublish that makes the server close sections, and a
// republish whose sections reuse the closed slots. Exits 0 if every
// subscriber got >95% of every stream and the closed sections stopped media.
//
//   node bench/mesh-spike.ts [participants=4]
import { cleanup } from 'node-datachannel';
import { startTestFoci } from '../test/helpers/browser.ts';
import { BenchClient, type Publication, type StreamKey, type Subscription } from './client.ts';
import { sendMedia, type StreamStats } from './media.ts';

const N = Number(process.argv[2] ?? 4);
const SEND_MS = 3_000;
const MIN_RATIO = 0.95;
const hardTimeout = setTimeout(() => {
  console.error('mesh-spike: hard timeout');
  process.exit(2);
}, 60_000);
hardTimeout.unref();

const focus = await startTestFoci({ listenHost: '127.0.0.1', mediaListenIp: '127.0.0.1' });
const clients: BenchClient[] = [];
let ok = true;
try {
  for (let i = 0; i < N; i++) clients.push(await BenchClient.connect(focus.url, { bindAddress: '127.0.0.1' }));
  const cam = (i: number): StreamKey => ({ callId: 'mesh', deviceId: `D${i}`, purpose: 'm.usermedia' });
  const screen = (i: number): StreamKey => ({ callId: 'mesh', deviceId: `D${i}`, purpose: 'm.screenshare' });

  const cams = await Promise.all(clients.map((c, i) => c.publish(cam(i), { audio: true, video: true })));
  // Each client subscribes to every other camera while it publishes its screen share.
  const subs: { who: number; from: number; sub: Subscription }[] = [];
  const screens: Publication[] = [];
  await Promise.all(
    clients.map(async (c, i) => {
      const others = clients.map((_, j) => j).filter((j) => j !== i);
      const [screenPub] = await Promise.all([
        c.publish(screen(i), { audio: false, video: true }),
        ...others.map(async (j) => subs.push({ who: i, from: j, sub: await c.subscribe(cam(j)) })),
      ]);
      screens[i] = screenPub;
    }),
  );
  // And to client 0's screen share, offered while the cameras already flow in.
  for (let i = 1; i < N; i++) subs.push({ who: i, from: -1, sub: await clients[i]!.subscribe(screen(0)) });
  const sections = clients.map((c) => (c.peerConnection.localDescription()?.sdp.match(/^m=/gm) ?? []).length);
  console.log(`m-sections per connection: ${sections.join(', ')}; glare retries: ${clients.map((c) => c.glareRetries).join(', ')}`);

  const sent = await Promise.all([...cams, screens[0]!].map((p) => sendMedia(p, { durationMs: SEND_MS })));
  await new Promise((r) => setTimeout(r, 300));
  const camSent = sent.slice(0, N);
  const screenSent = sent[N]!;
  let worst = 1;
  for (const { who, from, sub } of subs) {
    const expected = from >= 0 ? camSent[from]! : screenSent;
    for (const t of sub.tracks) {
      const want = (expected[t.kind] as StreamStats | undefined)?.packets ?? 0;
      const ratio = want ? t.packets / want : 0;
      worst = Math.min(worst, ratio);
      if (!(ratio > MIN_RATIO)) {
        ok = false;
        console.log(`client ${who} from ${from >= 0 ? `cam ${from}` : 'screen 0'} ${t.kind}: ${t.packets}/${want}`);
      }
    }
  }
  console.log(`${subs.length} subscriptions, worst delivery ${(worst * 100).toFixed(2)}%`);

  // Unpublish client 0's screen: subscribers get stream_ended and a negotiate offer closing the section.
  const screenTracks = subs.filter((s) => s.from === -1).flatMap((s) => s.sub.tracks);
  const ended = clients.slice(1).map((c) => new Promise<void>((resolve) => (c.onEvent = (m) => m.event === 'stream_ended' && resolve())));
  await clients[0]!.unpublish(screen(0));
  await Promise.all(ended);
  await new Promise((r) => setTimeout(r, 300));
  const before = screenTracks.map((t) => t.packets);
  await sendMedia(screens[0]!, { durationMs: 500 });
  await new Promise((r) => setTimeout(r, 200));
  const leaked = screenTracks.some((t, k) => t.packets !== before[k]);
  const closed = clients.slice(1).every((c) => / 0 UDP\/TLS\/RTP\/SAVPF/.test(c.peerConnection.remoteDescription()?.sdp ?? ''));
  console.log(`after unpublish: section closed in offers ${closed}, media still arriving ${leaked}`);
  if (leaked || !closed) ok = false;

  // Publish the screen again under the same key and resubscribe: the new sections reuse the
  // closed slots on the subscribers, and the old tracks must not come back with the publish.
  const again = await clients[0]!.publish(screen(0), { audio: false, video: true });
  const resubs = await Promise.all(clients.slice(1).map((c) => c.subscribe(screen(0))));
  const resent = await sendMedia(again, { durationMs: 1_000 });
  await new Promise((r) => setTimeout(r, 200));
  const counts = resubs.map((r) => r.tracks.map((t) => t.packets));
  const tracksOk = resubs.every((r) => r.tracks.length === 1);
  const flowOk = counts.every((c) => c[0]! > MIN_RATIO * resent.video!.packets);
  const lines = clients.map((c) => (c.peerConnection.localDescription()?.sdp.match(/^m=/gm) ?? []).length);
  console.log(`republished: ${resubs[0]!.tracks.length} track(s), got ${counts.map((c) => c.join('+')).join(', ')} of ${resent.video!.packets}; m-sections ${lines.join(', ')}`);
  if (!tracksOk || !flowOk) ok = false;
} catch (error) {
  ok = false;
  console.error('mesh-spike failed:', error);
} finally {
  for (const c of clients) c.close();
  await focus.close();
  cleanup();
}
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
