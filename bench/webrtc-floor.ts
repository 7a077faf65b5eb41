// "mediasoup-webrtc" as a benchmark target: the WebRTC floor. A bare mediasoup
// worker with a WebRtcServer and one WebRtcTransport per client (ICE-lite,
// DTLS-SRTP, bench/webrtc-floor-server.ts in its own process), driven by the
// same node-datachannel peers as Foci (one PeerConnection per client, BUNDLE)
// but with no data channel, no signaling channel and no session logic: each
// publish or subscribe is one client offer handed to the server process over
// stdin and its answer handed back.
//
// Foci ÷ this floor is what Foci's own signaling and session logic cost;
// this floor ÷ the plain floor ("mediasoup") is the WebRTC protocol cost
// (ICE, DTLS-SRTP, RTCP from receivers) that every WebRTC SFU pays.
import { randomInt } from 'node:crypto';
import { Audio, PeerConnection, Video } from 'node-datachannel';
import type { Track } from 'node-datachannel';
import { BenchError, Lock, OPUS_PT, VP8_PT, addSendTrack, countOnTrack, retain, waitOpen, type Publication, type RecvTrack, type StreamKey, type Subscription } from './client.ts';
import { ChildRpcTarget } from './child-rpc.ts';
import type { LoadClient, SfuTarget } from './target.ts';

type Produced = { kind: 'audio' | 'video'; producerId: string }[];
interface Consumed {
  consumerId: string;
  mid: string;
  kind: 'audio' | 'video';
  ssrc: number;
  rtxSsrc?: number;
}

interface HeaderExtension {
  kind: 'audio' | 'video';
  uri: string;
  id: number;
}

/**
 * Header extensions the floor's subscribers leave out of their offers. Foci's
 * clients answer its priming offer, which lists every router extension with
 * the router's ids, so its consumers send those extensions; the floor's
 * clients offer the same list themselves (and VP8's RTX, as Foci's consumers
 * have it). transport-cc is left out: the load clients send no
 * transport-cc feedback, so it is stripped for every target.
 */
export const STRIPPED_EXTENSIONS = new Set(['http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01']);

export class WebRtcFloorTarget extends ChildRpcTarget<Produced> implements SfuTarget {
  readonly name = 'mediasoup-webrtc' as const;
  readonly unsupported = { session: 'no signaling channel or session on the floor; its connect is one offer/answer, not comparable to a session set-up' };

  constructor() {
    super('bench/webrtc-floor-server.ts', 'the WebRTC floor');
  }

  async connect(): Promise<LoadClient> {
    const { transportId, headerExtensions, vp8Rtx } = await this.rpc.request<{ transportId: string; headerExtensions: HeaderExtension[]; vp8Rtx?: number }>('open', {});
    return new FloorClient(this, transportId, { extensions: headerExtensions.filter((e) => !STRIPPED_EXTENSIONS.has(e.uri)), vp8Rtx });
  }
}

let floorClients = 0;

/** One PeerConnection whose every negotiation is its own offer, answered by the floor server. */
class FloorClient implements LoadClient {
  readonly #target: WebRtcFloorTarget;
  readonly #transportId: string;
  readonly #pc: PeerConnection;
  /** Referenced until close(): libdatachannel drops a section whose Track is garbage-collected. */
  readonly #tracks: Track[] = [];
  readonly #negotiations = new Lock();
  readonly #serial = ++floorClients;
  #nextMid = 0;
  #closed = false;

  /** What a subscribe offer lists besides the codec: as a Foci client learns it from the priming offer. */
  readonly #receive: { extensions: HeaderExtension[]; vp8Rtx: number | undefined };

  constructor(target: WebRtcFloorTarget, transportId: string, receive: { extensions: HeaderExtension[]; vp8Rtx: number | undefined }) {
    this.#target = target;
    this.#transportId = transportId;
    this.#receive = receive;
    this.#pc = new PeerConnection(`floor-${this.#serial}`, { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' });
  }

