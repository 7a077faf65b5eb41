// "p2p" as a pseudo-target: the latency baseline without an SFU. The same
// node-datachannel peers send the same probed media (bench/media.ts), but
// straight from the publisher's PeerConnection to each subscriber's
// (ICE, DTLS-SRTP over loopback, offer and answer handed over in this process).
// The latency scenario's delay through an SFU minus this one is the delay the
// SFU itself adds.
//
// A publisher reaches N subscribers over N connections of its own (a mesh):
// each packet is protected and sent N times in a row, as an SFU sends its N
// copies, so a later subscriber's copy waits behind the earlier ones here too.
import { randomInt } from 'node:crypto';
import { PeerConnection } from 'node-datachannel';
import type { Track } from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { BenchError, OPUS_PT, VP8_PT, addSendTrack, countOnTrack, retain, waitOpen, withTimeout, type Publication, type RecvTrack, type SendTrack, type StreamKey, type Subscription } from './client.ts';
import type { Row } from './scenarios.ts';
import type { LoadClient, SfuTarget } from './target.ts';

const keyOf = (key: StreamKey) => `${key.callId}|${key.deviceId}|${key.purpose}`;
const ONLY_LATENCY = 'no SFU: p2p is the direct baseline of the latency scenario only';

let peers = 0;
const newPeer = () => new PeerConnection(`p2p-${++peers}`, { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' });

/** Resolves once the connection has gathered its (loopback host) candidates, so its description carries them. */
function gathered(pc: PeerConnection): Promise<void> {
  if (pc.gatheringState() === 'complete') return Promise.resolve();
  let poll: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    pc.onGatheringStateChange((state) => state === 'complete' && resolve());
    poll = setInterval(() => pc.gatheringState() === 'complete' && resolve(), 10);
  });
  return withTimeout(done, 'ICE gathering did not complete').finally(() => clearInterval(poll));
}

/** A published stream: one SendTrack per kind whose packets go out on every subscriber's connection. */
class MeshPublication {
  readonly publication: Publication;
  readonly #legs: { pc: PeerConnection; tracks: Track[]; handles: Partial<Record<'audio' | 'video', SendTrack>> }[] = [];
  readonly #ssrcs: Partial<Record<'audio' | 'video', number>> = {};
  readonly #cname = `p2p-pub-${randomInt(1e9)}`;

