// The SDP bridge over real offers of large calls (fixtures/sdp/call-*.sdp): a
// Chromium member's connection in calls of 6 and 25 members, and the
// 25-member re-offer that adds a screenshare. They parse within the caps,
// every section gets its codecs, and the caps leave room over the largest.
import { readFileSync } from 'node:fs';
import * as mediasoup from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { chooseCodecs, producerParameters } from '../../src/sdp/codecs.ts';
import { parseSdp, remoteSends, remoteTransportInfo } from '../../src/sdp/parse.ts';
import { LIMITS, expectAppError, fixture, routerCapabilities, type FixtureName } from './support.ts';

const caps = routerCapabilities();
const config = loadConfig({}, {});
/** Chromium's data channel max-message-size: one signaling message can be no larger. */
const DATA_CHANNEL_MAX_MESSAGE = 262_144;

const CALLS: { name: FixtureName; members: number; sending: number }[] = [
  { name: 'call-6.offer.sdp', members: 6, sending: 2 },
  { name: 'call-25.offer.sdp', members: 25, sending: 2 },
  { name: 'call-25-screenshare.offer.sdp', members: 25, sending: 3 },
];

/** The table of fixtures/sdp/README.md: members, m-sections and bytes of each call fixture. */
const README = readFileSync(new URL('../../fixtures/sdp/README.md', import.meta.url), 'utf8');
function documented(name: string): { members: number; sections: number; bytes: number } {
  const row = new RegExp(`^\\| \`${name.replace(/\./g, '\\.')}\` \\| (\\d+) \\| (\\d+) \\| ([\\d,]+) \\|`, 'm').exec(README);
  if (!row) throw new Error(`fixtures/sdp/README.md does not list ${name}`);
  return { members: Number(row[1]), sections: Number(row[2]), bytes: Number(row[3]!.replace(/,/g, '')) };
}

const bytes = (text: string) => Buffer.byteLength(text);
/** The publish message that carries `sdp`, as the client sends it on the signaling channel. */
const publishMessage = (sdp: string) =>
  JSON.stringify({ event: 'publish', id: 'c12', call_id: '!abcdefghijklmnopqr:example.org/call-1', device_id: 'ABCDEFGHIJ', purpose: 'm.screenshare', sdp });

describe.each(CALLS)('$name', ({ name, members, sending }) => {
  const text = fixture(name);
  const sdp = parseSdp(text, LIMITS);
  const rtp = sdp.media.filter((m) => m.type === 'audio' || m.type === 'video');

  it('has the size, members and m-sections fixtures/sdp/README.md gives', () => {
    expect(documented(name)).toEqual({ members, sections: sdp.media.length, bytes: bytes(text) });
  });

  it('parses within the caps: one data channel, own tracks sending, two sections per other member receiving', () => {
    expect(bytes(text)).toBeLessThan(config.maxSdpBytes);
    expect(Math.max(...text.split('\r\n').map(bytes))).toBeLessThan(config.maxSdpLineBytes);
    expect(bytes(publishMessage(text))).toBeLessThan(config.maxMessageBytes);
    expect(sdp.media.filter((m) => m.type === 'application')).toHaveLength(1);
    expect(rtp.filter((m) => m.direction === 'sendonly')).toHaveLength(sending);
    // The others' audio and video, plus the two primed sections (recvonly once Chromium re-offers them).
    expect(rtp.filter((m) => m.direction === 'recvonly')).toHaveLength(2 * (members - 1) + 2);
    expect(sdp.groups?.[0]?.mids.split(' ')).toEqual(sdp.media.map((m) => m.mid));
    expect(remoteTransportInfo(sdp).setup).toBe('actpass');
  });

  it('gets codecs for every section: Opus and VP8 on the router\'s payload types and extension ids', () => {
    const routerPt = (mime: string) => caps.codecs!.find((c) => c.mimeType === mime)!.preferredPayloadType;
    const routerIds = new Map(caps.headerExtensions!.map((e) => [`${e.kind} ${e.uri}`, e.preferredId]));
    for (const m of rtp) {
      const chosen = chooseCodecs(m, caps);
      expect(chosen.codecs[0]!.mimeType, `mid ${m.mid}`).toBe(m.type === 'audio' ? 'audio/opus' : 'video/VP8');
      expect(chosen.codecs[0]!.payloadType, `mid ${m.mid}`).toBe(routerPt(chosen.codecs[0]!.mimeType));
      if (m.type === 'video') expect(chosen.codecs.map((c) => c.mimeType)).toEqual(['video/VP8', 'video/rtx']);
      // The priming offer taught Chromium the router's ids; every section of the BUNDLE keeps them.
      for (const e of chosen.headerExtensions) expect(e.id, `mid ${m.mid} ${e.uri}`).toBe(routerIds.get(`${m.type} ${e.uri}`));
    }
  });

  it('turns every sending section into producer parameters mediasoup accepts', () => {
    const sendingSections = rtp.filter(remoteSends).filter((m) => m.direction === 'sendonly');
    expect(sendingSections).toHaveLength(sending);
    for (const m of sendingSections) {
      const params = structuredClone(producerParameters(m, chooseCodecs(m, caps)));
      mediasoup.ortc.validateAndNormalizeRtpParameters(params);
      const mapping = mediasoup.ortc.getProducerRtpParametersMapping(params, caps);
      expect(mapping.codecs.length).toBe(params.codecs.length);
      expect(params.encodings![0]!.ssrc).toBeGreaterThan(0);
    }
  });
});

