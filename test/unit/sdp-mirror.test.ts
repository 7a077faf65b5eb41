// Answers mirror their offers per section, and one fmtp per payload type per
// connection, checked on real Firefox ESR and Chromium offers.
import sdpTransform from 'sdp-transform';
import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { capabilitiesFromAnswer, chooseCodecs, producerParameters } from '../../src/sdp/codecs.ts';
import { liftBundleOnly, mirrorOffer } from '../../src/sdp/mirror.ts';
import { parseSdp, type MediaDescription, type SessionDescription } from '../../src/sdp/parse.ts';
import { applyPayloadTypes, recordPayloadTypes } from '../../src/sdp/payload-types.ts';
import { routerSection, SessionSdp, type LocalTransportInfo, type RtpSection } from '../../src/sdp/session-sdp.ts';
import { LIMITS, fixture, parsedFixture, routerCapabilities, section, type FixtureName } from './support.ts';

const TRANSPORT: LocalTransportInfo = {
  iceParameters: { usernameFragment: 'srvufrag', password: 'srvpassword0123456789', iceLite: true },
  iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, ip: '127.0.0.1', address: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' }],
  fingerprints: [{ algorithm: 'sha-256', value: 'D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F' }],
  sctpPort: 5000,
  maxMessageSize: 262144,
};

const caps = routerCapabilities();

/** A session as the server holds it after priming (data channel '0', primed s1 audio and s2 video). */
function primedSession(): SessionSdp {
  const sdp = new SessionSdp(TRANSPORT);
  sdp.sections.push({ kind: 'application', mid: '0' });
  for (const kind of ['audio', 'video'] as const) sdp.addServerSection(routerSection(caps, kind, sdp.newMid()));
  sdp.render(); // the priming offer
  return sdp;
}

/** What Session.publish does with the offer's new sending sections, in short. */
function answerPublish(sdp: SessionSdp, offer: SessionDescription): SessionDescription {
  offer.media.forEach((m, index) => {
    if (m.type === 'application' || sdp.find(String(m.mid)) || m.direction !== 'sendonly') return;
    const chosen = chooseCodecs(m, caps);
    const s: RtpSection = { kind: m.type as types.MediaKind, mid: String(m.mid), closed: false, codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, recv: { rids: [] } };
    sdp.sections[index] = s;
  });
  return sdpTransform.parse(sdp.render(offer));
}

const feedbackOf = (m: MediaDescription) => new Set((m.rtcpFb ?? []).map((fb) => `${fb.payload} ${fb.type}${fb.subtype ? ' ' + fb.subtype : ''}`));
const codecsOf = (m: MediaDescription) => new Map((m.rtp ?? []).map((r) => [r.payload, `${r.codec}/${r.rate}/${r.encoding ?? ''}`.toLowerCase()]));

/** Every answer section carries a subset of its offer section: extension ids, codecs and feedback. */
function expectMirrors(answer: SessionDescription, offer: SessionDescription): void {
  for (const a of answer.media) {
    const o = section(offer, String(a.mid));
    if (a.port === 0 || a.type === 'application') continue;
    const offeredExt = new Map((o.ext ?? []).map((e) => [e.uri, e.value]));
    for (const e of a.ext ?? []) expect([a.mid, e.uri, e.value]).toEqual([a.mid, e.uri, offeredExt.get(e.uri)]);
    const offeredCodecs = codecsOf(o);
    for (const [pt, codec] of codecsOf(a)) expect([a.mid, pt, codec]).toEqual([a.mid, pt, offeredCodecs.get(pt)]);
    const offeredFb = feedbackOf(o);
    for (const fb of feedbackOf(a)) expect(offeredFb.has(fb) || offeredFb.has(fb.replace(/^\d+/, '*')), `${a.mid}: ${fb} not offered`).toBe(true);
  }
}

