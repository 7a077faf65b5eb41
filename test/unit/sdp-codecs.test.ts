import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { capabilitiesFromAnswer, chooseCodecs, codecsMatch, producerParameters } from '../../src/sdp/codecs.ts';
import { parseSdp, type MediaDescription } from '../../src/sdp/parse.ts';
import { routerSection, SessionSdp, type RtpSection } from '../../src/sdp/session-sdp.ts';
import { ALL_OFFER_FIXTURES, LIMITS, captured, expectAppError, fixture, parsedFixture, routerCapabilities, section } from './support.ts';

const caps = routerCapabilities();
// ssrcs and cnames change with each capture of the fixtures.
const AV = captured('audio-video.offer.sdp');

const SUPPORTED_FEEDBACK = ['nack', 'nack pli', 'ccm fir', 'goog-remb', 'transport-cc'];
const feedbackKeys = (codec: { rtcpFeedback?: types.RtcpFeedback[] | undefined }) => (codec.rtcpFeedback ?? []).map((fb) => (fb.parameter ? `${fb.type} ${fb.parameter}` : fb.type));

/** A copy of an m-section without the given payload types (rtpmap, fmtp and rtcp-fb). */
function withoutPayloads(m: MediaDescription, drop: number[]): MediaDescription {
  const keep = (pt: number | string) => !drop.includes(Number(pt));
  return {
    ...m,
    payloads: m.payloads!.split(' ').filter(keep).join(' '),
    rtp: m.rtp.filter((r) => keep(r.payload)),
    fmtp: m.fmtp.filter((f) => keep(f.payload)),
    rtcpFb: (m.rtcpFb ?? []).filter((f) => keep(f.payload)),
  };
}

type RtpMapping = ReturnType<typeof mediasoup.ortc.getProducerRtpParametersMapping>;

/** The checks mediasoup's transport.produce() applies to RtpParameters, without a worker. */
function mediasoupAccepts(params: types.RtpParameters): RtpMapping {
  const copy = structuredClone(params);
  mediasoup.ortc.validateAndNormalizeRtpParameters(copy);
  return mediasoup.ortc.getProducerRtpParametersMapping(copy, caps);
}

/** A primed section as the session offers it: every router codec of `kind`, router payload types and ids. */
const primedSection = (kind: types.MediaKind, mid: string): RtpSection => routerSection(caps, kind, mid);

