import { describe, expect, it } from 'vitest';
import {
  assertDataChannelOnly,
  formatFmtp,
  parseFmtp,
  parseSdp,
  remoteReceives,
  remoteSends,
  remoteTransportInfo,
  sectionCodecs,
  senderInfo,
} from '../../src/sdp/parse.ts';
import { LIMITS, captured, expectAppError, fixture, parsedFixture, section } from './support.ts';

// Credentials, fingerprints and ssrcs change with each capture of the fixtures.
const AV = captured('audio-video.offer.sdp');
const DC = captured('datachannel-only.offer.sdp');

/** Inserts `line` right after the first line that starts with `after`. */
function insertAfter(sdp: string, after: string, line: string): string {
  const at = sdp.indexOf('\r\n', sdp.indexOf(after)) + 2;
  return sdp.slice(0, at) + line + '\r\n' + sdp.slice(at);
}

/** Removes every line that starts with `prefix`. */
function dropLines(sdp: string, prefix: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith(prefix))
    .join('\r\n');
}

describe('parseSdp', () => {
  it('parses a real offer into its m-sections', () => {
    const sdp = parseSdp(fixture('audio-video.offer.sdp'), LIMITS);
    expect(sdp.media.map((m) => [m.type, m.mid])).toEqual([
      ['audio', '0'],
      ['video', '1'],
    ]);
  });

  it('turns mids into strings (sdp-transform makes numeric mids numbers)', () => {
    const sdp = parseSdp(fixture('datachannel-only.offer.sdp'), LIMITS);
    expect(sdp.media[0]!.mid).toBe('0');
  });

  it.each([
    ['a number', 42],
    ['undefined', undefined],
    ['null', null],
    ['a Buffer', Buffer.from('v=0\r\n')],
    ['an object', { sdp: 'v=0' }],
  ])('rejects %s with invalid_sdp', (_label, input) => {
    expectAppError(() => parseSdp(input, LIMITS), 'invalid_sdp');
  });

  it('rejects an empty string with invalid_sdp', () => {
    expectAppError(() => parseSdp('', LIMITS), 'invalid_sdp');
  });

  it('rejects an offer over maxSdpBytes', () => {
    const text = fixture('audio-video.offer.sdp');
    const error = expectAppError(() => parseSdp(text, { ...LIMITS, maxSdpBytes: text.length - 1 }), 'invalid_sdp');
    expect(error.message).toMatch(/larger than/);
  });

  it('accepts an offer of exactly maxSdpBytes', () => {
    const text = fixture('audio-video.offer.sdp');
    expect(parseSdp(text, { ...LIMITS, maxSdpBytes: Buffer.byteLength(text) }).media).toHaveLength(2);
  });

  it('counts maxSdpBytes in UTF-8 bytes, not characters', () => {
    const text = fixture('datachannel-only.offer.sdp').replace('s=-', 's=ééééé');
    expectAppError(() => parseSdp(text, { ...LIMITS, maxSdpBytes: text.length }), 'invalid_sdp');
  });

  it('rejects an offer with a line over maxSdpLineBytes', () => {
    const text = insertAfter(fixture('datachannel-only.offer.sdp'), 'a=mid:0', `a=x-long:${'a'.repeat(LIMITS.maxSdpLineBytes)}`);
    const error = expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
    expect(error.message).toMatch(/line is longer/);
  });

  it('accepts a line of exactly maxSdpLineBytes', () => {
    const line = `a=x-long:${'a'.repeat(LIMITS.maxSdpLineBytes - 'a=x-long:'.length)}`;
    expect(line).toHaveLength(LIMITS.maxSdpLineBytes);
    const text = insertAfter(fixture('datachannel-only.offer.sdp'), 'a=mid:0', line);
    expect(parseSdp(text, LIMITS).media).toHaveLength(1);
  });

  it('counts maxSdpLineBytes in UTF-8 bytes, not characters', () => {
    const text = insertAfter(fixture('datachannel-only.offer.sdp'), 'a=mid:0', `a=x-label:${'€'.repeat(2000)}`);
    expect(Buffer.byteLength(text)).toBeLessThan(LIMITS.maxSdpBytes);
    expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
  });

  it('rejects text that does not start with v=0', () => {
    const text = fixture('datachannel-only.offer.sdp').replace(/^v=0\r\n/, '');
    const error = expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
    expect(error.message).toMatch(/v=0/);
  });

  it('rejects an offer that starts with a blank line', () => {
    expectAppError(() => parseSdp('\r\n' + fixture('datachannel-only.offer.sdp'), LIMITS), 'invalid_sdp');
  });

  it('rejects an offer without any m= section', () => {
    const text = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
    const error = expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
    expect(error.message).toMatch(/no m= section/);
  });

  it('rejects an m-section without a=mid', () => {
    const text = dropLines(fixture('audio-video.offer.sdp'), 'a=mid:1');
    const error = expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
    expect(error.message).toMatch(/a=mid/);
  });

  it('rejects an offer in which two m-sections share a mid', () => {
    const text = fixture('audio-video.offer.sdp').replace('a=mid:1', 'a=mid:0').replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0');
    expectAppError(() => parseSdp(text, LIMITS), 'invalid_sdp');
  });
});

