import sdpTransform from 'sdp-transform';
import type { types } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { chooseCodecs } from '../../src/sdp/codecs.ts';
import { parseSdp, type MediaDescription, type SessionDescription } from '../../src/sdp/parse.ts';
import { SessionSdp, type LocalTransportInfo, type RtpSection } from '../../src/sdp/session-sdp.ts';
import { LIMITS, parsedFixture, routerCapabilities, section } from './support.ts';

const FINGERPRINT = 'D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F';

const TRANSPORT: LocalTransportInfo = {
  iceParameters: { usernameFragment: 'srvufrag', password: 'srvpassword0123456789', iceLite: true },
  iceCandidates: [
    { foundation: 'udpcandidate', priority: 1076302079, ip: '127.0.0.1', address: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' },
    { foundation: 'tcpcandidate', priority: 1076276479, ip: '127.0.0.1', address: '127.0.0.1', protocol: 'tcp', port: 40000, type: 'host', tcpType: 'passive' },
  ],
  fingerprints: [{ algorithm: 'sha-256', value: FINGERPRINT }],
  sctpPort: 5000,
  maxMessageSize: 262144,
};

const OPUS: types.RtpCodecParameters = {
  mimeType: 'audio/opus',
  payloadType: 111,
  clockRate: 48000,
  channels: 2,
  parameters: { minptime: 10, useinbandfec: 1 },
  rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
};
const VP8: types.RtpCodecParameters = { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] };
const MID_EXT = { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 } as const;

/** A SessionSdp as createSession leaves it: the client's data channel section only. */
function newSession(transport: LocalTransportInfo = TRANSPORT): SessionSdp {
  const sdp = new SessionSdp(transport);
  sdp.sections.push({ kind: 'application', mid: '0' });
  return sdp;
}

/** A consumer-like section: the server sends opus to the client. */
function sendSection(sdp: SessionSdp, send: Partial<NonNullable<RtpSection['send']>> = {}): RtpSection {
  return {
    kind: 'audio',
    mid: sdp.newMid(),
    closed: false,
    codecs: [OPUS],
    headerExtensions: [MID_EXT],
    send: { ssrc: 11111111, cname: 'focicname', streamId: 'stream-a', trackId: 'track-a', ...send },
  };
}

const parse = (text: string): SessionDescription => sdpTransform.parse(text);
const media = (text: string, mid: string): MediaDescription => section(parse(text), mid);
// sdp-transform turns a numeric value into a number ("a=group:BUNDLE 0" gives mids 0): compare as text.
const bundle = (text: string): string | undefined => {
  const group = parse(text).groups?.find((g) => g.type === 'BUNDLE');
  return group === undefined ? undefined : String(group.mids);
};
const lines = (text: string): string[] => text.split('\r\n');

describe('SessionSdp: answer to the createSession (datachannel-only) offer', () => {
  const answer = newSession().render(parsedFixture('datachannel-only.offer.sdp'));

  it('declares ICE lite at session level', () => {
    expect(lines(answer)).toContain('a=ice-lite');
    expect(parse(answer).icelite).toBe('ice-lite');
  });

  it('answers a=setup:passive so the browser is the DTLS client', () => {
    expect(lines(answer)).toContain('a=setup:passive');
    expect(media(answer, '0').setup).toBe('passive');
  });

  it('bundles the offer mid', () => {
    expect(lines(answer)).toContain('a=group:BUNDLE 0');
  });

  it('answers an SCTP section on sctp-port 5000 with max-message-size 262144', () => {
    const m = media(answer, '0');
    expect([m.type, m.protocol, m.payloads]).toEqual(['application', 'UDP/DTLS/SCTP', 'webrtc-datachannel']);
    expect(lines(answer)).toEqual(expect.arrayContaining(['a=sctp-port:5000', 'a=max-message-size:262144']));
  });

  it('carries the transport ICE credentials and fingerprint', () => {
    const m = media(answer, '0');
    expect([m.iceUfrag, m.icePwd]).toEqual(['srvufrag', 'srvpassword0123456789']);
    expect(m.fingerprint).toEqual({ type: 'sha-256', hash: FINGERPRINT });
  });

  it('lists the udp candidate and the tcp candidate as tcptype passive, then end-of-candidates', () => {
    expect(lines(answer)).toEqual(
      expect.arrayContaining([
        'a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 40000 typ host generation 0',
        'a=candidate:tcpcandidate 1 tcp 1076276479 127.0.0.1 40000 typ host tcptype passive generation 0',
        'a=end-of-candidates',
      ]),
    );
  });

  it('is one m-section with CRLF line endings', () => {
    expect(parse(answer).media).toHaveLength(1);
    expect(answer.endsWith('\r\n')).toBe(true);
    expect(answer.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/);
  });
});