function sessionSdp(): SessionSdp {
  return new SessionSdp({
    iceParameters: { usernameFragment: 'ufrag', password: 'password', iceLite: true },
    iceCandidates: [{ foundation: 'udp', priority: 1, ip: '127.0.0.1', address: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' }],
    fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB:CC' }],
    sctpPort: 5000,
    maxMessageSize: 262144,
  });
}

/** Renders `sections` with SessionSdp and parses it back: a stand-in for the client's answer. */
function renderedMedia(sections: RtpSection[]): MediaDescription[] {
  const sdp = sessionSdp();
  for (const s of sections) sdp.addServerSection(s);
  return parseSdp(sdp.render(), LIMITS).media;
}

describe('chooseCodecs: audio-video offer', () => {
  const offer = parsedFixture('audio-video.offer.sdp');
  const audio = chooseCodecs(section(offer, '0'), caps);
  const video = chooseCodecs(section(offer, '1'), caps);

  it('picks opus 111 for audio, with the offer fmtp and no RTX', () => {
    expect(audio.codecs).toEqual([
      {
        mimeType: 'audio/opus',
        payloadType: 111,
        clockRate: 48000,
        channels: 2,
        parameters: { minptime: 10, useinbandfec: 1 },
        rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
      },
    ]);
  });

  it('picks VP8 96 and its RTX 97 for video', () => {
    expect(video.codecs.map((c) => [c.mimeType, c.payloadType])).toEqual([
      ['video/VP8', 96],
      ['video/rtx', 97],
    ]);
    expect(video.codecs[1]!.parameters).toEqual({ apt: 96 });
  });

  // This offer is Chromium's on a fresh connection (no priming): its ids are
  // Chromium's defaults, and most of them mean another extension in the
  // router's packets (router: mid=1, rid=2, rrid=3, abs-send-time=4,
  // transport-cc=5, …, abs-capture-time=10, playout-delay=11).
  it('leaves out audio header extensions whose offered id the router uses for another extension', () => {
    expect(audio.headerExtensions).toEqual([]);
  });

  it('keeps, with the offer ids, the video header extensions the router supports on ids it does not use otherwise', () => {
    expect(video.headerExtensions).toEqual([
      { uri: 'urn:ietf:params:rtp-hdrext:toffset', id: 14 },
      { uri: 'urn:3gpp:video-orientation', id: 13 },
    ]);
  });

  it('keeps every extension an offer uses with the router\'s own ids (a primed connection)', () => {
    const primed = structuredClone(section(offer, "1"));
    primed.ext = (caps.headerExtensions ?? []).filter((e) => e.kind === 'video').map((e) => ({ value: e.preferredId, uri: e.uri }));
    const chosen = chooseCodecs(primed, caps);
    const supported = primed.ext.filter((e) => !/packet-id|dependency-descriptor|abs-capture-time/.test(e.uri));
    expect(chosen.headerExtensions.map((e) => `${e.id} ${e.uri}`)).toEqual(expect.arrayContaining(supported.map((e) => `${e.value} ${e.uri}`)));
  });

  it('drops header extensions the router does not support', () => {
    const uris = video.headerExtensions.map((e) => e.uri as string);
    expect(uris).not.toContain('http://www.webrtc.org/experiments/rtp-hdrext/video-content-type');
    expect(uris).not.toContain('http://www.webrtc.org/experiments/rtp-hdrext/video-timing');
    expect(uris).not.toContain('http://www.webrtc.org/experiments/rtp-hdrext/color-space');
  });

  it('keeps only audio extensions in an audio section (no video-only URIs)', () => {
    const audioUris = new Set((caps.headerExtensions ?? []).filter((e) => e.kind === 'audio').map((e) => e.uri as string));
    expect(audio.headerExtensions.every((e) => audioUris.has(e.uri))).toBe(true);
  });
});

describe('chooseCodecs: codec preference and profiles', () => {
  it('picks H264 with packetization-mode 1 and a profile the router has, plus its RTX (h264-only)', () => {
    const chosen = chooseCodecs(section(parsedFixture('h264-only.offer.sdp'), '1'), caps);
    const [h264, rtx] = chosen.codecs;
    expect(h264).toMatchObject({ mimeType: 'video/H264', payloadType: 108, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } });
    expect((caps.codecs ?? []).some((r) => codecsMatch(h264!, r))).toBe(true);
    expect(rtx).toMatchObject({ mimeType: 'video/rtx', payloadType: 109, parameters: { apt: 108 } });
    expect(chosen.codecs).toHaveLength(2);
  });

  it('skips H264 Baseline 42001f (pt 102), which the router does not forward', () => {
    const offered = section(parsedFixture('h264-only.offer.sdp'), '1');
    expect(offered.rtp[0]!.payload).toBe(102);
    expect(chooseCodecs(offered, caps).codecs[0]!.payloadType).not.toBe(102);
  });

  it('falls back to H264 Main 4d001f when Constrained Baseline is not offered', () => {
    const offered = withoutPayloads(section(parsedFixture('h264-only.offer.sdp'), '1'), [108, 109]);
    const chosen = chooseCodecs(offered, caps);
    expect(chosen.codecs.map((c) => [c.payloadType, c.parameters?.['profile-level-id'] ?? c.parameters?.['apt']])).toEqual([
      [116, '4d001f'],
      [117, 116],
    ]);
  });

  it('picks VP9 profile-id 0 (98) and its RTX 99, not profile 2 (vp9)', () => {
    const chosen = chooseCodecs(section(parsedFixture('vp9.offer.sdp'), '0'), caps);
    expect(chosen.codecs.map((c) => [c.mimeType, c.payloadType, c.parameters])).toEqual([
      ['video/VP9', 98, { 'profile-id': 0 }],
      ['video/rtx', 99, { apt: 98 }],
    ]);
  });

  it('refuses an offer of VP9 profile 2 only with unsupported_media', () => {
    const offered = withoutPayloads(section(parsedFixture('vp9.offer.sdp'), '0'), [98, 99]);
    expectAppError(() => chooseCodecs(offered, caps), 'unsupported_media');
  });

  it('refuses an m-section with only AV1 with unsupported_media, naming the mid', () => {
    const text = fixture('vp9.offer.sdp').replaceAll('VP9/90000', 'AV1/90000').replaceAll(/profile-id=\d/g, 'level-idx=5;profile=0;tier=0');
    const error = expectAppError(() => chooseCodecs(parseSdp(text, LIMITS).media[0]!, caps), 'unsupported_media');
    expect(error.message).toMatch(/m-section 0/);
  });

  it('refuses an audio section without opus with unsupported_media', () => {
    const offered = withoutPayloads(section(parsedFixture('audio-only.offer.sdp'), '0'), [111]);
    expect(offered.rtp.length).toBeGreaterThan(0);
    expectAppError(() => chooseCodecs(offered, caps), 'unsupported_media');
  });
});

describe('chooseCodecs: RTCP feedback', () => {
  it('keeps exactly nack, nack pli, ccm fir, goog-remb and transport-cc for VP8', () => {
    const [vp8] = chooseCodecs(section(parsedFixture('simulcast.offer.sdp'), '1'), caps).codecs;
    expect(feedbackKeys(vp8!).sort()).toEqual([...SUPPORTED_FEEDBACK].sort());
  });

  it('drops feedback mediasoup does not implement', () => {
    const m = section(parsedFixture('simulcast.offer.sdp'), '1');
    const extended = {
      ...m,
      rtcpFb: [...(m.rtcpFb ?? []), { payload: 96, type: 'goog-lntf' }, { payload: 96, type: 'nack', subtype: 'rpsi' }, { payload: 96, type: 'ccm', subtype: 'tmmbr' }],
    };
    const [vp8] = chooseCodecs(extended, caps).codecs;
    expect(feedbackKeys(vp8!).sort()).toEqual([...SUPPORTED_FEEDBACK].sort());
  });

  it('keeps only the feedback the offer has (opus: transport-cc, not the router nack)', () => {
    const [opus] = chooseCodecs(section(parsedFixture('audio-only.offer.sdp'), '0'), caps).codecs;
    expect(feedbackKeys(opus!)).toEqual(['transport-cc']);
  });

  it('gives RTX no feedback', () => {
    const [, rtx] = chooseCodecs(section(parsedFixture('audio-video.offer.sdp'), '1'), caps).codecs;
    expect(rtx!.rtcpFeedback).toEqual([]);
  });
});

describe('producerParameters', () => {
  it('gives the simulcast video one encoding per rid, low to high, and its mid', () => {
    const m = section(parsedFixture('simulcast.offer.sdp'), '1');
    const params = producerParameters(m, chooseCodecs(m, caps));
    expect(params.mid).toBe('1');
    expect(params.encodings).toEqual([{ rid: 'q' }, { rid: 'h' }, { rid: 'f' }]);
  });

  it('gives a non-simulcast video one encoding with its ssrc and RTX ssrc', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '1');
    const params = producerParameters(m, chooseCodecs(m, caps));
    const { ssrc, rtxSsrc } = AV.sender('1');
    expect(params.encodings).toEqual([{ ssrc, rtx: { ssrc: rtxSsrc } }]);
    expect(ssrc).not.toBe(rtxSsrc);
  });

  it('gives audio one encoding with its ssrc and no RTX', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '0');
    expect(producerParameters(m, chooseCodecs(m, caps)).encodings).toEqual([{ ssrc: AV.sender('0').ssrc }]);
  });

  it('sets rtcp.cname from the a=ssrc cname, with reduced-size RTCP', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '1');
    expect(producerParameters(m, chooseCodecs(m, caps)).rtcp).toEqual({ cname: AV.sender('1').cname, reducedSize: true });
  });

  it('leaves the RTX ssrc out when no RTX codec was chosen', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '1');
    const chosen = chooseCodecs(m, caps);
    const params = producerParameters(m, { ...chosen, codecs: chosen.codecs.slice(0, 1) });
    expect(params.encodings).toEqual([{ ssrc: AV.sender('1').ssrc }]);
  });

  it('gives one empty encoding (matched by MID) when the section has neither ssrc nor rid', () => {
    const m = { ...section(parsedFixture('audio-video.offer.sdp'), '0'), ssrcs: [], ssrcGroups: [] };
    expect(producerParameters(m, chooseCodecs(m, caps)).encodings).toEqual([{}]);
  });

  it('passes the chosen codecs and header extensions through unchanged', () => {
    const m = section(parsedFixture('vp9.offer.sdp'), '0');
    const chosen = chooseCodecs(m, caps);
    const params = producerParameters(m, chosen);
    expect(params.codecs).toBe(chosen.codecs);
    expect(params.headerExtensions).toBe(chosen.headerExtensions);
  });

  const mediaSections = ALL_OFFER_FIXTURES.flatMap((name) =>
    parsedFixture(name)
      .media.filter((m) => m.type !== 'application')
      .map((m) => [`${name} mid ${m.mid} (${m.type})`, m] as const),
  );

  it.each(mediaSections)('passes mediasoup validation and producer mapping: %s', (_label, m) => {
    const params = producerParameters(m, chooseCodecs(m, caps));
    const mapping = mediasoupAccepts(params);
    expect(mapping.codecs.map((c) => c.payloadType)).toEqual(params.codecs.map((c) => c.payloadType));
    expect(mapping.encodings).toHaveLength(params.encodings!.length);
  });

  it('maps the offer RTX payload type onto the router RTX of the same media codec', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '1');
    const mapping = mediasoupAccepts(producerParameters(m, chooseCodecs(m, caps)));
    const routerRtx = (caps.codecs ?? []).find((c) => c.mimeType === 'video/rtx' && c.parameters?.['apt'] === 96)!;
    expect(mapping.codecs).toEqual([
      { payloadType: 96, mappedPayloadType: 96 },
      { payloadType: 97, mappedPayloadType: routerRtx.preferredPayloadType },
    ]);
  });
});