describe('remoteTransportInfo', () => {
  it('reads ICE credentials, the sha-256 fingerprint and a=setup from a real offer', () => {
    expect(remoteTransportInfo(parsedFixture('audio-video.offer.sdp'))).toEqual({
      iceUfrag: AV.iceUfrag,
      icePwd: AV.icePwd,
      fingerprints: [{ algorithm: 'sha-256', value: AV.fingerprint.toUpperCase() }],
      setup: 'actpass',
    });
    expect(AV.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('reads the datachannel-only offer too', () => {
    const info = remoteTransportInfo(parsedFixture('datachannel-only.offer.sdp'));
    expect(info.iceUfrag).toBe(DC.iceUfrag);
    expect(info.icePwd).toBe(DC.icePwd);
    expect(info.fingerprints).toEqual([{ algorithm: 'sha-256', value: DC.fingerprint.toUpperCase() }]);
    expect(info.setup).toBe('actpass');
  });

  it('uppercases the fingerprint and lowercases its algorithm', () => {
    const text = fixture('audio-video.offer.sdp').replaceAll(`sha-256 ${AV.fingerprint}`, `SHA-256 ${AV.fingerprint.toLowerCase()}`);
    expect(text).toContain(AV.fingerprint.toLowerCase());
    expect(remoteTransportInfo(parseSdp(text, LIMITS)).fingerprints).toEqual([{ algorithm: 'sha-256', value: AV.fingerprint.toUpperCase() }]);
  });

  it('falls back to session-level ice and fingerprint attributes', () => {
    let text = fixture('datachannel-only.offer.sdp');
    const moved = ['a=ice-ufrag:', 'a=ice-pwd:', 'a=fingerprint:'].map((p) => text.split('\r\n').find((l) => l.startsWith(p))!);
    for (const p of ['a=ice-ufrag:', 'a=ice-pwd:', 'a=fingerprint:']) text = dropLines(text, p);
    text = insertAfter(text, 't=0 0', moved.join('\r\n'));
    const info = remoteTransportInfo(parseSdp(text, LIMITS));
    expect(info.iceUfrag).toBe(DC.iceUfrag);
    expect(info.fingerprints[0]!.value).toBe(DC.fingerprint.toUpperCase());
  });

  it('defaults a missing a=setup to actpass', () => {
    const text = dropLines(fixture('datachannel-only.offer.sdp'), 'a=setup:');
    expect(remoteTransportInfo(parseSdp(text, LIMITS)).setup).toBe('actpass');
  });

  it('rejects a=setup:holdconn', () => {
    const text = fixture('datachannel-only.offer.sdp').replace('a=setup:actpass', 'a=setup:holdconn');
    expectAppError(() => remoteTransportInfo(parseSdp(text, LIMITS)), 'invalid_sdp');
  });

  it('rejects a fingerprint whose value is not hex pairs', () => {
    const text = fixture('datachannel-only.offer.sdp').replace(/a=fingerprint:sha-256 \S+/, 'a=fingerprint:sha-256 ZZ:YY:XX');
    const error = expectAppError(() => remoteTransportInfo(parseSdp(text, LIMITS)), 'invalid_sdp');
    expect(error.message).toMatch(/fingerprint/);
  });

  it('rejects a fingerprint with an unknown hash algorithm', () => {
    const text = fixture('datachannel-only.offer.sdp').replace('a=fingerprint:sha-256', 'a=fingerprint:md5');
    expectAppError(() => remoteTransportInfo(parseSdp(text, LIMITS)), 'invalid_sdp');
  });

  it('rejects an offer without a fingerprint', () => {
    const text = dropLines(fixture('datachannel-only.offer.sdp'), 'a=fingerprint:');
    expectAppError(() => remoteTransportInfo(parseSdp(text, LIMITS)), 'invalid_sdp');
  });

  it('rejects an offer without ICE credentials', () => {
    const text = dropLines(fixture('datachannel-only.offer.sdp'), 'a=ice-pwd:');
    expectAppError(() => remoteTransportInfo(parseSdp(text, LIMITS)), 'invalid_sdp');
  });
});

describe('assertDataChannelOnly', () => {
  it('returns the single m=application section of a datachannel-only offer', () => {
    const m = assertDataChannelOnly(parsedFixture('datachannel-only.offer.sdp'));
    expect([m.type, m.mid, m.protocol]).toEqual(['application', '0', 'UDP/DTLS/SCTP']);
  });

  it('rejects an offer that also carries media', () => {
    expectAppError(() => assertDataChannelOnly(parsedFixture('datachannel-and-media.offer.sdp')), 'invalid_sdp');
  });

  it('rejects a single media section', () => {
    expectAppError(() => assertDataChannelOnly(parsedFixture('audio-only.offer.sdp')), 'invalid_sdp');
  });

  it('rejects a data channel section with port 0', () => {
    const text = fixture('datachannel-only.offer.sdp').replace(/^m=application \d+/m, 'm=application 0');
    expectAppError(() => assertDataChannelOnly(parseSdp(text, LIMITS)), 'invalid_sdp');
  });
});

describe('parseFmtp', () => {
  it('keeps profile-level-id a string and turns the other numbers into numbers', () => {
    expect(parseFmtp('level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f')).toEqual({
      'level-asymmetry-allowed': 1,
      'packetization-mode': 1,
      'profile-level-id': '42e01f',
    });
  });

  it('keeps an all-digit profile-level-id a string', () => {
    expect(parseFmtp('profile-level-id=640032')).toEqual({ 'profile-level-id': '640032' });
  });

  it('reads apt and the opus parameters as numbers', () => {
    expect(parseFmtp('apt=96')).toEqual({ apt: 96 });
    expect(parseFmtp('minptime=10;useinbandfec=1')).toEqual({ minptime: 10, useinbandfec: 1 });
  });

  it('keeps non-numeric values as strings', () => {
    expect(parseFmtp('level-idx=5;profile=0;tier=0;mode=abc')).toEqual({ 'level-idx': 5, profile: 0, tier: 0, mode: 'abc' });
  });

  it('trims whitespace around keys and values', () => {
    expect(parseFmtp(' a = 1 ; b=x ')).toEqual({ a: 1, b: 'x' });
  });

  it('skips parts without a key=value pair (e.g. RED "111/111")', () => {
    expect(parseFmtp('111/111')).toEqual({});
    expect(parseFmtp('=5;apt=97')).toEqual({ apt: 97 });
  });

  it('round-trips through formatFmtp', () => {
    const config = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f';
    expect(formatFmtp(parseFmtp(config))).toBe(config);
  });

  it('formats no parameters as undefined', () => {
    expect(formatFmtp({})).toBeUndefined();
    expect(formatFmtp(undefined)).toBeUndefined();
  });
});

describe('sectionCodecs', () => {
  const video = () => section(parsedFixture('simulcast.offer.sdp'), '1');

  it('lists one codec per payload type in the offer order', () => {
    const codecs = sectionCodecs(video());
    expect(codecs.map((c) => c.payloadType)).toEqual(video().payloads!.split(' ').map(Number));
    expect(codecs).toHaveLength(23);
  });

  it('reads VP8 96 with its nack, pli, fir, remb and transport-cc feedback', () => {
    expect(sectionCodecs(video())[0]).toEqual({
      mimeType: 'video/VP8',
      payloadType: 96,
      clockRate: 90000,
      parameters: {},
      rtcpFeedback: [
        { type: 'goog-remb', parameter: '' },
        { type: 'transport-cc', parameter: '' },
        { type: 'ccm', parameter: 'fir' },
        { type: 'nack', parameter: '' },
        { type: 'nack', parameter: 'pli' },
      ],
    });
  });

  it('reads rtx 97 with apt=96 and no feedback', () => {
    expect(sectionCodecs(video())[1]).toEqual({
      mimeType: 'video/rtx',
      payloadType: 97,
      clockRate: 90000,
      parameters: { apt: 96 },
      rtcpFeedback: [],
    });
  });

  it('reads the H264 fmtp with profile-level-id as a string', () => {
    const h264 = sectionCodecs(video()).find((c) => c.payloadType === 108)!;
    expect(h264.mimeType).toBe('video/H264');
    expect(h264.parameters).toEqual({ 'level-asymmetry-allowed': 1, 'packetization-mode': 1, 'profile-level-id': '42e01f' });
  });

  it('gives audio codecs their channel count (1 when the rtpmap has none)', () => {
    const codecs = sectionCodecs(section(parsedFixture('simulcast.offer.sdp'), '0'));
    expect(codecs[0]).toEqual({
      mimeType: 'audio/opus',
      payloadType: 111,
      clockRate: 48000,
      channels: 2,
      parameters: { minptime: 10, useinbandfec: 1 },
      rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
    });
    expect(codecs.find((c) => c.payloadType === 0)).toMatchObject({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1 });
  });

  it('applies a=rtcp-fb:* to every codec', () => {
    const text = insertAfter(fixture('vp9.offer.sdp'), 'a=rtcp-xr:', 'a=rtcp-fb:* ccm tmmbr');
    const codecs = sectionCodecs(parseSdp(text, LIMITS).media[0]!);
    expect(codecs.map((c) => c.rtcpFeedback!.some((fb) => fb.type === 'ccm' && fb.parameter === 'tmmbr'))).toEqual([true, true, true, true]);
  });
});

describe('senderInfo', () => {
  it('gives the simulcast rids in the order of a=simulcast', () => {
    expect(senderInfo(section(parsedFixture('simulcast.offer.sdp'), '1'))).toEqual({ rids: ['q', 'h', 'f'] });
  });

  it('follows a=simulcast rather than the a=rid line order', () => {
    const text = fixture('simulcast.offer.sdp').replace('a=simulcast:send q;h;f', 'a=simulcast:send f;h;q');
    expect(senderInfo(section(parseSdp(text, LIMITS), '1')).rids).toEqual(['f', 'h', 'q']);
  });

  it('keeps paused (~) rids and takes the first of alternatives', () => {
    const text = fixture('simulcast.offer.sdp').replace('a=simulcast:send q;h;f', 'a=simulcast:send ~q;h,f');
    expect(senderInfo(section(parseSdp(text, LIMITS), '1')).rids).toEqual(['q', 'h']);
  });

  it('gives the video ssrc and its RTX ssrc from the FID group, and the cname', () => {
    const expected = AV.sender('1');
    expect(expected.rtxSsrc).toBeGreaterThan(0);
    expect(senderInfo(section(parsedFixture('audio-video.offer.sdp'), '1'))).toEqual({ rids: [], ...expected });
  });

  it('gives the audio ssrc without an RTX ssrc', () => {
    const { ssrc, cname } = AV.sender('0');
    expect(senderInfo(section(parsedFixture('audio-video.offer.sdp'), '0'))).toEqual({ rids: [], ssrc, cname });
  });
});

describe('remoteSends / remoteReceives', () => {
  it('reads a sendonly section as sending, not receiving', () => {
    const m = section(parsedFixture('audio-video.offer.sdp'), '0');
    expect([remoteSends(m), remoteReceives(m)]).toEqual([true, false]);
  });

  it('reads a sendrecv section as both', () => {
    const m = section(parsedFixture('audio-video-addtrack.offer.sdp'), '0');
    expect([remoteSends(m), remoteReceives(m)]).toEqual([true, true]);
  });

  it('reads a rejected (port 0) section as neither', () => {
    const m = { ...section(parsedFixture('audio-video-addtrack.offer.sdp'), '0'), port: 0 };
    expect([remoteSends(m), remoteReceives(m)]).toEqual([false, false]);
  });
});