describe('SessionSdp: transport details', () => {
  it('marks a tcp candidate without tcpType as passive', () => {
    const transport: LocalTransportInfo = {
      ...TRANSPORT,
      iceCandidates: [{ foundation: 'tcp', priority: 1, ip: '127.0.0.1', address: '127.0.0.1', protocol: 'tcp', port: 40001, type: 'host' }],
    };
    expect(media(newSession(transport).render(), '0').candidates).toEqual([
      { foundation: 'tcp', component: 1, transport: 'tcp', priority: 1, ip: '127.0.0.1', port: 40001, type: 'host', tcptype: 'passive', generation: 0 },
    ]);
  });

  it('prefers the sha-256 fingerprint when the transport has several', () => {
    const transport: LocalTransportInfo = {
      ...TRANSPORT,
      fingerprints: [
        { algorithm: 'sha-1', value: 'AA:AA' },
        { algorithm: 'sha-256', value: FINGERPRINT },
        { algorithm: 'sha-512', value: 'BB:BB' },
      ],
    };
    expect(media(newSession(transport).render(), '0').fingerprint).toEqual({ type: 'sha-256', hash: FINGERPRINT });
  });
});

describe('SessionSdp: server offer with a send (consumer) section', () => {
  function offerWithSend(send: Partial<NonNullable<RtpSection['send']>> = {}) {
    const sdp = newSession();
    const s = sendSection(sdp, send);
    sdp.addServerSection(s);
    return { sdp, s, offer: sdp.render() };
  }

  it('gives new sections server mids s1, s2, …', () => {
    const sdp = newSession();
    expect([sdp.newMid(), sdp.newMid()]).toEqual(['s1', 's2']);
  });

  it('offers the section sendonly', () => {
    const { offer } = offerWithSend();
    expect(media(offer, 's1').direction).toBe('sendonly');
  });

  it('bundles the send section with the data channel', () => {
    const { offer } = offerWithSend();
    expect(bundle(offer)).toBe('0 s1');
  });

  it('writes a=msid with the stream and track ids', () => {
    const { offer } = offerWithSend();
    expect(lines(offer)).toContain('a=msid:stream-a track-a');
  });

  it('writes a=ssrc cname and msid lines', () => {
    const { offer } = offerWithSend();
    expect(lines(offer)).toEqual(expect.arrayContaining(['a=ssrc:11111111 cname:focicname', 'a=ssrc:11111111 msid:stream-a track-a']));
    expect(media(offer, 's1').ssrcGroups).toBeUndefined();
  });

  it('writes an FID group and the RTX ssrc lines when there is an RTX ssrc', () => {
    const { offer } = offerWithSend({ rtxSsrc: 22222222 });
    expect(lines(offer)).toEqual(
      expect.arrayContaining(['a=ssrc-group:FID 11111111 22222222', 'a=ssrc:22222222 cname:focicname', 'a=ssrc:22222222 msid:stream-a track-a']),
    );
  });

  it('writes the codecs with their payload types, fmtp and feedback', () => {
    const { offer } = offerWithSend();
    expect(lines(offer)).toEqual(
      expect.arrayContaining(['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=rtcp-fb:111 transport-cc']),
    );
  });

  it('writes the header extensions with their ids, rtcp-mux and rtcp-rsize', () => {
    const { offer } = offerWithSend();
    expect(lines(offer)).toEqual(expect.arrayContaining(['a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=rtcp-mux', 'a=rtcp-rsize']));
  });

  it('keeps a=setup:passive in its own offers', () => {
    const { offer } = offerWithSend();
    expect(parse(offer).media.map((m) => m.setup)).toEqual(['passive', 'passive']);
  });

  it('offers an idle section (neither send nor recv) inactive, without msid', () => {
    const sdp = newSession();
    sdp.addServerSection({ ...sendSection(sdp), send: undefined });
    const m = media(sdp.render(), 's1');
    expect(m.direction).toBe('inactive');
    expect(m.msid).toBeUndefined();
    expect(m.ssrcs).toBeUndefined();
  });
});

