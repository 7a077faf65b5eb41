// Real, decodable media for light members (node-datachannel) at low rates: a
// pre-encoded VP8 clip (fixtures/media/clip-160x90.ivf, made by
// scripts/make-vp8-clip.ts) looped and packetized per RFC 7741, and Opus
// silence frames at a DTX-like rate. A browser subscribed to such a member
// decodes every frame; the SFU treats it like any other publisher.
//
// node-datachannel has no VP8 packetizer, so the payload descriptor is
// written here: X=1, I=1 with a 15-bit PictureID, S on a frame's first packet,
// partition index 0. A key-frame request (PLI/FIR) restarts the clip at its
// key frame (frame 0): the clip has no other key frame.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RtpWriter, type RtpTarget, type StreamStats } from './media.ts';

export interface Vp8Clip {
  width: number;
  height: number;
  /** Encoded frames in order; frames[0] is a key frame. */
  frames: Buffer[];
}

export const CLIP_160X90 = new URL('../fixtures/media/clip-160x90.ivf', import.meta.url);

/** True if a VP8 frame (RFC 6386 frame tag) is a key frame: P bit 0. */
export function isVp8KeyFrame(frame: Uint8Array): boolean {
  return frame.length > 0 && (frame[0]! & 0x01) === 0;
}

/** Reads an IVF file of VP8 frames (32-byte file header, then 12-byte frame headers). */
export function readIvf(path: URL | string): Vp8Clip {
  const file = readFileSync(path);
  if (file.length < 32 || file.toString('latin1', 0, 4) !== 'DKIF') throw new Error(`${String(path)} is not an IVF file`);
  if (file.toString('latin1', 8, 12) !== 'VP80') throw new Error(`${String(path)} is not VP8`);
  const headerSize = file.readUInt16LE(6);
  const clip: Vp8Clip = { width: file.readUInt16LE(12), height: file.readUInt16LE(14), frames: [] };
  let offset = headerSize;
  while (offset + 12 <= file.length) {
    const size = file.readUInt32LE(offset);
    const start = offset + 12;
    if (start + size > file.length) throw new Error(`${String(path)}: truncated frame at byte ${offset}`);
    clip.frames.push(file.subarray(start, start + size));
    offset = start + size;
  }
  if (!clip.frames.length || !isVp8KeyFrame(clip.frames[0]!)) throw new Error(`${String(path)} does not start with a key frame`);
  return clip;
}

/**
 * The RTP payloads of one VP8 frame (RFC 7741 §4.2): a 4-byte descriptor
 * (X, S on the first packet; I with a 15-bit PictureID) and at most
 * `maxPayload` bytes of the frame each.
 */
export function packetizeVp8(frame: Uint8Array, pictureId: number, maxPayload = 1100): Buffer[] {
  const chunk = maxPayload - 4;
  const out: Buffer[] = [];
  for (let at = 0; at < frame.length || at === 0; at += chunk) {
    const part = frame.subarray(at, Math.min(frame.length, at + chunk));
    const payload = Buffer.allocUnsafe(4 + part.length);
    payload[0] = 0x80 | (at === 0 ? 0x10 : 0); // X, S, PID 0
    payload[1] = 0x80; // I: PictureID present
    payload[2] = 0x80 | ((pictureId >> 8) & 0x7f); // M: 15-bit PictureID
    payload[3] = pictureId & 0xff;
    payload.set(part, 4);
    out.push(payload);
    if (frame.length === 0) break;
  }
  return out;
}

/** Calls `tick(i)` every `intervalMs` without drift until `signal` aborts. */
async function paced(intervalMs: number, signal: AbortSignal, tick: (i: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; !signal.aborted; i++) {
    const wait = start + i * intervalMs - performance.now();
    if (wait > 1) await sleep(wait);
    if (!signal.aborted) tick(i);
  }
}

export interface ClipOptions {
  fps?: number;
  signal: AbortSignal;
}

/**
 * Loops the clip on a VP8 track until `signal` aborts, `fps` frames a second
 * (5 by default). A key-frame request restarts the clip at frame 0.
 */
export async function sendVp8Clip(target: RtpTarget, clip: Vp8Clip, options: ClipOptions): Promise<StreamStats> {
  const fps = options.fps ?? 5;
  const writer = new RtpWriter(target);
  const ticksPerFrame = Math.round(target.clockRate / fps);
  let next = 0;
  let pictureId = randomInt(0x8000);
  const previous = target.onKeyframeRequest;
  target.onKeyframeRequest = () => {
    next = 0;
    previous?.();
  };
  try {
    await paced(1000 / fps, options.signal, (i) => {
      const frame = clip.frames[next]!;
      const payloads = packetizeVp8(frame, pictureId);
      payloads.forEach((p, n) => writer.send(p, i * ticksPerFrame, n === payloads.length - 1));
      writer.stats.frames++;
      if (next === 0) writer.stats.keyframes++;
      pictureId = (pictureId + 1) & 0x7fff;
      next = (next + 1) % clip.frames.length;
    });
  } finally {
    target.onKeyframeRequest = previous;
  }
  return writer.stats;
}

/**
 * An Opus silence frame (RFC 6716): TOC 0xf8 (CELT fullband, 20 ms, mono, one
 * frame) and a two-byte frame that decodes to silence.
 */
export const OPUS_SILENCE = Uint8Array.of(0xf8, 0xff, 0xfe);

/**
 * Opus silence as a DTX sender would send it: one 20 ms frame every
 * `intervalMs` (200 by default), timestamps following the wall clock.
 */
export async function sendOpusSilence(target: RtpTarget, options: { intervalMs?: number; signal: AbortSignal }): Promise<StreamStats> {
  const intervalMs = options.intervalMs ?? 200;
  const writer = new RtpWriter(target);
  const ticksPerInterval = Math.round((target.clockRate * intervalMs) / 1000);
  await paced(intervalMs, options.signal, (i) => {
    writer.send(OPUS_SILENCE, i * ticksPerInterval, i === 0);
    writer.stats.frames++;
  });
  return writer.stats;
}
