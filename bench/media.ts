// Synthetic media for load tests: hand-built RTP at realistic rates and sizes.
// Nothing is encoded; payloads are random bytes with just enough structure for
// the SFU: a VP8 payload descriptor and frame tag (mediasoup drops a consumer's
// video until it sees a key frame, so key frames must be recognisable).
//
// Every payload ends with a 12-byte probe ("FOCI" + float64 send time, epoch
// ms) so a receiver can measure latency even though the SFU rewrites SSRCs
// and sequence numbers.
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Publication, SendTrack } from './client.ts';

/** What a source needs from a published track. */
export type RtpTarget = Pick<SendTrack, 'ssrc' | 'payloadType' | 'clockRate' | 'send' | 'onKeyframeRequest'>;

export interface StreamStats {
  /** Packets and bytes (whole RTP packets) the track accepted. */
  packets: number;
  bytes: number;
  /** Packets the track refused (not open, or closed). */
  failed: number;
  frames: number;
  keyframes: number;
}

const RTP_HEADER = 12;
const PROBE_BYTES = 12;
const PROBE_MAGIC = 0x464f4349; // "FOCI"
/** Random filler, sliced instead of generated per packet. */
const FILLER = randomBytes(64 * 1024);

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one host. */
export function nowEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Send time from a packet's probe, or undefined if it has none. */
export function readProbe(packet: Uint8Array): number | undefined {
  if (packet.length < RTP_HEADER + PROBE_BYTES) return undefined;
  const view = new DataView(packet.buffer, packet.byteOffset + packet.length - PROBE_BYTES, PROBE_BYTES);
  return view.getUint32(0) === PROBE_MAGIC ? view.getFloat64(4) : undefined;
}

/** One RTP stream's header state: random start sequence and timestamp, as RFC 3550 asks. */
export class RtpWriter {
  readonly #target: RtpTarget;
  #seq = randomInt(0x10000);
  readonly #tsBase = randomInt(2 ** 32);
  readonly stats: StreamStats = { packets: 0, bytes: 0, failed: 0, frames: 0, keyframes: 0 };

  constructor(target: RtpTarget) {
    this.#target = target;
  }

  /** Sends `payload` behind an RTP header. */
  send(payload: Uint8Array, ticks: number, marker: boolean): void {
    this.write(RTP_HEADER + payload.length, ticks, marker, (packet) => packet.set(payload, RTP_HEADER));
  }