describe('SessionSdp: closed sections', () => {
  function withClosedSection() {
    const sdp = newSession();
    const s = sendSection(sdp);
    sdp.addServerSection(s);
    s.closed = true;
    return { sdp, s };
  }

  it('renders a closed section with port 0 and inactive', () => {
    const { sdp } = withClosedSection();
    const m = media(sdp.render(), 's1');
    expect(m.port).toBe(0);
    expect(m.direction).toBe('inactive');
  });

  it('keeps the closed m-line in place (m-line order never changes)', () => {
    const { sdp } = withClosedSection();
    expect(parse(sdp.render()).media.map((m) => m.mid)).toEqual([0, 's1']);
  });

  it('leaves a closed section out of BUNDLE', () => {
    const { sdp } = withClosedSection();
    expect(bundle(sdp.render())).toBe('0');
  });

  it('writes no msid or ssrc for a closed section that still has send info', () => {
    const { sdp } = withClosedSection();
    const m = media(sdp.render(), 's1');
    expect(m.ssrcs).toBeUndefined();
    expect(m.msid).toBeUndefined();
  });

  it('does not reuse the slot of a closed section before an offer/answer carrying the close completed', () => {
    const { sdp } = withClosedSection();
    sdp.render(); // the close is offered, not yet answered
    sdp.addServerSection(sendSection(sdp, { streamId: 'stream-b', trackId: 'track-b' }));
    const offer = sdp.render();
    expect(parse(offer).media.map((m) => m.mid)).toEqual([0, 's1', 's2']);
    expect(media(offer, 's1').port).toBe(0);
  });

  it('does not reuse a slot closed after the completed description was rendered', () => {
    const sdp = newSession();
    const s = sendSection(sdp);
    sdp.addServerSection(s);
    sdp.render(); // offered open
    sdp.close(s.mid); // closed before the answer came back
    sdp.completed();
    sdp.addServerSection(sendSection(sdp));
    expect(parse(sdp.render()).media.map((m) => m.mid)).toEqual([0, 's1', 's2']);
  });

  it('reuses the slot of a closed section for the next server section, with a new mid, once the close was answered', () => {
    const { sdp } = withClosedSection();
    sdp.render();
    sdp.completed();
    const next = sendSection(sdp, { streamId: 'stream-b', trackId: 'track-b' });
    sdp.addServerSection(next);
    const offer = sdp.render();
    expect(parse(offer).media.map((m) => m.mid)).toEqual([0, 's2']);
    expect(media(offer, 's2').port).toBe(9);
    expect(bundle(offer)).toBe('0 s2');
  });

  it('appends a new section when no slot is closed', () => {
    const sdp = newSession();
    sdp.addServerSection(sendSection(sdp));
    sdp.addServerSection(sendSection(sdp));
    expect(sdp.sections.map((s) => s.mid)).toEqual(['0', 's1', 's2']);
  });
});

