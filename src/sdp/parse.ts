// Reading browser SDP: size checks, parsing, and the pieces the SFU needs.
// Pure functions; every problem is an AppError('invalid_sdp').
import sdpTransform from 'sdp-transform';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import type { types } from 'mediasoup';
import { AppError } from '../errors.ts';
import { liftBundleOnly } from './mirror.ts';

export type { MediaDescription, SessionDescription };

export interface SdpLimits {
  maxSdpBytes: number;
  maxSdpLineBytes: number;
}

export function parseSdp(text: unknown, limits: SdpLimits): SessionDescription {
  if (typeof text !== 'string' || text.length === 0) throw new AppError('invalid_sdp', 'sdp must be a non-empty string');
  if (Buffer.byteLength(text) > limits.maxSdpBytes) {
    throw new AppError('invalid_sdp', `sdp is larger than ${limits.maxSdpBytes} bytes`);
  }
  const lines = text.split(/\r?\n/);
  if (lines.some((line) => Buffer.byteLength(line) > limits.maxSdpLineBytes)) {
    throw new AppError('invalid_sdp', `an sdp line is longer than ${limits.maxSdpLineBytes} bytes`);
  }
  if (!lines[0]?.startsWith('v=0')) throw new AppError('invalid_sdp', 'sdp must start with v=0');
  let parsed: SessionDescription;
  try {
    parsed = sdpTransform.parse(text);
  } catch (error) {
    throw new AppError('invalid_sdp', 'sdp does not parse', { cause: error });
  }
  if (!Array.isArray(parsed.media) || parsed.media.length === 0) throw new AppError('invalid_sdp', 'sdp has no m= section');
  const mids = new Set<string>();
  for (const m of parsed.media) {
    if (m.mid === undefined || String(m.mid).length === 0) throw new AppError('invalid_sdp', 'every m= section needs a=mid');
    m.mid = String(m.mid);
    if (mids.has(m.mid)) throw new AppError('invalid_sdp', `mid ${m.mid} is used by two m= sections`);
    mids.add(m.mid);
  }
  return liftBundleOnly(parsed);
}

/** ICE and DTLS parameters of the offer's transport (the first m-section's, BUNDLE). */
export interface RemoteTransportInfo {
  iceUfrag: string;
  icePwd: string;
  fingerprints: types.DtlsFingerprint[];
  setup: string;
}

const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

export function remoteTransportInfo(sdp: SessionDescription): RemoteTransportInfo {
  const first = sdp.media[0]!;
  const iceUfrag = first.iceUfrag ?? sdp.iceUfrag;
  const icePwd = first.icePwd ?? sdp.icePwd;
  const fingerprint = first.fingerprint ?? sdp.fingerprint;
  const setup = first.setup ?? sdp.setup ?? 'actpass';
  if (!iceUfrag || !icePwd) throw new AppError('invalid_sdp', 'offer lacks ice-ufrag/ice-pwd');
  if (!fingerprint) throw new AppError('invalid_sdp', 'offer lacks a DTLS fingerprint');
  const algorithm = fingerprint.type.toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.has(algorithm) || !/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(fingerprint.hash)) {
    throw new AppError('invalid_sdp', 'offer has a malformed DTLS fingerprint');
  }
  if (!['actpass', 'active', 'passive'].includes(setup)) throw new AppError('invalid_sdp', `offer has a=setup:${setup}`);
  return {
    iceUfrag,
    icePwd,
    fingerprints: [{ algorithm: algorithm as types.FingerprintAlgorithm, value: fingerprint.hash.toUpperCase() }],
    setup,
  };
}

/** The createSession offer must be a single data channel section. */
export function assertDataChannelOnly(sdp: SessionDescription): MediaDescription {
  if (sdp.media.length !== 1) throw new AppError('invalid_sdp', 'createSession takes a datachannel-only offer (one m=application section)');
  const m = sdp.media[0]!;
  if (m.type !== 'application' || !/DTLS\/SCTP/.test(m.protocol)) {
    throw new AppError('invalid_sdp', 'createSession takes a datachannel-only offer (one m=application section)');
  }
  if (m.port === 0) throw new AppError('invalid_sdp', 'the data channel section is rejected (port 0)');
  return m;
}