describe('codecsMatch', () => {
  const h264 = (profileLevelId: string, packetizationMode?: number): types.RtpCodecParameters => ({
    mimeType: 'video/H264',
    payloadType: 102,
    clockRate: 90000,
    parameters: { 'profile-level-id': profileLevelId, ...(packetizationMode === undefined ? {} : { 'packetization-mode': packetizationMode }) },
  });
  const vp9 = (profileId?: number | string): types.RtpCodecParameters => ({
    mimeType: 'video/VP9',
    payloadType: 98,
    clockRate: 90000,
    parameters: profileId === undefined ? {} : { 'profile-id': profileId },
  });
  const opus = (channels: number): types.RtpCodecParameters => ({ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels });

  it('tells H264 Constrained Baseline 42e01f from Baseline 42001f', () => {
    expect(codecsMatch(h264('42e01f', 1), h264('42001f', 1))).toBe(false);
  });

  it('matches H264 of one profile at different levels', () => {
    expect(codecsMatch(h264('42e01f', 1), h264('42e034', 1))).toBe(true);
  });

  it('tells H264 packetization-mode 0 from 1', () => {
    expect(codecsMatch(h264('42e01f', 0), h264('42e01f', 1))).toBe(false);
  });

  it('treats a missing packetization-mode as 0', () => {
    expect(codecsMatch(h264('42e01f'), h264('42e01f', 0))).toBe(true);
    expect(codecsMatch(h264('42e01f'), h264('42e01f', 1))).toBe(false);
  });

  it('tells VP9 profile 0 from profile 2', () => {
    expect(codecsMatch(vp9(0), vp9(2))).toBe(false);
  });

  it('treats a missing VP9 profile-id as 0, and "0" as 0', () => {
    expect(codecsMatch(vp9(), vp9(0))).toBe(true);
    expect(codecsMatch(vp9('0'), vp9(0))).toBe(true);
  });

  it('tells opus stereo from mono', () => {
    expect(codecsMatch(opus(2), opus(1))).toBe(false);
  });

  it('compares mime types case-insensitively', () => {
    const a: types.RtpCodecParameters = { mimeType: 'video/vp8', payloadType: 96, clockRate: 90000 };
    const b: types.RtpCodecParameters = { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 };
    expect(codecsMatch(a, b)).toBe(true);
  });

  it('tells codecs with different clock rates apart', () => {
    const a: types.RtpCodecParameters = { mimeType: 'audio/telephone-event', payloadType: 110, clockRate: 48000 };
    const b: types.RtpCodecParameters = { mimeType: 'audio/telephone-event', payloadType: 126, clockRate: 8000 };
    expect(codecsMatch(a, b)).toBe(false);
  });
});