  /** Sends a packet of `size` bytes: the header written here, the payload by `fill`. */
  protected write(size: number, ticks: number, marker: boolean, fill: (packet: Buffer) => void): void {
    const packet = Buffer.allocUnsafe(size);
    packet[0] = 0x80; // version 2, no padding, no extension, no CSRC
    packet[1] = (marker ? 0x80 : 0) | this.#target.payloadType;
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE((this.#tsBase + ticks) >>> 0, 4);
    packet.writeUInt32BE(this.#target.ssrc, 8);
    fill(packet);
    if (this.#target.send(packet)) {
      this.#seq = (this.#seq + 1) & 0xffff;
      this.stats.packets++;
      this.stats.bytes += size;
    } else {
      this.stats.failed++;
    }
  }
}

/** A stream of synthetic packets that carry a latency probe. */
class RtpStream extends RtpWriter {
  /** A packet of `payloadSize` bytes: `head` first, random filler, the probe last. */
  sendProbed(head: Uint8Array, payloadSize: number, ticks: number, marker: boolean): void {
    const size = RTP_HEADER + Math.max(payloadSize, head.length + PROBE_BYTES);
    this.write(size, ticks, marker, (packet) => {
      packet.set(head, RTP_HEADER);
      const fill = size - PROBE_BYTES - RTP_HEADER - head.length;
      const from = randomInt(FILLER.length - fill);
      FILLER.copy(packet, RTP_HEADER + head.length, from, from + fill);
      packet.writeUInt32BE(PROBE_MAGIC, size - PROBE_BYTES);
      packet.writeDoubleBE(nowEpochMs(), size - PROBE_BYTES + 4);
    });
  }
}

/** Calls `tick(i)` every `intervalMs` (no drift) until `durationMs` has passed or `signal` aborts. */
async function paced(intervalMs: number, durationMs: number, signal: AbortSignal | undefined, tick: (i: number) => void): Promise<void> {
  const start = performance.now();
  const count = Math.floor(durationMs / intervalMs);
  for (let i = 0; i < count && !signal?.aborted; i++) {
    const wait = start + i * intervalMs - performance.now();
    if (wait > 1) await sleep(wait);
    tick(i);
  }
}

export interface AudioOptions {
  durationMs: number;
  packetsPerSecond?: number;
  payloadBytes?: number;
  signal?: AbortSignal;
}

/** Opus-like audio: by default 50 packets/s (20 ms frames) of 100-byte payloads, about 45 kbit/s on the wire. */
export async function sendAudio(target: RtpTarget, options: AudioOptions): Promise<StreamStats> {
  const pps = options.packetsPerSecond ?? 50;
  const payloadBytes = options.payloadBytes ?? 100;
  const stream = new RtpStream(target);
  const ticksPerPacket = Math.round(target.clockRate / pps);
  // TOC byte: config 15 (hybrid full band, 20 ms), mono, one frame.
  const toc = Uint8Array.of(0x78);
  await paced(1000 / pps, options.durationMs, options.signal, (i) => {
    stream.sendProbed(toc, payloadBytes, i * ticksPerPacket, i === 0); // marker: start of a talk spurt
    stream.stats.frames++;
  });
  return stream.stats;
}

export interface VideoOptions {
  durationMs: number;
  fps?: number;
  /** Average bits per second of RTP (headers included), before key frames. */
  bitrate?: number;
  /** Largest RTP packet, header included. */
  maxPacketSize?: number;
  /** A key frame is this many times a delta frame. */
  keyframeScale?: number;
  /** Periodic key frames, besides the first one and those the SFU asks for. */
  keyframeIntervalMs?: number;
  signal?: AbortSignal;
}

/**
 * VP8-like video: by default 30 fps at 1 Mbit/s, each frame split into
 * packets of at most 1200 bytes, the marker bit on a frame's last packet.
 * The first frame is a key frame, and so is the next one after a PLI/FIR.
 */
export async function sendVideo(target: RtpTarget, options: VideoOptions): Promise<StreamStats> {
  const fps = options.fps ?? 30;
  const bitrate = options.bitrate ?? 1_000_000;
  const maxPacket = options.maxPacketSize ?? 1200;
  const keyScale = options.keyframeScale ?? 4;
  const keyEvery = options.keyframeIntervalMs ? Math.max(1, Math.round((options.keyframeIntervalMs * fps) / 1000)) : 0;
  const stream = new RtpStream(target);
  const ticksPerFrame = Math.round(target.clockRate / fps);
  const frameBytes = bitrate / 8 / fps;
  // Room for media in a packet: header, descriptor byte and probe come off.
  const chunk = maxPacket - RTP_HEADER - 1 - PROBE_BYTES;
  let keyframeWanted = true;
  const previous = target.onKeyframeRequest;
  target.onKeyframeRequest = () => {
    keyframeWanted = true;
    previous?.();
  };
  try {
    await paced(1000 / fps, options.durationMs, options.signal, (i) => {
      const key = keyframeWanted || (keyEvery > 0 && i % keyEvery === 0);
      keyframeWanted = false;
      // Whole frame on the wire (headers included) is about frameBytes; split it evenly.
      const wire = Math.round(frameBytes * (key ? keyScale : 1) * (0.8 + Math.random() * 0.4));
      const packets = Math.max(1, Math.ceil(wire / maxPacket));
      const media = Math.min(chunk, Math.max(16, Math.floor(wire / packets) - RTP_HEADER - 1 - PROBE_BYTES));
      for (let p = 0; p < packets; p++) {
        stream.sendProbed(vp8Head(p === 0, key), 1 + media + PROBE_BYTES, i * ticksPerFrame, p === packets - 1);
      }
      stream.stats.frames++;
      if (key) stream.stats.keyframes++;
    });
  } finally {
    target.onKeyframeRequest = previous;
  }
  return stream.stats;
}

/**
 * VP8 payload descriptor (RFC 7741): one byte, S set on a frame's first
 * packet, partition 0. The first packet then starts the frame: a 3-byte tag
 * whose low bit is 0 on key frames (what mediasoup checks), and for key
 * frames the start code and a 640x360 size.
 */
function vp8Head(first: boolean, key: boolean): Uint8Array {
  if (!first) return Uint8Array.of(0x00);
  // Frame tag: P bit (0 = key), version 0, show_frame 1, first partition size (arbitrary).
  if (!key) return Uint8Array.of(0x10, 0x11, 0x02, 0x00);
  return Uint8Array.of(0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01);
}

export interface MediaOptions {
  durationMs: number;
  audio?: Omit<AudioOptions, 'durationMs' | 'signal'>;
  video?: Omit<VideoOptions, 'durationMs' | 'signal'>;
  signal?: AbortSignal;
}

/** Sends on every track of a publication at once; resolves with each track's totals. */
export async function sendMedia(publication: Publication, options: MediaOptions): Promise<{ audio?: StreamStats; video?: StreamStats }> {
  const common = { durationMs: options.durationMs, ...(options.signal ? { signal: options.signal } : {}) };
  const [audio, video] = await Promise.all([
    publication.audio ? sendAudio(publication.audio, { ...options.audio, ...common }) : undefined,
    publication.video ? sendVideo(publication.video, { ...options.video, ...common }) : undefined,
  ]);
  return { ...(audio ? { audio } : {}), ...(video ? { video } : {}) };
}