  constructor(key: StreamKey, kinds: { audio: boolean; video: boolean }) {
    this.publication = { key };
    for (const kind of ['audio', 'video'] as const) {
      if (!kinds[kind]) continue;
      const ssrc = randomInt(1, 2 ** 32);
      this.#ssrcs[kind] = ssrc;
      const track: SendTrack = {
        kind,
        mid: kind,
        ssrc,
        // addSendTrack's payload types, the same on every leg.
        payloadType: kind === 'audio' ? OPUS_PT : VP8_PT,
        clockRate: kind === 'audio' ? 48000 : 90000,
        send: (packet) => {
          let sent = false;
          for (const leg of this.#legs) sent = (leg.handles[kind]?.send(packet) ?? false) || sent;
          return sent;
        },
        onKeyframeRequest: undefined,
      };
      this.publication[kind] = track;
    }
  }

  /** A new connection to one subscriber, with the publication's tracks (same SSRCs) on it; its offer once gathered. */
  async leg(): Promise<{ pc: PeerConnection; offer: string; tracks: Track[] }> {
    const pc = newPeer();
    const leg = { pc, tracks: [] as Track[], handles: {} as Partial<Record<'audio' | 'video', SendTrack>> };
    for (const kind of ['audio', 'video'] as const) {
      const ssrc = this.#ssrcs[kind];
      if (ssrc === undefined) continue;
      const { track, handle } = addSendTrack(pc, { kind, mid: kind, ssrc, cname: this.#cname, streamId: `${this.#cname}-stream` });
      handle.onKeyframeRequest = () => this.publication[kind]?.onKeyframeRequest?.();
      leg.handles[kind] = handle;
      leg.tracks.push(track);
    }
    pc.setLocalDescription('offer');
    await gathered(pc);
    this.#legs.push(leg);
    return { pc, offer: pc.localDescription()!.sdp, tracks: leg.tracks };
  }

  close(): void {
    for (const leg of this.#legs) closeAll(leg.pc, leg.tracks);
    this.#legs.length = 0;
  }
}

function closeAll(pc: PeerConnection, tracks: Track[]): void {
  for (const track of tracks) {
    try {
      track.close();
    } catch {
      // already closed with the connection
    }
  }
  pc.close();
}

export class P2pTarget implements SfuTarget {
  readonly name = 'p2p' as const;
  readonly unsupported = { fanout: ONLY_LATENCY, calls: ONLY_LATENCY, session: ONLY_LATENCY, memory: ONLY_LATENCY };
  readonly #streams = new Map<string, MeshPublication>();

  async start(): Promise<void> {}

  publish(key: StreamKey, kinds: { audio: boolean; video: boolean }): MeshPublication {
    const mesh = new MeshPublication(key, kinds);
    this.#streams.set(keyOf(key), mesh);
    return mesh;
  }

  stream(key: StreamKey): MeshPublication {
    const mesh = this.#streams.get(keyOf(key));
    if (!mesh) throw new BenchError('stream_not_found', `no stream ${keyOf(key)}`);
    return mesh;
  }

  async connect(): Promise<LoadClient> {
    return new P2pClient(this);
  }

  /** No SFU process: nothing to measure. */
  pids(): number[] {
    return [];
  }

  mediaPids(): number[] {
    return [];
  }

  async stop(): Promise<void> {
    for (const mesh of this.#streams.values()) mesh.close();
    this.#streams.clear();
  }
}

/** A load endpoint of the mesh: what it publishes goes out on one connection per subscriber; each subscription is a connection of its own. */
class P2pClient implements LoadClient {
  readonly #target: P2pTarget;
  readonly #published: MeshPublication[] = [];
  readonly #connections: { pc: PeerConnection; tracks: Track[] }[] = [];

  constructor(target: P2pTarget) {
    this.#target = target;
  }

  async publish(key: StreamKey, kinds: { audio: boolean; video: boolean }): Promise<Publication> {
    const mesh = this.#target.publish(key, kinds);
    this.#published.push(mesh);
    return mesh.publication;
  }

  async subscribe(key: StreamKey, options: { onPacket?: Subscription['onPacket'] } = {}): Promise<Subscription> {
    const mesh = this.#target.stream(key);
    const { offer, pc: sender, tracks: sent } = await mesh.leg();
    const pc = newPeer();
    const tracks: Track[] = [];
    this.#connections.push({ pc, tracks });
    const subscription: Subscription = { key, streamId: `p2p-${peers}`, mids: [], tracks: [], onPacket: options.onPacket };
    const receivers = new Map<string, RecvTrack>();
    for (const m of sdpTransform.parse(offer).media) {
      if (m.type !== 'audio' && m.type !== 'video') continue;
      const rx: RecvTrack = { mid: String(m.mid), kind: m.type, ssrc: Number(m.ssrcs?.[0]?.id ?? 0), rtxSsrc: undefined, packets: 0, bytes: 0, rtxPackets: 0 };
      receivers.set(rx.mid, rx);
      subscription.tracks.push(rx);
      subscription.mids.push(rx.mid);
    }
    let allTracks: () => void = () => undefined;
    const received = new Promise<void>((resolve) => (allTracks = resolve));
    pc.onTrack((remote) => {
      const track = retain(remote);
      tracks.push(track);
      const rx = receivers.get(track.mid());
      countOnTrack(track, () => rx && { track: rx, subscription });
      if (tracks.length === receivers.size) allTracks();
    });
    pc.setRemoteDescription(offer, 'offer');
    pc.setLocalDescription('answer');
    await gathered(pc);
    sender.setRemoteDescription(pc.localDescription()!.sdp, 'answer');
    // Both ends open: the subscriber is the DTLS client here and finishes its handshake last.
    await withTimeout(received, 'the subscriber saw no tracks');
    await Promise.all([...sent, ...tracks].map((t) => waitOpen(t)));
    return subscription;
  }

  close(): void {
    for (const mesh of this.#published) mesh.close();
    for (const { pc, tracks } of this.#connections) closeAll(pc, tracks);
  }
}

/**
 * The latency rows of every SFU get the delay it adds over the direct
 * baseline: its p50/p99 minus p2p's (both nearest-rank percentiles of their
 * own samples, from the same run).
 */
export function addedLatency(byTarget: Record<string, Row[] | { skipped: string }>): void {
  const base = byTarget.p2p;
  if (!Array.isArray(base) || !base[0] || !(Number(base[0].packets) > 0)) return;
  for (const [name, rows] of Object.entries(byTarget)) {
    if (name === 'p2p' || !Array.isArray(rows)) continue;
    for (const row of rows) {
      if (!(Number(row.packets) > 0)) continue;
      row.addedP50Ms = +(Number(row.p50Ms) - Number(base[0].p50Ms)).toFixed(3);
      row.addedP99Ms = +(Number(row.p99Ms) - Number(base[0].p99Ms)).toFixed(3);
    }
  }
}