describe('liftBundleOnly', () => {
  it("reads Firefox's bundle-only sections (port 0) as live, and leaves a stopped section rejected", () => {
    const offer = parsedFixture('firefox-publish-after-prime.offer.sdp');
    expect(offer.media.map((m) => m.port !== 0)).toEqual([true, true, true, true, true]);
    const raw = sdpTransform.parse(fixture('firefox-publish-after-prime.offer.sdp'));
    // A stopped transceiver: port 0 without bundle-only.
    delete (raw.media[3] as { bundleOnly?: string }).bundleOnly;
    expect(liftBundleOnly(raw).media.map((m) => m.port !== 0)).toEqual([true, true, true, false, true]);
  });

  it('does not lift a bundle-only section that is outside the BUNDLE group', () => {
    const raw = sdpTransform.parse(fixture('firefox-publish-after-prime.offer.sdp'));
    raw.groups = [{ type: 'BUNDLE', mids: '0 s1 s2 1' }];
    expect(liftBundleOnly(raw).media.map((m) => m.port !== 0)).toEqual([true, true, true, true, false]);
  });
});

describe('answers mirror their offers per section', () => {
  it("answers Firefox's publish on a primed connection with nothing its offer lacks", () => {
    const offer = parsedFixture('firefox-publish-after-prime.offer.sdp');
    const answer = answerPublish(primedSession(), offer);
    expectMirrors(answer, offer);
    // The primed audio section: the router lists abs-send-time for audio, Firefox did not offer it.
    const primedAudio = section(answer, 's1');
    expect((primedAudio.ext ?? []).map((e) => e.uri)).not.toContain('http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time');
    expect((primedAudio.ext ?? []).map((e) => `${e.value} ${e.uri}`).sort()).toEqual([
      '1 urn:ietf:params:rtp-hdrext:sdes:mid',
      '5 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      '6 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    ]);
  });

  it("keeps Firefox's own payload types in its new sections and the router's in primed ones", () => {
    const offer = parsedFixture('firefox-publish-after-prime.offer.sdp');
    const answer = answerPublish(primedSession(), offer);
    // Firefox's new audio section: opus on its PT 109, which the router does not use.
    const audio = section(answer, '1');
    expect(audio.direction).toBe('recvonly');
    expect((audio.rtp ?? []).map((r) => [r.payload, r.codec])).toEqual([[109, 'opus']]);
    // Its new video section: VP8 on 120 and its RTX 124 (apt=120); feedback only as offered.
    const video = section(answer, '2');
    expect((video.rtp ?? []).map((r) => [r.payload, r.codec])).toEqual([
      [120, 'VP8'],
      [124, 'rtx'],
    ]);
    expect(video.fmtp).toContainEqual({ payload: 124, config: 'apt=120' });
    // The primed video section keeps the router's VP8/VP9 and their RTX, as Firefox re-offered them.
    expect((section(answer, 's2').rtp ?? []).map((r) => r.payload)).toEqual([96, 100, 98, 101]);
  });

  it('answers an extension the offerer only receives as one the answerer only sends', () => {
    const offer = parsedFixture('firefox-publish-after-prime.offer.sdp');
    const answer = answerPublish(primedSession(), offer);
    const playoutDelay = (section(answer, 's2').ext ?? []).find((e) => e.uri.endsWith('playout-delay'));
    // Offered as a=extmap:11/recvonly.
    expect(playoutDelay).toEqual({ value: 11, direction: 'sendonly', uri: 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay' });
  });

  it('mirrors a Firefox publish on a connection that also receives (consumer sections)', () => {
    const offer = parsedFixture('firefox-publish-with-subscription.offer.sdp');
    const sdp = primedSession();
    // The sections the server added for the subscription (s3 audio, s4 video), with the router's lists.
    for (const kind of ['audio', 'video'] as const) {
      sdp.addServerSection({ ...routerSection(caps, kind, sdp.newMid()), send: { ssrc: kind === 'audio' ? 1111 : 2222, cname: 'c', streamId: 'st', trackId: kind } });
    }
    // What the earlier publish left: Firefox's sections 1 and 2.
    for (const [index, mid] of [
      [3, '1'],
      [4, '2'],
    ] as const) {
      const m = section(offer, mid);
      const chosen = chooseCodecs(m, caps);
      sdp.sections.splice(index, 0, { kind: m.type as types.MediaKind, mid, closed: false, codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, recv: { rids: [] } });
    }
    expect(sdp.sections.map((s) => s.mid)).toEqual(offer.media.slice(0, 7).map((m) => String(m.mid)));
    const answer = answerPublish(sdp, offer);
    expect(answer.media.map((m) => String(m.mid))).toEqual(['0', 's1', 's2', '1', '2', 's3', 's4', '3']);
    expectMirrors(answer, offer);
    // The consumer video section: Firefox re-offered VP8 96 and RTX 100 but VP9 on its own 121; the router's 98/101 go.
    expect((section(answer, 's4').rtp ?? []).map((r) => r.payload)).toEqual([96, 100]);
    expect(section(answer, 's4').direction).toBe('sendonly');
  });

  for (const name of ['audio-video.offer.sdp', 'simulcast.offer.sdp', 'h264-only.offer.sdp', 'vp9.offer.sdp'] as FixtureName[]) {
    it(`leaves a Chromium answer within its offer (${name})`, () => {
      const offer = parsedFixture(name);
      const sdp = new SessionSdp(TRANSPORT);
      const answer = answerPublish(sdp, offer);
      expectMirrors(answer, offer);
      for (const m of answer.media) expect((m.rtp ?? []).length).toBeGreaterThan(0);
    });
  }

  it('drops an RTX payload type whose apt the offer gives another codec', () => {
    const offer = sdpTransform.parse(fixture('audio-video.offer.sdp'));
    const video = offer.media.find((m) => m.type === 'video')!;
    const answer: MediaDescription = {
      ...video,
      rtp: [
        { payload: 96, codec: 'VP8', rate: 90000 },
        { payload: 97, codec: 'rtx', rate: 90000 },
      ],
      fmtp: [{ payload: 97, config: 'apt=98' }],
      rtcpFb: [],
    };
    expect((mirrorOffer(answer, video).rtp ?? []).map((r) => r.payload)).toEqual([96]);
  });

  it('leaves a rejected section alone', () => {
    const offer = sdpTransform.parse(fixture('audio-video.offer.sdp'));
    const m = offer.media[0]!;
    const closed = { ...m, port: 0, ext: [{ value: 99, uri: 'urn:x' }] };
    expect(mirrorOffer(closed, m)).toBe(closed);
  });
});

describe('one fmtp per payload type per connection', () => {
  const audio = (pt: number, config: string | undefined): MediaDescription =>
    ({
      type: 'audio',
      port: 9,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: String(pt),
      rtp: [{ payload: pt, codec: 'opus', rate: 48000, encoding: 2 }],
      fmtp: config ? [{ payload: pt, config }] : [],
    }) as MediaDescription;

  it('keeps the first fmtp a payload type was seen with', () => {
    let book = recordPayloadTypes(new Map(), [audio(111, 'minptime=10;useinbandfec=1')]);
    book = recordPayloadTypes(book, [audio(111, 'maxplaybackrate=48000;stereo=1;useinbandfec=1')]);
    expect(book.get(111)?.fmtp).toBe('minptime=10;useinbandfec=1');
    expect(applyPayloadTypes(audio(111, 'maxplaybackrate=48000;stereo=1;useinbandfec=1'), book).fmtp).toEqual([{ payload: 111, config: 'minptime=10;useinbandfec=1' }]);
  });

  it('does not rewrite a payload type the connection has for another codec, or for another H264 profile', () => {
    const book = recordPayloadTypes(new Map(), [audio(111, 'minptime=10')]);
    const g722 = { ...audio(111, undefined), rtp: [{ payload: 111, codec: 'G722', rate: 8000 }] } as MediaDescription;
    expect(applyPayloadTypes(g722, book)).toBe(g722);
    const h264 = (config: string): MediaDescription =>
      ({ type: 'video', port: 9, protocol: 'UDP/TLS/RTP/SAVPF', payloads: '108', rtp: [{ payload: 108, codec: 'H264', rate: 90000 }], fmtp: [{ payload: 108, config }] }) as MediaDescription;
    const videoBook = recordPayloadTypes(new Map(), [h264('packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1')]);
    const main = h264('packetization-mode=1;profile-level-id=4d001f;level-asymmetry-allowed=1');
    expect(applyPayloadTypes(main, videoBook)).toBe(main);
    const sameProfile = h264('level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x=1');
    expect(applyPayloadTypes(sameProfile, videoBook).fmtp).toEqual([{ payload: 108, config: 'packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1' }]);
  });

  it("renders a consumer of a Firefox publisher's Opus with the primed parameters", () => {
    const sdp = primedSession();
    const firefoxOpus = { mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: { maxplaybackrate: 48000, stereo: 1, useinbandfec: 1 }, rtcpFeedback: [] };
    sdp.addServerSection({ kind: 'audio', mid: sdp.newMid(), closed: false, codecs: [firefoxOpus], headerExtensions: [], send: { ssrc: 1, cname: 'c', streamId: 's', trackId: 't' } });
    const offer = sdpTransform.parse(sdp.render());
    const configs = offer.media.flatMap((m) => (m.fmtp ?? []).filter((f) => f.payload === 111).map((f) => f.config));
    expect(new Set(configs)).toEqual(new Set(['minptime=10;useinbandfec=1']));
    expect(configs.length).toBe(2);
  });

  it("takes a client's offered fmtp first when it comes before any section of ours", () => {
    const sdp = new SessionSdp(TRANSPORT);
    const offer = parseSdp(fixture('firefox-publish-after-prime.offer.sdp'), LIMITS);
    // The client's primed audio section offers PT 111 with Firefox's parameters.
    sdp.sections.push({ kind: 'application', mid: '0' });
    sdp.render(offer);
    sdp.addServerSection({ ...routerSection(caps, 'audio', 'x1'), send: { ssrc: 1, cname: 'c', streamId: 's', trackId: 't' } });
    const rendered = sdpTransform.parse(sdp.render());
    expect(section(rendered, 'x1').fmtp?.find((f) => f.payload === 111)?.config).toBe('maxplaybackrate=48000;stereo=1;useinbandfec=1');
  });
});

describe("Firefox's publish offer as producer parameters", () => {
  it('takes its RTX stream from the FID group (Firefox names RTX only by SSRC)', () => {
    const offer = parsedFixture('firefox-publish-after-prime.offer.sdp');
    const video = section(offer, '2');
    const fid = /a=ssrc-group:FID (\d+) (\d+)/.exec(fixture('firefox-publish-after-prime.offer.sdp'))!;
    const params = producerParameters(video, chooseCodecs(video, caps));
    expect(params.codecs.map((c) => `${c.mimeType} ${c.payloadType}`)).toEqual(['video/VP8 120', 'video/rtx 124']);
    expect(params.encodings).toEqual([{ ssrc: Number(fid[1]), rtx: { ssrc: Number(fid[2]) } }]);
    expect(params.mid).toBe('2');
  });
});

describe("Firefox's answers to server offers", () => {
  it('teach the receive capabilities from the priming answer: Opus, VP8, VP9 and their RTX, no H264', () => {
    const answer = parsedFixture('firefox-prime.answer.sdp');
    const learnt = capabilitiesFromAnswer(answer.media, caps);
    expect((learnt.codecs ?? []).map((c) => `${c.mimeType} ${c.preferredPayloadType}`)).toEqual([
      'audio/opus 111',
      'video/VP8 96',
      'video/rtx 100',
      'video/VP9 98',
      'video/rtx 101',
    ]);
    // Firefox keeps abs-send-time for video, not for audio; the router's ids stay.
    const ext = (learnt.headerExtensions ?? []).map((e) => `${e.kind} ${e.preferredId} ${e.uri.split(/[/:]/).pop()}`);
    expect(ext).toContain('video 4 abs-send-time');
    expect(ext).not.toContain('audio 4 abs-send-time');
  });

  it("answer a subscribe offer on the server's mids, with the router's payload types", () => {
    const answer = parsedFixture('firefox-subscribe.answer.sdp');
    const media = answer.media.filter((m) => m.type !== 'application' && m.port !== 0 && m.direction === 'recvonly');
    expect(media.map((m) => [m.type, String(m.mid)])).toEqual([
      ['audio', 's3'],
      ['video', 's4'],
    ]);
    expect((media[0]!.rtp ?? [])[0]).toMatchObject({ payload: 111, codec: 'opus' });
    expect((media[1]!.rtp ?? [])[0]).toMatchObject({ payload: 96, codec: 'VP8' });
  });
});
