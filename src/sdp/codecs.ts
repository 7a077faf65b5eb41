// Matching browser codecs against the router's, and turning a publish
// m-section into mediasoup producer parameters. Pure functions.
import { isSameProfile } from 'h264-profile-level-id';
import type { types } from 'mediasoup';
import { AppError } from '../errors.ts';
import { sectionCodecs, senderInfo, type MediaDescription } from './parse.ts';

/** Feedback mechanisms mediasoup implements; anything else is dropped from answers. */
const SUPPORTED_FEEDBACK = new Set(['nack', 'nack pli', 'ccm fir', 'goog-remb', 'transport-cc']);

const isRtx = (c: { mimeType: string }) => /\/rtx$/i.test(c.mimeType);

/** Strict codec match as mediasoup applies it (mime, clock, channels, H264 profile/mode, VP9 profile). */
export function codecsMatch(a: types.RtpCodecParameters | types.RtpCodecCapability, b: types.RtpCodecParameters | types.RtpCodecCapability): boolean {
  if (a.mimeType.toLowerCase() !== b.mimeType.toLowerCase() || a.clockRate !== b.clockRate) return false;
  if (a.mimeType.toLowerCase().startsWith('audio/') && (a.channels ?? 1) !== (b.channels ?? 1)) return false;
  const pa = a.parameters ?? {};
  const pb = b.parameters ?? {};
  switch (a.mimeType.toLowerCase()) {
    case 'video/h264':
      return (pa['packetization-mode'] ?? 0) === (pb['packetization-mode'] ?? 0) && isSameProfile(pa, pb);
    case 'video/vp9':
      return Number(pa['profile-id'] ?? 0) === Number(pb['profile-id'] ?? 0);
    default:
      return true;
  }
}

export interface ChosenCodecs {
  /** The media codec and its RTX, with the offer's payload types. */
  codecs: types.RtpCodecParameters[];
  headerExtensions: types.RtpHeaderExtensionParameters[];
}

/**
 * Picks the first codec of the offer (the browser's preference) that the
 * router forwards, plus its RTX, and the header extensions both support.
 * Payload types and extension ids stay the offer's.
 */
export function chooseCodecs(m: MediaDescription, routerCaps: types.RtpCapabilities): ChosenCodecs {
  const kind = m.type as types.MediaKind;
  const offered = sectionCodecs(m);
  const routerCodecs = (routerCaps.codecs ?? []).filter((c) => c.kind === kind && !isRtx(c));
  let media: types.RtpCodecParameters | undefined;
  let routerCodec: types.RtpCodecCapability | undefined;
  for (const codec of offered) {
    routerCodec = routerCodecs.find((r) => codecsMatch(codec, r));
    if (routerCodec) {
      media = codec;
      break;
    }
  }
  if (!media || !routerCodec) {
    throw new AppError('unsupported_media', `no ${kind} codec in m-section ${m.mid} that the server forwards`);
  }
  const routerFeedback = new Set((routerCodec.rtcpFeedback ?? []).map((fb) => `${fb.type}${fb.parameter ? ' ' + fb.parameter : ''}`));
  const keepFeedback = (codec: types.RtpCodecParameters) => ({
    ...codec,
    rtcpFeedback: (codec.rtcpFeedback ?? []).filter((fb) => {
      const key = `${fb.type}${fb.parameter ? ' ' + fb.parameter : ''}`;
      return SUPPORTED_FEEDBACK.has(key) && routerFeedback.has(key);
    }),
  });
  const codecs = [keepFeedback(media)];
  const rtx = offered.find((c) => isRtx(c) && Number(c.parameters?.['apt']) === media.payloadType);
  if (rtx && kind === 'video') codecs.push({ ...rtx, rtcpFeedback: [] });
  const routerUris = new Set((routerCaps.headerExtensions ?? []).filter((e) => e.kind === kind).map((e) => e.uri));
  const routerIds = routerExtensionIds(routerCaps);
  const headerExtensions = (m.ext ?? [])
    .filter((e) => routerUris.has(e.uri as types.RtpHeaderExtensionUri) && !collides(routerIds, e.value, e.uri))
    .map((e) => ({ uri: e.uri as types.RtpHeaderExtensionUri, id: e.value }));
  return { codecs, headerExtensions };
}

