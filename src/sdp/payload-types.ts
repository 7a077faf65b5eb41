// One parameter set per payload type per connection. Browsers check that a
// BUNDLE group never maps one payload type to two codec descriptions
// (Chromium: "A BUNDLE group contains a codec collision for payload_type").
// mediasoup consumers copy their producer's fmtp, so a connection receiving
// Opus from Firefox (maxplaybackrate=48000;stereo=1;useinbandfec=1) and from
// Chromium (minptime=10;useinbandfec=1) would show PT 111 twice, differently.
// Decoders ignore these differences, so every later section of a payload type
// is rendered with the first parameter set the connection saw for it: from
// our own offers and answers, or from the client's offers. Pure functions.
import type { MediaDescription } from 'sdp-transform';

/** What a payload type stands for: codec (name/rate/channels) and its fmtp. */
export interface PayloadTypeUse {
  codec: string;
  fmtp: string | undefined;
}

/** The first use of each payload type on a connection, by payload type. */
export type PayloadTypeBook = ReadonlyMap<number, PayloadTypeUse>;

const codecOf = (r: { codec: string; rate?: number | undefined; encoding?: number | string | undefined }, kind: string): string =>
  `${kind}/${r.codec.toLowerCase()}/${r.rate ?? ''}/${kind === 'audio' ? Number(r.encoding ?? 1) : ''}`;

/** Parameters that name a different codec when they differ; a section that differs here is not rewritten. */
const IDENTITY_PARAMETERS = ['apt', 'profile-id', 'packetization-mode', 'profile-level-id', 'level-idx', 'profile', 'tier'];

/** Defaults of identity parameters that SDP may leave out. */
const DEFAULTS: Record<string, Record<string, string>> = { vp9: { 'profile-id': '0' }, h264: { 'packetization-mode': '0' }, av1: { profile: '0' } };

function identity(codec: string, fmtp: string | undefined): string {
  const defaults = DEFAULTS[codec.split('/')[1] ?? ''] ?? {};
  const params = new Map(
    (fmtp ?? '')
      .split(';')
      .map((p) => p.trim().split('='))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!.toLowerCase(), v!.toLowerCase()] as const),
  );
  return IDENTITY_PARAMETERS.map((k) => `${k}=${params.get(k) ?? defaults[k] ?? ''}`).join(';');
}

function uses(m: MediaDescription): [number, PayloadTypeUse][] {
  if (m.port === 0 || (m.type !== 'audio' && m.type !== 'video')) return [];
  return (m.rtp ?? []).map((r) => [r.payload, { codec: codecOf(r, m.type), fmtp: (m.fmtp ?? []).find((f) => f.payload === r.payload)?.config }]);
}

/** `book` plus the payload types of `sections` it did not have yet (first use wins). */
export function recordPayloadTypes(book: PayloadTypeBook, sections: readonly MediaDescription[]): PayloadTypeBook {
  let next: Map<number, PayloadTypeUse> | undefined;
  for (const m of sections) {
    for (const [pt, use] of uses(m)) {
      if ((next ?? book).has(pt)) continue;
      next ??= new Map(book);
      next.set(pt, use);
    }
  }
  return next ?? book;
}

/**
 * `m` with each payload type's fmtp replaced by the one `book` first saw for
 * it, where it is the same codec (name, clock rate, channels, and the
 * parameters that tell codecs apart: apt, H264 profile and mode, VP9/AV1
 * profile). A payload type that the book has for another codec is left as it
 * is: rewriting cannot fix that.
 */
export function applyPayloadTypes(m: MediaDescription, book: PayloadTypeBook): MediaDescription {
  if (m.port === 0 || (m.type !== 'audio' && m.type !== 'video') || book.size === 0) return m;
  let changed = false;
  const fmtp: { payload: number; config: string }[] = [];
  for (const r of m.rtp ?? []) {
    const own = (m.fmtp ?? []).find((f) => f.payload === r.payload)?.config;
    const first = book.get(r.payload);
    const codec = codecOf(r, m.type);
    const same = first && first.codec === codec && identity(codec, first.fmtp) === identity(codec, own);
    const config = same ? first.fmtp : own;
    if (config !== own) changed = true;
    if (config !== undefined) fmtp.push({ payload: r.payload, config });
  }
  return changed ? { ...m, fmtp } : m;
}