describe('capabilitiesFromAnswer', () => {
  const routerPts = (kind: types.MediaKind) => (caps.codecs ?? []).filter((c) => c.kind === kind).map((c) => [c.mimeType, c.preferredPayloadType]);

  it('learns every router codec the answer kept, with the router payload types', () => {
    const learnt = capabilitiesFromAnswer(renderedMedia([primedSection('audio', 's1'), primedSection('video', 's2')]), caps);
    expect(learnt.codecs!.map((c) => [c.mimeType, c.preferredPayloadType])).toEqual([...routerPts('audio'), ...routerPts('video')]);
  });

  it('returns the router codec itself (parameters included), with the answered feedback', () => {
    const learnt = capabilitiesFromAnswer(renderedMedia([primedSection('video', 's1')]), caps);
    const h264 = learnt.codecs!.find((c) => c.preferredPayloadType === 108)!;
    expect(h264).toMatchObject({ kind: 'video', mimeType: 'video/H264', parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } });
    expect(feedbackKeys(h264).sort()).toEqual([...SUPPORTED_FEEDBACK].sort());
  });

  it('leaves out codecs the answer dropped', () => {
    const video = primedSection('video', 's1');
    video.codecs = video.codecs.filter((c) => c.payloadType === 96 || c.parameters?.['apt'] === 96);
    const learnt = capabilitiesFromAnswer(renderedMedia([video]), caps);
    const rtx = (caps.codecs ?? []).find((c) => c.mimeType === 'video/rtx' && c.parameters?.['apt'] === 96)!;
    expect(learnt.codecs!.map((c) => [c.mimeType, c.preferredPayloadType])).toEqual([
      ['video/VP8', 96],
      ['video/rtx', rtx.preferredPayloadType],
    ]);
  });

  it('does not recognise a router codec answered under another payload type', () => {
    const video = primedSection('video', 's1');
    video.codecs = video.codecs.filter((c) => c.payloadType === 96).map((c) => ({ ...c, payloadType: 120 }));
    expect(capabilitiesFromAnswer(renderedMedia([video]), caps).codecs).toEqual([]);
  });

  it('ignores rejected (port 0) sections', () => {
    const audio = primedSection('audio', 's1');
    const video = { ...primedSection('video', 's2'), closed: true };
    const learnt = capabilitiesFromAnswer(renderedMedia([audio, video]), caps);
    expect(learnt.codecs!.map((c) => c.kind)).toEqual(['audio']);
  });

  it('ignores the data channel section', () => {
    const media = parsedFixture('datachannel-and-media.offer.sdp').media.filter((m) => m.type === 'application');
    expect(capabilitiesFromAnswer(media, caps)).toEqual({ codecs: [], headerExtensions: [] });
  });

  it('learns the router header extensions whose URI the answer kept, per kind', () => {
    const audio = primedSection('audio', 's1');
    audio.headerExtensions = audio.headerExtensions.filter((e) => e.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid');
    const learnt = capabilitiesFromAnswer(renderedMedia([audio]), caps);
    expect(learnt.headerExtensions).toEqual([
      { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1, preferredEncrypt: false, direction: 'sendrecv' },
    ]);
  });

  it('gives capabilities with which mediasoup can build a VP8 consumer for a published VP8 track', () => {
    const learnt = capabilitiesFromAnswer(renderedMedia([primedSection('audio', 's1'), primedSection('video', 's2')]), caps);
    const m = section(parsedFixture('audio-video.offer.sdp'), '1');
    const params = structuredClone(producerParameters(m, chooseCodecs(m, caps)));
    mediasoup.ortc.validateAndNormalizeRtpParameters(params);
    const mapping = mediasoup.ortc.getProducerRtpParametersMapping(params, caps);
    const consumable = mediasoup.ortc.getConsumableRtpParameters('video', params, caps, mapping);
    expect(mediasoup.ortc.canConsume(consumable, learnt)).toBe(true);
    const consumer = mediasoup.ortc.getConsumerRtpParameters({ consumableRtpParameters: consumable, remoteRtpCapabilities: learnt, pipe: false, enableRtx: true });
    expect(consumer.codecs.map((c) => [c.mimeType, c.payloadType])).toEqual([
      ['video/VP8', 96],
      ['video/rtx', (caps.codecs ?? []).find((c) => c.mimeType === 'video/rtx' && c.parameters?.['apt'] === 96)!.preferredPayloadType],
    ]);
  });
});
