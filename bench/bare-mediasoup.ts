// "mediasoup" as a benchmark target: bench/bare-mediasoup-server.ts in its own
// process, fed and drained over plain UDP sockets. Foci's figures against
// these, in the same run, say what our WebRTC path (ICE, DTLS-SRTP) and
// signaling cost on top of the worker itself. Only the forwarding scenarios
// make sense here; the session path has no equivalent and is skipped.
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { BenchError, countReceivedRtp, hasKeyframeRequest, type Publication, type RecvTrack, type SendTrack, type StreamKey, type Subscription } from './client.ts';
import { ChildRpcTarget } from './child-rpc.ts';
import type { LoadClient, SfuTarget } from './target.ts';

interface Produced {
  transportId: string;
  port: number;
  producers: { kind: 'audio' | 'video'; producerId: string; payloadType: number }[];
}
interface Consumed {
  transportId: string;
  tracks: { kind: 'audio' | 'video'; ssrc: number; rtxSsrc?: number; mid: string }[];
}

export class BareMediasoupTarget extends ChildRpcTarget<string[]> implements SfuTarget {
  readonly name = 'mediasoup' as const;
  readonly settings = 'worker log level warn, one PlainTransport socket per transport at the kernel default buffer size, no transport-cc';
  readonly unsupported = { session: 'no signaling or WebRTC handshake on a bare worker, so no session path to time' };

  constructor() {
    super('bench/bare-mediasoup-server.ts', 'bare mediasoup');
  }

  request<T>(method: string, params: Record<string, unknown>): Promise<T> {
    return this.rpc.request<T>(method, params);
  }

  /** Producer ids of a published stream, for subscribers in the same bench process. */
  producerIds(key: StreamKey): string[] {
    return this.stream(key);
  }

  async connect(): Promise<LoadClient> {
    return new BareClient(this);
  }
}

const isRtcp = (packet: Buffer) => packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223;

/** A load endpoint over plain UDP: one socket per publish or subscribe, as one WebRTC transport would be. */
class BareClient implements LoadClient {
  readonly #target: BareMediasoupTarget;
  readonly #sockets: Socket[] = [];
  readonly #transports: string[] = [];
  #closed = false;

  constructor(target: BareMediasoupTarget) {
    this.#target = target;
  }

  async #socket(): Promise<Socket> {
    if (this.#closed) throw new BenchError('session_closed', 'client closed');
    const socket = createSocket('udp4');
    socket.on('error', () => undefined); // a send after close; the counters tell
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    this.#sockets.push(socket);
    return socket;
  }

  async publish(key: StreamKey, media: { audio: boolean; video: boolean }): Promise<Publication> {
    const socket = await this.#socket();
    const audioSsrc = media.audio ? randomInt(1, 2 ** 32) : undefined;
    const videoSsrc = media.video ? randomInt(1, 2 ** 32) : undefined;
    const produced = await this.#target.request<Produced>('produce', { audioSsrc, videoSsrc });
    this.#transports.push(produced.transportId);
    const publication: Publication = { key };
    for (const { kind, payloadType } of produced.producers) {
      const track: SendTrack = {
        kind,
        mid: kind === 'audio' ? '0' : '1',
        ssrc: (kind === 'audio' ? audioSsrc : videoSsrc)!,
        payloadType,
        clockRate: kind === 'audio' ? 48000 : 90000,
        send: (packet) => {
          if (this.#closed) return false;
          socket.send(packet, produced.port, '127.0.0.1');
          return true;
        },
        onKeyframeRequest: undefined,
      };
      publication[kind] = track;
    }
    socket.on('message', (packet) => {
      if (isRtcp(packet) && hasKeyframeRequest(packet)) publication.video?.onKeyframeRequest?.();
    });
    this.#target.published(key, produced.producers.map((p) => p.producerId));
    return publication;
  }

  async subscribe(key: StreamKey, options: { onPacket?: Subscription['onPacket'] } = {}): Promise<Subscription> {
    const producerIds = this.#target.producerIds(key);
    const socket = await this.#socket();
    const consumed = await this.#target.request<Consumed>('consume', { producerIds, port: socket.address().port });
    this.#transports.push(consumed.transportId);
    const tracks: RecvTrack[] = consumed.tracks.map((t) => ({ mid: t.mid, kind: t.kind, ssrc: t.ssrc, rtxSsrc: t.rtxSsrc, packets: 0, bytes: 0, rtxPackets: 0 }));
    const subscription: Subscription = { key, streamId: consumed.transportId, mids: tracks.map((t) => t.mid), tracks, onPacket: options.onPacket };
    const bySsrc = new Map<number, RecvTrack>();
    for (const t of tracks) {
      bySsrc.set(t.ssrc, t);
      if (t.rtxSsrc !== undefined) bySsrc.set(t.rtxSsrc, t);
    }
    socket.on('message', (packet) => {
      if (packet.length < 12 || isRtcp(packet)) return;
      const track = bySsrc.get(packet.readUInt32BE(8));
      if (track) countReceivedRtp(packet, track, subscription);
    });
    return subscription;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#sockets) socket.close();
    for (const transportId of this.#transports) this.#target.request('close', { transportId }).catch(() => undefined);
  }
}
