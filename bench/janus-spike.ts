// Spike: does the Janus target work end to end? Starts a private janus
// (VideoRoom, loopback only), one publisher and three subscribers (or as many
// as given), sends 5 s of audio and video, and compares what each subscriber
// got with what was sent. The Janus twin of bench/spike.ts.
// Exits 0 only if every subscriber received more than 95% of the packets.
//
//   node bench/janus-spike.ts [subscribers=3] [cpus]
//   (FOCI_JANUS_DEBUG_LEVEL=4 FOCI_JANUS_LOG=/tmp/janus.log for janus's log)
import { performance } from 'node:perf_hooks';
import { cleanup } from 'node-datachannel';
import type { ReceivedPacket, StreamKey, Subscription } from './client.ts';
import { JanusTarget } from './janus.ts';
import { nowEpochMs, readProbe, sendMedia } from './media.ts';
import type { LoadClient } from './target.ts';

const SUBSCRIBERS = Number(process.argv[2] ?? 3);
const CPUS = process.argv[3];
const SEND_MS = 5_000;
const DRAIN_MS = 500;
const HARD_TIMEOUT_MS = 60_000;
const MIN_RATIO = 0.95;

const hardTimeout = setTimeout(() => {
  console.error(`janus-spike: hard timeout after ${HARD_TIMEOUT_MS / 1000} s`);
  process.exit(2); // the target's exit hook kills janus
}, HARD_TIMEOUT_MS);
hardTimeout.unref();

const janus = new JanusTarget();
const clients: LoadClient[] = [];
let ok = false;
try {
  const t0 = performance.now();
  await janus.start(CPUS ? { cpus: CPUS } : {});
  console.log(`janus ${janus.version} started in ${(performance.now() - t0).toFixed(0)} ms at ${janus.url} (pid ${janus.pids().join(',')})`);
  const connect = async () => {
    const client = await janus.connect();
    clients.push(client);
    return client;
  };
  const t1 = performance.now();
  const publisher = await connect();
  const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, connect));
  console.log(`connected ${1 + SUBSCRIBERS} clients in ${(performance.now() - t1).toFixed(0)} ms`);

  const key: StreamKey = { callId: '!bench:example.org/janus-spike', deviceId: 'PUBLISHER', purpose: 'm.usermedia' };
  const t2 = performance.now();
  const publication = await publisher.publish(key, { audio: true, video: true });
  console.log(`published in ${(performance.now() - t2).toFixed(0)} ms: audio ssrc ${publication.audio!.ssrc}, video ssrc ${publication.video!.ssrc}`);
  // Janus sends a PLI to the publisher as each subscriber comes up.
  let keyframeRequests = 0;
  publication.video!.onKeyframeRequest = () => keyframeRequests++;

  const latencies: number[][] = subscribers.map(() => []);
  const t3 = performance.now();
  const subscriptions: Subscription[] = await Promise.all(
    subscribers.map((s, i) =>
      s.subscribe(key, {
        onPacket: (p: ReceivedPacket) => {
          const sent = readProbe(p.packet);
          if (sent !== undefined) latencies[i]!.push(performance.timeOrigin + p.at - sent);
        },
      }),
    ),
  );
  const shapes = new Set(subscriptions.map((s) => s.tracks.map((t) => `${t.kind}@${t.mid}`).join('+')));
  console.log(`subscribed ${subscriptions.length} in ${(performance.now() - t3).toFixed(0)} ms: ${[...shapes].join(' | ')}`);

  const sendStart = nowEpochMs();
  const sent = await sendMedia(publication, { durationMs: SEND_MS });
  console.log(`sent in ${((nowEpochMs() - sendStart) / 1000).toFixed(2)} s: audio ${fmt(sent.audio)}, video ${fmt(sent.video)}; key frame requests from janus: ${keyframeRequests}`);
  await new Promise((r) => setTimeout(r, DRAIN_MS));

  let pass = true;
  subscriptions.forEach((sub, i) => {
    const parts = (['audio', 'video'] as const).map((kind) => {
      const expected = sent[kind]?.packets ?? 0;
      const got = sub.tracks.filter((t) => t.kind === kind).reduce((n, t) => n + t.packets, 0);
      const ratio = expected ? got / expected : 0;
      if (!(ratio > MIN_RATIO)) pass = false;
      return `${kind} ${got}/${expected} (loss ${((1 - ratio) * 100).toFixed(2)}%)`;
    });
    const lat = latencies[i]!.sort((a, b) => a - b);
    const pct = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(2) : 'n/a');
    console.log(`subscriber ${i + 1}: ${parts.join(', ')}; latency ms p50 ${pct(0.5)} p95 ${pct(0.95)} max ${pct(1)}`);
  });
  ok = pass;
} catch (error) {
  console.error('janus-spike failed:', error);
} finally {
  for (const c of clients) c.close();
  await janus.stop();
  cleanup();
}
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);

function fmt(s: { packets: number; bytes: number; failed: number; frames: number; keyframes: number } | undefined): string {
  if (!s) return 'none';
  const kbps = ((s.bytes * 8) / SEND_MS).toFixed(0);
  return `${s.packets} packets, ${kbps} kbit/s, ${s.frames} frames (${s.keyframes} key), ${s.failed} refused`;
}