  /** Offers what the connection has now; returns the server's result after applying its answer. */
  async #negotiate<T extends { sdp: string }>(method: 'publish' | 'subscribe', params: Record<string, unknown>): Promise<T> {
    if (this.#closed) throw new BenchError('session_closed', 'client closed');
    this.#pc.setLocalDescription('offer');
    try {
      const result = await this.#target.rpc.request<T>(method, { transportId: this.#transportId, sdp: this.#pc.localDescription()!.sdp, ...params });
      this.#pc.setRemoteDescription(result.sdp, 'answer');
      return result;
    } catch (error) {
      if (this.#pc.signalingState() === 'have-local-offer') this.#pc.setLocalDescription('rollback');
      throw error;
    }
  }

  publish(key: StreamKey, kinds: { audio: boolean; video: boolean }): Promise<Publication> {
    return this.#negotiations.run(async () => {
      const publication: Publication = { key };
      const added: Track[] = [];
      const cname = `floor-${this.#serial}`;
      for (const kind of ['audio', 'video'] as const) {
        if (!kinds[kind]) continue;
        const { track, handle } = addSendTrack(this.#pc, { kind, mid: String(this.#nextMid++), ssrc: randomInt(1, 2 ** 32), cname, streamId: `${cname}-stream` });
        this.#tracks.push(track);
        added.push(track);
        publication[kind] = handle;
      }
      const { producers } = await this.#negotiate<{ sdp: string; producers: Produced }>('publish', {});
      await Promise.all(added.map((t) => waitOpen(t)));
      this.#target.published(key, producers);
      return publication;
    });
  }

  subscribe(key: StreamKey, options: { onPacket?: Subscription['onPacket'] } = {}): Promise<Subscription> {
    const producers = this.#target.stream(key);
    return this.#negotiations.run(async () => {
      const subscription: Subscription = { key, streamId: '', mids: [], tracks: [], onPacket: options.onPacket };
      const receivers = new Map<string, RecvTrack>();
      const added: Track[] = [];
      for (const { kind } of producers) {
        const mid = String(this.#nextMid++);
        const media = kind === 'audio' ? new Audio(mid, 'RecvOnly') : new Video(mid, 'RecvOnly');
        if (media instanceof Audio) media.addOpusCodec(OPUS_PT);
        else {
          media.addVP8Codec(VP8_PT);
          if (this.#receive.vp8Rtx !== undefined) media.addRTXCodec(this.#receive.vp8Rtx, VP8_PT, 90000);
        }
        for (const e of this.#receive.extensions) if (e.kind === kind) media.parseSdpLine(`a=extmap:${e.id} ${e.uri}`);
        const track = retain(this.#pc.addTrack(media));
        // Counters exist before the answer is applied, so no early packet goes uncounted.
        countOnTrack(track, () => {
          const rx = receivers.get(mid);
          return rx && { track: rx, subscription };
        });
        this.#tracks.push(track);
        added.push(track);
      }
      const { consumers } = await this.#negotiate<{ sdp: string; consumers: Consumed[] }>('subscribe', { producers });
      for (const c of consumers) {
        const rx: RecvTrack = { mid: c.mid, kind: c.kind, ssrc: c.ssrc, rtxSsrc: c.rtxSsrc, packets: 0, bytes: 0, rtxPackets: 0 };
        receivers.set(c.mid, rx);
        subscription.tracks.push(rx);
        subscription.mids.push(c.mid);
      }
      subscription.streamId = consumers.map((c) => c.consumerId).join(',');
      await Promise.all(added.map((t) => waitOpen(t)));
      // Media flows once the answer is applied: resumed now, as Foci resumes after an answer.
      await this.#target.rpc.request('resume', { transportId: this.#transportId, consumerIds: consumers.map((c) => c.consumerId) });
      return subscription;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const track of this.#tracks) {
      try {
        track.close();
      } catch {
        // already closed with the connection
      }
    }
    this.#pc.close();
    this.#target.rpc.request('close', { transportId: this.#transportId }).catch(() => undefined);
  }
}