/** The router's header extension ids: forwarded packets carry these, whatever a consumer negotiated. */
export function routerExtensionIds(routerCaps: types.RtpCapabilities): Map<number, string> {
  return new Map((routerCaps.headerExtensions ?? []).map((e) => [e.preferredId, e.uri]));
}

/**
 * True if `id` means another extension in the router's packets. mediasoup
 * writes its own ids into every forwarded packet, so a connection that agreed
 * on `id` for `uri` would misread what it receives (Chromium's default
 * sdes:mid=4 reads the router's abs-send-time=4 as a mid and drops the
 * packet). Such an extension is left out of the answer.
 */
export function collides(routerIds: Map<number, string>, id: number, uri: string): boolean {
  const routerUri = routerIds.get(id);
  return routerUri !== undefined && routerUri !== uri;
}

/** mediasoup producer parameters for a publish m-section. */
export function producerParameters(m: MediaDescription, chosen: ChosenCodecs): types.RtpParameters {
  const sender = senderInfo(m);
  const hasRtx = chosen.codecs.length > 1;
  let encodings: types.RtpEncodingParameters[];
  if (sender.rids.length > 0) {
    encodings = sender.rids.map((rid) => ({ rid }));
  } else if (sender.ssrc !== undefined) {
    encodings = [{ ssrc: sender.ssrc, ...(hasRtx && sender.rtxSsrc !== undefined ? { rtx: { ssrc: sender.rtxSsrc } } : {}) }];
  } else {
    // No ssrc and no rid: mediasoup can still match the stream by MID.
    encodings = [{}];
  }
  const rtcp: types.RtcpParameters = { reducedSize: true };
  if (sender.cname) rtcp.cname = sender.cname;
  return { mid: String(m.mid), codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, encodings, rtcp };
}

/**
 * What a client can receive, learnt from its answer to our priming offer (or
 * from sections it offered): router codecs whose payload type it uses for the
 * same codec, and router extensions it uses with the router's id.
 */
export function capabilitiesFromAnswer(answerSections: MediaDescription[], routerCaps: types.RtpCapabilities): types.RtpCapabilities {
  const codecs: types.RtpCodecCapability[] = [];
  const uris = new Set<string>();
  for (const m of answerSections) {
    if (m.port === 0 || (m.type !== 'audio' && m.type !== 'video')) continue;
    const answered = sectionCodecs(m);
    for (const routerCodec of routerCaps.codecs ?? []) {
      if (routerCodec.kind !== m.type) continue;
      // The same codec on the same payload type; an RTX only for the same apt.
      const match = answered.find(
        (c) =>
          c.payloadType === routerCodec.preferredPayloadType &&
          (isRtx(routerCodec) ? isRtx(c) && Number(c.parameters?.['apt']) === Number(routerCodec.parameters?.['apt']) : codecsMatch(c, routerCodec)),
      );
      if (match && !codecs.some((c) => c.preferredPayloadType === routerCodec.preferredPayloadType)) {
        codecs.push({ ...routerCodec, rtcpFeedback: match.rtcpFeedback ?? [] });
      }
    }
    for (const e of m.ext ?? []) uris.add(`${m.type} ${e.uri} ${e.value}`);
  }
  // Only extensions the description uses with the router's id: the router
  // sends its own ids, so one with another id would be sent wrong.
  const headerExtensions = (routerCaps.headerExtensions ?? []).filter((e) => uris.has(`${e.kind} ${e.uri} ${e.preferredId}`));
  return { codecs, headerExtensions };
}
