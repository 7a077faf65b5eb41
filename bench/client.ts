// A light WebRTC endpoint for load tests: node-datachannel (libdatachannel)
// instead of a browser, speaking Foci's protocol (docs/protocol.md) the way
// public/foci-client.js does. Media is raw RTP that the caller builds
// (bench/media.ts); received RTP is only counted, never decoded.
//
//   const client = await BenchClient.connect(focus.url);
//   const pub = await client.publish(key, { audio: true, video: true });
//   pub.video!.send(rtpPacket);
//   const sub = await other.subscribe(key, { onPacket: (p) => … });
//   sub.tracks[0].packets;
//
// One PeerConnection carries the signaling channel and all media (BUNDLE).
// The server is the polite peer: a server offer that crosses our own publish
// offer is ignored (the server withdraws it and offers again later).
import { performance } from 'node:perf_hooks';
import { Audio, PeerConnection, RtcpNackResponder, RtcpReceivingSession, RtcpSrReporter, RtpPacketizationConfig, Video } from 'node-datachannel';
import type { DataChannel, Track } from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { withoutTransportCc } from './transport-cc.ts';

const REQUEST_TIMEOUT_MS = 20_000;
/** Payload types as the router prefers them (src/media/codecs.ts), so publish and receive agree. */
export const OPUS_PT = 111;
export const VP8_PT = 96;

export interface StreamKey {
  callId: string;
  deviceId: string;
  purpose: string;
}

export class BenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/** A published track: the caller sends complete RTP packets (12-byte header and payload). */
export interface SendTrack {
  readonly kind: 'audio' | 'video';
  readonly mid: string;
  readonly ssrc: number;
  readonly payloadType: number;
  readonly clockRate: number;
  /** Sends one RTP packet (SRTP-protected by libdatachannel). False if it was not sent. */
  send(packet: Uint8Array): boolean;
  /** Called on RTCP PLI or FIR from the SFU: new subscribers need a key frame. */
  onKeyframeRequest: (() => void) | undefined;
}

export interface Publication {
  key: StreamKey;
  audio?: SendTrack;
  video?: SendTrack;
}

export interface ReceivedPacket {
  mid: string;
  ssrc: number;
  /** As forwarded: mediasoup rewrites SSRC and sequence numbers per consumer. */
  seq: number;
  timestamp: number;
  payloadType: number;
  size: number;
  /** performance.now() when the packet reached JavaScript. */
  at: number;
  packet: Buffer;
  /** On the track's RTX SSRC: a retransmission, not counted as a packet received. */
  rtx?: boolean;
}

/** A received track and what arrived on it. */
export interface RecvTrack {
  readonly mid: string;
  readonly kind: 'audio' | 'video';
  /** The media SSRC the server announced; packets on its RTX SSRC are counted apart. */
  readonly ssrc: number;
  readonly rtxSsrc: number | undefined;
  packets: number;
  bytes: number;
  rtxPackets: number;
}

/**
 * A send-only Opus or VP8 track on a peer connection, answering as a browser
 * would: a sender report each second (timestamps read from the packets we
 * send), NACKs answered from the last 512 packets, and PLI/FIR handed to the
 * source so it sends a key frame.
 */