describe('caps over a call of 25', () => {
  const six = fixture('call-6.offer.sdp');
  const twentyFive = fixture('call-25.offer.sdp');
  const reOffer = fixture('call-25-screenshare.offer.sdp');
  /** Bytes a Chromium offer grows by per member (its audio and video received). */
  const perMember = (bytes(twentyFive) - bytes(six)) / (25 - 6);

  it('grows by about 5.4 KB of offer per member', () => {
    expect(perMember).toBeGreaterThan(4_500);
    expect(perMember).toBeLessThan(6_500);
  });

  it('leaves room for at least 10 more members over the 25-member screenshare re-offer', () => {
    expect(config.maxMessageBytes).toBeLessThanOrEqual(DATA_CHANNEL_MAX_MESSAGE);
    expect(config.maxSdpBytes).toBeLessThan(config.maxMessageBytes);
    const sdpRoom = (config.maxSdpBytes - bytes(reOffer)) / perMember;
    const messageRoom = (config.maxMessageBytes - bytes(publishMessage(reOffer))) / perMember;
    expect(sdpRoom).toBeGreaterThanOrEqual(10);
    expect(messageRoom).toBeGreaterThanOrEqual(10);
  });

  it('refuses, as invalid_sdp, an offer grown past the SDP cap by more members', () => {
    // More members: the 25-member offer with further copies of a received member's two sections.
    const [head, ...sections] = twentyFive.split(/\r\n(?=m=)/);
    const received = sections.filter((s) => s.includes('\r\na=recvonly')).slice(-2);
    let grown = twentyFive;
    let added = 0;
    while (bytes(grown) <= config.maxSdpBytes) {
      added++;
      const copies = received.map((s, i) => s.replace(/\r\na=mid:\S+/, `\r\na=mid:x${added}-${i}`).replace(/\r\n$/, ''));
      grown = `${grown.replace(/\r\n$/, '')}\r\n${copies.join('\r\n')}\r\n`;
    }
    expect(25 + added).toBeGreaterThan(35);
    expect(parseSdp(head + '\r\n' + sections.join('\r\n'), LIMITS).media).toHaveLength(53);
    const error = expectAppError(() => parseSdp(grown, LIMITS), 'invalid_sdp');
    expect(error.message).toContain(`larger than ${config.maxSdpBytes} bytes`);
  });
});