/** Parses "a=b;c=d" fmtp config into mediasoup codec parameters (numbers stay numbers). */
export function parseFmtp(config: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const part of config.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    // profile-level-id is hex: keep it a string.
    out[key] = key !== 'profile-level-id' && /^\d+$/.test(raw) ? Number(raw) : raw;
  }
  return out;
}

export function formatFmtp(parameters: Record<string, unknown> | undefined): string | undefined {
  if (!parameters) return undefined;
  const parts = Object.entries(parameters)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? parts.join(';') : undefined;
}

/** The RTP codecs of an m-section, each with its fmtp parameters and feedback. */
export function sectionCodecs(m: MediaDescription): types.RtpCodecParameters[] {
  const kind = m.type;
  return (m.rtp ?? []).map((rtp) => {
    const fmtp = (m.fmtp ?? []).find((f) => f.payload === rtp.payload);
    const feedback = (m.rtcpFb ?? []).filter((fb) => String(fb.payload) === String(rtp.payload) || fb.payload === '*');
    const codec: types.RtpCodecParameters = {
      mimeType: `${kind}/${rtp.codec}`,
      payloadType: rtp.payload,
      clockRate: rtp.rate ?? 90000,
      parameters: fmtp ? parseFmtp(fmtp.config) : {},
      rtcpFeedback: feedback.map((fb) => ({ type: fb.type, parameter: fb.subtype ?? '' })),
    };
    if (kind === 'audio') codec.channels = rtp.encoding ?? 1;
    return codec;
  });
}

/** What the offer's m-section says about the client's outgoing streams. */
export interface SenderInfo {
  rids: string[];
  ssrc?: number;
  rtxSsrc?: number;
  cname?: string;
}

export function senderInfo(m: MediaDescription): SenderInfo {
  const rids = (m.rids ?? []).filter((r) => r.direction === 'send').map((r) => String(r.id));
  const simulcastOrder = m.simulcast?.dir1 === 'send' ? m.simulcast.list1 : m.simulcast?.dir2 === 'send' ? m.simulcast.list2 : undefined;
  // Order rids as the simulcast line lists them (mediasoup wants low → high).
  const ordered = simulcastOrder
    ? simulcastOrder
        .split(';')
        .map((alt) => alt.split(',')[0]!.replace(/^~/, ''))
        .filter((rid) => rids.includes(rid))
    : rids;
  const cname = (m.ssrcs ?? []).find((s) => s.attribute === 'cname')?.value;
  const fid = (m.ssrcGroups ?? []).find((g) => g.semantics === 'FID');
  const fidSsrcs = fid?.ssrcs.split(/\s+/).map(Number);
  const firstSsrc = (m.ssrcs ?? [])[0]?.id;
  const info: SenderInfo = { rids: ordered };
  if (cname) info.cname = cname;
  if (fidSsrcs && fidSsrcs.length >= 2) {
    info.ssrc = fidSsrcs[0]!;
    info.rtxSsrc = fidSsrcs[1]!;
  } else if (firstSsrc !== undefined) {
    info.ssrc = Number(firstSsrc);
  }
  return info;
}

/** True if the remote side of this m-section sends media. */
export function remoteSends(m: MediaDescription): boolean {
  const direction = m.direction ?? 'sendrecv';
  return m.port !== 0 && (direction === 'sendrecv' || direction === 'sendonly');
}

/** True if the remote side of this m-section is willing to receive media. */
export function remoteReceives(m: MediaDescription): boolean {
  const direction = m.direction ?? 'sendrecv';
  return m.port !== 0 && (direction === 'sendrecv' || direction === 'recvonly');
}