export function addSendTrack(
  pc: PeerConnection,
  { kind, mid, ssrc, cname, streamId }: { kind: 'audio' | 'video'; mid: string; ssrc: number; cname: string; streamId: string },
): { track: Track; handle: SendTrack } {
  let media: Audio | Video;
  if (kind === 'audio') {
    const audio = new Audio(mid, 'SendOnly');
    audio.addOpusCodec(OPUS_PT);
    media = audio;
  } else {
    const video = new Video(mid, 'SendOnly');
    video.addVP8Codec(VP8_PT);
    media = video;
  }
  media.addSSRC(ssrc, cname, streamId, `${streamId}-${kind}`);
  const track = retain(pc.addTrack(media));
  const payloadType = kind === 'audio' ? OPUS_PT : VP8_PT;
  const clockRate = kind === 'audio' ? 48000 : 90000;
  const reporter = new RtcpSrReporter(new RtpPacketizationConfig(ssrc, cname, payloadType, clockRate));
  reporter.addToChain(new RtcpNackResponder(512));
  track.setMediaHandler(reporter);
  const handle: SendTrack = {
    kind,
    mid,
    ssrc,
    payloadType,
    clockRate,
    send: (packet) => {
      try {
        return track.isOpen() && track.sendMessageBinary(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
      } catch {
        return false; // closed under us
      }
    },
    onKeyframeRequest: undefined,
  };
  track.onMessage((rtcp) => {
    if (hasKeyframeRequest(rtcp)) handle.onKeyframeRequest?.();
  });
  return { track, handle };
}

/**
 * Counts what arrives on a remote track for whichever subscription currently
 * owns it; RTCP (SR) is consumed by RtcpReceivingSession, which answers with RR.
 */
export function countOnTrack(track: Track, receiver: () => { track: RecvTrack; subscription: Subscription } | undefined): void {
  track.setMediaHandler(new RtcpReceivingSession());
  track.onMessage((packet) => {
    const current = receiver();
    if (current) countReceivedRtp(packet, current.track, current.subscription);
  });
}

/** Counts one packet that arrived on a received track (RTX apart) and hands it to the subscription's listener. */
export function countReceivedRtp(packet: Buffer, rx: RecvTrack, subscription: Subscription): void {
  if (packet.length < 12) return;
  if (packet[1]! >= 192 && packet[1]! <= 223) return; // stray RTCP
  const ssrc = packet.readUInt32BE(8);
  const rtx = ssrc === rx.rtxSsrc;
  if (rtx) {
    rx.rtxPackets++;
  } else {
    rx.packets++;
    rx.bytes += packet.length;
  }
  subscription.onPacket?.({ mid: rx.mid, ssrc, seq: packet.readUInt16BE(2), timestamp: packet.readUInt32BE(4), payloadType: packet[1]! & 0x7f, size: packet.length, at: performance.now(), packet, rtx });
}

export interface Subscription {
  key: StreamKey;
  streamId: string;
  mids: string[];
  tracks: RecvTrack[];
  /** Called for every RTP packet of this subscription (latency probes). */
  onPacket: ((packet: ReceivedPacket) => void) | undefined;
}

export interface ConnectOptions {
  /** Local address for ICE (e.g. 127.0.0.1 for loopback-only runs). */
  bindAddress?: string;
}

type Message = Record<string, unknown> & { event?: string; id?: string | number; sdp?: string };

interface Pending {
  resolve: (message: Message) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Runs tasks one after another (our publish offers, one at a time). */
export class Lock {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

let clientCount = 0;

export class BenchClient {
  readonly #pc: PeerConnection;
  #channel: DataChannel | undefined;
  /** Unused, but referenced: see retain(). */
  readonly #bootstrap: DataChannel;
  /** Every live track by mid. Referenced: libdatachannel removes a section whose Track is destroyed. */
  readonly #tracks = new Map<string, Track>();
  /** Closed tracks and unused channels, referenced until close(): see retain(). */
  readonly #retired: (Track | DataChannel)[] = [];
  readonly #trackWaiters = new Map<string, (track: Track) => void>();
  /** Receivers by mid, and the subscription each belongs to. */
  readonly #receivers = new Map<string, { track: RecvTrack; subscription: Subscription }>();
  readonly #pending = new Map<string | number, Pending>();
  /** Subscribe requests in flight: what their subscription gets when the server's offer arrives. */
  readonly #subscribing = new Map<string | number, { key: StreamKey; onPacket: Subscription['onPacket'] }>();
  readonly #offers = new Lock();
  #onPrimed: (() => void) | undefined;
  readonly #serial = ++clientCount;
  #nextId = 1;
  #nextMid = 1;
  #nextSsrc: number;
  #closed = false;
  /** Set when the server ends the session or the channel closes. */
  closedReason: string | undefined;
  /** Publish offers the server refused with `glare` and that were offered again. */
  glareRetries = 0;
  /** Server events that are not replies (stream_ended, …), for the caller to inspect. */
  onEvent: ((message: Message) => void) | undefined;

  private constructor(pc: PeerConnection, bootstrap: DataChannel) {
    this.#pc = pc;
    this.#bootstrap = bootstrap;
    // Distinct per client so several publishers in one process are easy to tell apart.
    this.#nextSsrc = 0x10000000 + this.#serial * 0x100;
    pc.onTrack((remote) => {
      const track = retain(remote);
      const mid = track.mid();
      this.#tracks.set(mid, track);
      this.#wireRemoteTrack(mid, track);
      this.#trackWaiters.get(mid)?.(track);
      this.#trackWaiters.delete(mid);
    });
  }

  /** Opens a session: createSession with a datachannel-only offer, then the `signaling` channel and the priming offer. */
  static async connect(baseUrl: string, options: ConnectOptions = {}): Promise<BenchClient> {
    const pc = new PeerConnection(`bench-${clientCount + 1}`, {
      iceServers: [],
      // Every negotiation is driven by the protocol; libdatachannel must not offer on its own.
      disableAutoNegotiation: true,
      // The session starts datachannel-only; without this libdatachannel sets up
      // plain DTLS (no SRTP) and tracks added later fail with "The connection has no media transport".
      forceMediaTransport: true,
      ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
    });
    // The offer needs an m=application section, so a channel must exist first.
    const bootstrap = retain(pc.createDataChannel('bootstrap'));
    const client = new BenchClient(pc, bootstrap);
    try {
      const channel = new Promise<DataChannel>((resolve) => {
        pc.onDataChannel((dc) => {
          if (dc.getLabel() !== 'signaling') return void client.#retired.push(retain(dc));
          if (dc.isOpen()) resolve(dc);
          else dc.onOpen(() => resolve(dc));
        });
      });
      pc.setLocalDescription('offer');
      const offer = pc.localDescription()!.sdp;
      const response = await fetch(new URL('/createSession', baseUrl), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'offer', sdp: offer }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await response.json().catch(() => ({}))) as { sdp?: string; error?: { code: string; message: string } };
      if (!response.ok || typeof body.sdp !== 'string') {
        throw new BenchError(body.error?.code ?? `http_${response.status}`, body.error?.message ?? response.statusText);
      }
      const primed = new Promise<void>((resolve) => (client.#onPrimed = resolve));
      pc.setRemoteDescription(body.sdp, 'answer');
      client.#channel = await withTimeout(channel, 'the signaling channel did not open');
      client.#channel.onMessage((data) => client.#onMessage(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString()));
      client.#channel.onClosed(() => client.#onClosed('channel_closed'));
      await withTimeout(primed, 'no priming offer from the server');
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  get peerConnection(): PeerConnection {
    return this.#pc;
  }

  /** Sends a request and resolves with its reply; an error reply rejects with BenchError. */
  request(message: Message): Promise<Message> {
    if (this.#closed || !this.#channel) return Promise.reject(new BenchError('session_closed', this.closedReason ?? 'closed'));
    const id = message.id ?? `b${this.#nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new BenchError('timeout', `no reply to ${message.event} ${id}`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#channel!.sendMessage(JSON.stringify({ ...message, id }));
    });
  }

  #settle(id: unknown, settle: (p: Pending) => void): boolean {
    if (typeof id !== 'string' && typeof id !== 'number') return false;
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    settle(pending);
    return true;
  }

  #onMessage(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    const error = message.error as { code: string; message: string } | undefined;
    if (error) {
      if (!this.#settle(message.id, (p) => p.reject(new BenchError(error.code, error.message)))) this.onEvent?.(message);
      return;
    }
    if (typeof message.sdp === 'string' && (message.event === 'subscribe' || message.event === 'negotiate')) {
      // It crossed our own publish offer: the server withdraws it and offers again.
      if (this.#pc.signalingState() === 'have-local-offer') return;
      try {
        this.#answerServerOffer(message);
      } catch (e) {
        if (!this.#settle(message.id, (p) => p.reject(e as Error))) console.error(`[bench ${this.#serial}] answering ${message.event} ${message.id} failed:`, (e as Error).message);
      }
      return;
    }
    if (message.event === 'session_ended') this.#onClosed(String(message.reason));
    else if (!this.#settle(message.id, (p) => p.resolve(message))) this.onEvent?.(message);
  }

  #answerServerOffer(message: Message): void {
    this.#dropClosedTracks(message.sdp!);
    this.#pc.setRemoteDescription(message.sdp!, 'offer');
    this.#pc.setLocalDescription('answer');
    // Counters exist before the answer leaves, so no early packet goes uncounted.
    const subscription = message.event === 'subscribe' ? this.#registerSubscription(message) : undefined;
    this.#channel!.sendMessage(JSON.stringify({ event: message.event, id: message.id, sdp: withoutTransportCc(this.#pc.localDescription()!.sdp) }));
    if (subscription) {
      // The request's reply is the offer itself; the caller waits for the tracks (see subscribe()).
      this.#settle(message.id, (p) => p.resolve({ ...message, subscription }));
    } else if (message.reason === 'prime') {
      this.#onPrimed?.();
    }
  }

  /**
   * Releases our Track for every section the server closed (port 0) or
   * recycled under a new mid. libdatachannel answers (and re-offers) a
   * section from its live Track's own description, so a track kept alive
   * would be answered as still sending, and offered again, and re-published,
   * with the next publish. A released Track makes it answer port 0.
   */
  #dropClosedTracks(sdp: string): void {
    const offered = sdpTransform.parse(sdp).media;
    const closed = new Set(offered.filter((m) => m.port === 0).map((m) => String(m.mid)));
    const present = new Set(offered.map((m) => String(m.mid)));
    // Only sections already negotiated: our own tracks not yet offered are absent too.
    const previous = sdpTransform.parse(this.#pc.remoteDescription()?.sdp ?? '').media ?? [];
    for (const m of previous) if (!present.has(String(m.mid))) closed.add(String(m.mid));
    for (const mid of closed) this.#releaseTrack(mid);
  }

  #releaseTrack(mid: string): void {
    const track = this.#tracks.get(mid);
    if (!track) return;
    track.close();
    this.#retired.push(track);
    this.#tracks.delete(mid);
    this.#receivers.delete(mid);
  }

  /** Receivers for the subscription's new mids, with SSRCs read from the server's offer. */
  #registerSubscription(message: Message): Subscription {
    const mids = (message.mids as string[] | undefined) ?? [];
    const pending = this.#subscribing.get(message.id!);
    const subscription: Subscription = {
      key: pending?.key ?? { callId: '', deviceId: '', purpose: '' },
      streamId: String(message.stream_id),
      mids,
      tracks: [],
      onPacket: pending?.onPacket,
    };
    const sections = sdpTransform.parse(message.sdp!).media;
    for (const mid of mids) {
      const m = sections.find((s) => String(s.mid) === mid);
      if (!m || (m.type !== 'audio' && m.type !== 'video')) continue;
      const fid = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(' ').map(Number);
      const ssrc = fid?.[0] ?? Number(m.ssrcs?.[0]?.id ?? 0);
      const track: RecvTrack = { mid, kind: m.type, ssrc, rtxSsrc: fid?.[1], packets: 0, bytes: 0, rtxPackets: 0 };
      subscription.tracks.push(track);
      this.#receivers.set(mid, { track, subscription });
    }
    return subscription;
  }

  #wireRemoteTrack(mid: string, track: Track): void {
    countOnTrack(track, () => this.#receivers.get(mid));
  }

  #trackFor(mid: string): Promise<Track> {
    const known = this.#tracks.get(mid);
    if (known) return Promise.resolve(known);
    return withTimeout(new Promise<Track>((resolve) => this.#trackWaiters.set(mid, resolve)), `no track for mid ${mid}`);
  }

  /**
   * Publishes sendonly Opus and/or VP8 tracks with fixed SSRCs (signalled in
   * a=ssrc, so mediasoup matches the RTP by SSRC and needs no header extension).
   */
  async publish(key: StreamKey, kinds: { audio: boolean; video: boolean }): Promise<Publication> {
    const publication: Publication = { key };
    let added: Track[] = [];
    const addTracks = () => {
      const out: Track[] = [];
      if (kinds.audio) {
        const { track, handle } = this.#addSendTrack('audio');
        publication.audio = handle;
        out.push(track);
      }
      if (kinds.video) {
        const { track, handle } = this.#addSendTrack('video');
        publication.video = handle;
        out.push(track);
      }
      return out;
    };
    const wire = { call_id: key.callId, device_id: key.deviceId, purpose: key.purpose };
    for (let attempt = 0; attempt < 5; attempt++) {
      const done = await this.#offers.run(async () => {
        if (attempt === 0) added = addTracks();
        this.#pc.setLocalDescription('offer');
        try {
          const reply = await this.request({ event: 'publish', ...wire, sdp: withoutTransportCc(this.#pc.localDescription()!.sdp) });
          this.#pc.setRemoteDescription(String(reply.sdp), 'answer');
          return true;
        } catch (error) {
          if (this.#pc.signalingState() === 'have-local-offer') this.#pc.setLocalDescription('rollback');
          if (error instanceof BenchError && error.code === 'glare') {
            this.glareRetries++;
            return false;
          }
          // Releasing the tracks is libdatachannel's removeTrack: later offers mark them removed.
          for (const t of added) this.#releaseTrack(t.mid());
          throw error;
        }
      });
      if (done) {
        // libdatachannel opens the tracks once the answer is applied (asynchronously).
        await Promise.all(added.map((t) => waitOpen(t)));
        return publication;
      }
    }
    throw new BenchError('glare', 'gave up after repeated glare');
  }

  #addSendTrack(kind: 'audio' | 'video'): { track: Track; handle: SendTrack } {
    const mid = `b${this.#nextMid++}`;
    const cname = `bench-${this.#serial}`;
    const sent = addSendTrack(this.#pc, { kind, mid, ssrc: this.#nextSsrc++, cname, streamId: `${cname}-stream` });
    this.#tracks.set(mid, sent.track);
    return sent;
  }

  /**
   * Subscribes to a stream. Resolves once the server's offer is answered,
   * the tracks exist and a ping round trip has passed (the server resumes its
   * consumers right after it applies the answer, so media flows from then on).
   */
  async subscribe(key: StreamKey, options: { onPacket?: Subscription['onPacket'] } = {}): Promise<Subscription> {
    const id = `b${this.#nextId++}`;
    this.#subscribing.set(id, { key, onPacket: options.onPacket });
    try {
      const reply = await this.request({ event: 'subscribe', id, call_id: key.callId, device_id: key.deviceId, purpose: key.purpose });
      const subscription = reply.subscription as Subscription;
      await Promise.all(subscription.mids.map((mid) => this.#trackFor(mid)));
      await this.request({ event: 'ping' });
      return subscription;
    } finally {
      this.#subscribing.delete(id);
    }
  }

  async unsubscribe(key: StreamKey): Promise<void> {
    await this.request({ event: 'unsubscribe', call_id: key.callId, device_id: key.deviceId, purpose: key.purpose });
  }

  async unpublish(key: StreamKey): Promise<void> {
    await this.request({ event: 'unpublish', call_id: key.callId, device_id: key.deviceId, purpose: key.purpose });
  }

  #onClosed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closedReason = reason;
    for (const id of [...this.#pending.keys()]) this.#settle(id, (p) => p.reject(new BenchError('session_closed', reason)));
  }

  close(): void {
    this.#onClosed('client_closed');
    for (const wrapper of [this.#channel, this.#bootstrap, ...this.#tracks.values()]) {
      try {
        wrapper?.close();
      } catch {
        // already closed with the connection
      }
    }
    this.#pc.close();
  }
}

/** True if a (compound) RTCP packet holds a PLI (PSFB 206, FMT 1) or a FIR (FMT 4). */
export function hasKeyframeRequest(rtcp: Buffer): boolean {
  let offset = 0;
  while (offset + 4 <= rtcp.length) {
    const fmt = rtcp[offset]! & 0x1f;
    const type = rtcp[offset + 1]!;
    if (type === 206 && (fmt === 1 || fmt === 4)) return true;
    offset += (rtcp.readUInt16BE(offset + 2) + 1) * 4;
  }
  return false;
}

/**
 * Works around a node-datachannel 0.33.4 crash: a Track or DataChannel
 * wrapper leaves the registry that cleanup() walks only when its close
 * callback runs, and that callback is hooked up only by onClosed(). A wrapper
 * garbage-collected while still registered leaves a dangling pointer:
 * SIGSEGV in rtc::Track::close() from TrackWrapper::CloseAll() in cleanup().
 * So every wrapper gets an onClosed handler, and the client keeps its
 * wrappers referenced until it is closed.
 */
export function retain<T extends Track | DataChannel>(wrapper: T): T {
  wrapper.onClosed(() => undefined);
  return wrapper;
}

export function waitOpen(track: Track): Promise<void> {
  if (track.isOpen()) return Promise.resolve();
  let poll: NodeJS.Timeout | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    track.onOpen(() => resolve());
    track.onError((e) => reject(new BenchError('track_error', e)));
    // The open event can fire before onOpen is registered; polling covers that.
    poll = setInterval(() => track.isOpen() && resolve(), 10);
  });
  return withTimeout(opened, `track ${track.mid()} did not open`).finally(() => clearInterval(poll));
}

export function withTimeout<T>(promise: Promise<T>, message: string, ms = REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchError('timeout', message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