describe('SessionSdp: answer to a publish offer', () => {
  const caps = routerCapabilities();

  /** The model after publish: one recv section per offered media section, codecs chosen from the offer. */
  function publishing(offer: SessionDescription, rids: (m: MediaDescription) => string[] = () => []): SessionSdp {
    const sdp = new SessionSdp(TRANSPORT);
    for (const m of offer.media) {
      const chosen = chooseCodecs(m, caps);
      sdp.sections.push({ kind: m.type as types.MediaKind, mid: String(m.mid), closed: false, ...chosen, recv: { rids: rids(m) } });
    }
    return sdp;
  }

  it('renders a simulcast recv section with a=simulcast:recv q;h;f', () => {
    const offer = parsedFixture('simulcast.offer.sdp');
    const answer = publishing(offer, (m) => (m.type === 'video' ? ['q', 'h', 'f'] : [])).render(offer);
    expect(lines(answer)).toContain('a=simulcast:recv q;h;f');
  });

  it('renders a=rid:<id> recv for each rid, in order', () => {
    const offer = parsedFixture('simulcast.offer.sdp');
    const answer = publishing(offer, (m) => (m.type === 'video' ? ['q', 'h', 'f'] : [])).render(offer);
    expect(lines(answer).filter((l) => l.startsWith('a=rid:'))).toEqual(['a=rid:q recv', 'a=rid:h recv', 'a=rid:f recv']);
  });

  it('writes no simulcast attributes for a section without rids', () => {
    const offer = parsedFixture('simulcast.offer.sdp');
    const answer = publishing(offer, (m) => (m.type === 'video' ? ['q', 'h', 'f'] : [])).render(offer);
    expect(media(answer, '0').simulcast).toBeUndefined();
    expect(media(answer, '0').rids).toBeUndefined();
  });

  it('answers the offer mids in the offer order, all bundled', () => {
    const offer = parsedFixture('audio-video.offer.sdp');
    const answer = publishing(offer).render(offer);
    expect(parse(answer).media.map((m) => String(m.mid))).toEqual(['0', '1']);
    expect(bundle(answer)).toBe('0 1');
  });

  it('answers only the chosen codecs with the offer payload types and extension ids', () => {
    const offer = parsedFixture('audio-video.offer.sdp');
    const video = media(publishing(offer).render(offer), '1');
    expect(video.payloads).toBe('96 97');
    // Offer ids, where the router does not use the id for another extension.
    expect(video.ext?.find((e) => e.uri === 'urn:3gpp:video-orientation')?.value).toBe(13);
    expect(video.ext?.find((e) => e.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid')).toBeUndefined();
  });

  it('answers a sendonly offer recvonly', () => {
    const offer = parsedFixture('audio-video.offer.sdp');
    const answer = publishing(offer).render(offer);
    expect(parse(answer).media.map((m) => m.direction)).toEqual(['recvonly', 'recvonly']);
  });

  it.each([
    // [what the offer says, what our section does, what the answer must say]
    ['sendonly', 'recv', 'recvonly'],
    ['sendonly', 'send', 'inactive'],
    ['sendonly', 'both', 'recvonly'],
    ['recvonly', 'send', 'sendonly'],
    ['recvonly', 'recv', 'inactive'],
    ['recvonly', 'both', 'sendonly'],
    ['sendrecv', 'both', 'sendrecv'],
    ['sendrecv', 'recv', 'recvonly'],
    ['sendrecv', 'send', 'sendonly'],
    ['inactive', 'both', 'inactive'],
    ['inactive', 'recv', 'inactive'],
  ] as const)('answers an offer %s to a section that does %s with %s', (offered, ours, expected) => {
    const offer = parsedFixture('audio-only.offer.sdp');
    offer.media[0]!.direction = offered;
    const sdp = new SessionSdp(TRANSPORT);
    sdp.sections.push({
      kind: 'audio',
      mid: '0',
      closed: false,
      codecs: [OPUS],
      headerExtensions: [MID_EXT],
      recv: ours === 'send' ? undefined : { rids: [] },
      send: ours === 'recv' ? undefined : { ssrc: 1234, cname: 'c', streamId: 's', trackId: 't' },
    });
    expect(media(sdp.render(offer), '0').direction).toBe(expected);
  });

  it('writes msid and ssrc only when the answer direction lets the server send', () => {
    const offer = parsedFixture('audio-only.offer.sdp'); // sendonly: the client will not receive
    const sdp = new SessionSdp(TRANSPORT);
    sdp.sections.push({ kind: 'audio', mid: '0', closed: false, codecs: [OPUS], headerExtensions: [], send: { ssrc: 1234, cname: 'c', streamId: 's', trackId: 't' } });
    const m = media(sdp.render(offer), '0');
    expect(m.direction).toBe('inactive');
    expect(m.ssrcs).toBeUndefined();
  });

  it('answers a section the offer rejects (port 0) with port 0', () => {
    const offer = parsedFixture('audio-video.offer.sdp');
    const sdp = publishing(offer);
    offer.media[1]!.port = 0;
    expect(media(sdp.render(offer), '1').port).toBe(0);
  });

  it('leaves a section the offer rejects (port 0) out of BUNDLE', () => {
    const offer = parsedFixture('audio-video.offer.sdp');
    const sdp = publishing(offer);
    offer.media[1]!.port = 0;
    expect(bundle(sdp.render(offer))).toBe('0');
  });
});

describe('SessionSdp: versions, snapshots and output validity', () => {
  it('increases the o= session version on each render and keeps the session id', () => {
    const sdp = newSession();
    const first = parse(sdp.render()).origin!;
    const second = parse(sdp.render()).origin!;
    const third = parse(sdp.render(parsedFixture('datachannel-only.offer.sdp'))).origin!;
    expect([first.sessionVersion, second.sessionVersion, third.sessionVersion]).toEqual([1, 2, 3]);
    expect(second.sessionId).toBe(first.sessionId);
    expect(third.sessionId).toBe(first.sessionId);
  });

  it('gives different sessions different session ids', () => {
    expect(parse(newSession().render()).origin!.sessionId).not.toBe(parse(newSession().render()).origin!.sessionId);
  });

  it('restores a snapshot taken before a failed negotiation', () => {
    const sdp = newSession();
    const before = sdp.snapshot();
    sdp.addServerSection(sendSection(sdp));
    sdp.restore(before);
    expect(sdp.sections.map((s) => s.mid)).toEqual(['0']);
    expect(bundle(sdp.render())).toBe('0');
  });

  it('finds sections by mid and lists the RTP ones', () => {
    const sdp = newSession();
    sdp.addServerSection(sendSection(sdp));
    expect(sdp.find('s1')?.kind).toBe('audio');
    expect(sdp.find('nope')).toBeUndefined();
    expect(sdp.rtpSections.map((s) => s.mid)).toEqual(['s1']);
  });

  it('renders output that re-parses with sdp-transform and with parseSdp to the same sections', () => {
    const sdp = newSession();
    sdp.addServerSection(sendSection(sdp, { rtxSsrc: 2 }));
    const closed = sendSection(sdp);
    sdp.addServerSection(closed);
    sdp.addServerSection({ ...sendSection(sdp), kind: 'video', send: undefined, recv: { rids: ['q', 'h'] }, codecs: [VP8] });
    closed.closed = true;
    const text = sdp.render();
    const viaTransform = parse(text);
    expect(viaTransform.media.map((m) => [m.type, String(m.mid), m.port])).toEqual([
      ['application', '0', 9],
      ['audio', 's1', 9],
      ['audio', 's2', 0],
      ['video', 's3', 9],
    ]);
    expect(sdpTransform.write(viaTransform)).toBe(text);
    expect(parseSdp(text, LIMITS).media).toHaveLength(4);
  });
});
