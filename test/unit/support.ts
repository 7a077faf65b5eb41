// Shared helpers for the unit tests: the real Chromium SDP fixtures, the SDP
// limits of the default config, router capabilities computed without a worker,
// and an assertion for AppError codes.
import { readFileSync } from 'node:fs';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError, type ErrorCode } from '../../src/errors.ts';
import { MEDIA_CODECS } from '../../src/media/codecs.ts';
import { parseSdp, type MediaDescription, type SessionDescription } from '../../src/sdp/parse.ts';

export type FixtureName =
  | 'audio-only.offer.sdp'
  | 'audio-video-addtrack.offer.sdp'
  | 'audio-video.offer.sdp'
  | 'call-6.offer.sdp'
  | 'call-25.offer.sdp'
  | 'call-25-screenshare.offer.sdp'
  | 'datachannel-and-media.offer.sdp'
  | 'datachannel-only.offer.sdp'
  | 'h264-only.offer.sdp'
  | 'screenshare.offer.sdp'
  | 'simulcast.offer.sdp'
  | 'vp9.offer.sdp'
  // Firefox ESR on a real focus (scripts/capture-firefox-fixtures.ts).
  | 'firefox-prime.answer.sdp'
  | 'firefox-publish-after-prime.offer.sdp'
  | 'firefox-publish-with-subscription.offer.sdp'
  | 'firefox-subscribe.answer.sdp';

export const ALL_OFFER_FIXTURES: FixtureName[] = [
  'audio-only.offer.sdp',
  'audio-video-addtrack.offer.sdp',
  'audio-video.offer.sdp',
  'datachannel-and-media.offer.sdp',
  'datachannel-only.offer.sdp',
  'h264-only.offer.sdp',
  'screenshare.offer.sdp',
  'simulcast.offer.sdp',
  'vp9.offer.sdp',
];

/** The raw text of a fixture in fixtures/sdp/. */
export function fixture(name: FixtureName): string {
  return readFileSync(new URL(`../../fixtures/sdp/${name}`, import.meta.url), 'utf8');
}

/**
 * Values that change each time the fixtures are re-captured (ICE credentials,
 * fingerprint, ssrcs, cname), read from the raw text with plain regexes, so
 * that tests compare against concrete values without pinning one capture.
 * Payload types and extension ids are Chromium's fixed choices: tests pin those.
 */
export function captured(name: FixtureName) {
  const text = fixture(name);
  const one = (source: string, re: RegExp) => re.exec(source)?.[1];
  return {
    iceUfrag: one(text, /^a=ice-ufrag:(\S+)\r$/m)!,
    icePwd: one(text, /^a=ice-pwd:(\S+)\r$/m)!,
    /** As written in the offer (Chromium writes uppercase hex). */
    fingerprint: one(text, /^a=fingerprint:sha-256 (\S+)\r$/m)!,
    /** The ssrc, RTX ssrc (FID group) and cname of the m-section with this mid. */
    sender(mid: string): { ssrc?: number; rtxSsrc?: number; cname?: string } {
      const m = text.split(/(?<=\r\n)(?=m=)/).find((s) => s.includes(`\r\na=mid:${mid}\r\n`));
      if (!m) throw new Error(`${name} has no mid ${mid}`);
      const fid = /^a=ssrc-group:FID (\d+) (\d+)\r$/m.exec(m);
      const ssrc = fid?.[1] ?? one(m, /^a=ssrc:(\d+) /m);
      const cname = one(m, /^a=ssrc:\d+ cname:(\S+)\r$/m);
      return {
        ...(ssrc ? { ssrc: Number(ssrc) } : {}),
        ...(fid ? { rtxSsrc: Number(fid[2]) } : {}),
        ...(cname ? { cname } : {}),
      };
    },
  };
}

/** The SDP limits of the default configuration. */
export const LIMITS = (() => {
  const { maxSdpBytes, maxSdpLineBytes } = loadConfig({}, {});
  return { maxSdpBytes, maxSdpLineBytes };
})();

/** A fixture parsed with parseSdp and the default limits. */
export function parsedFixture(name: FixtureName): SessionDescription {
  return parseSdp(fixture(name), LIMITS);
}

/** The m-section of a parsed SDP with this mid (fails the test if absent). */
export function section(sdp: SessionDescription, mid: string): MediaDescription {
  const m = sdp.media.find((s) => String(s.mid) === mid);
  if (!m) throw new Error(`no m-section with mid ${mid}`);
  return m;
}

/** What every router forwards, computed as Router does, but without a worker. */
export function routerCapabilities(): types.RtpCapabilities {
  return mediasoup.ortc.generateRouterRtpCapabilities(structuredClone(MEDIA_CODECS));
}

/** Runs `fn`, expects it to throw an AppError with `code`, and returns the error. */
export function expectAppError(fn: () => unknown, code: ErrorCode): AppError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected an AppError('${code}')`).toBeInstanceOf(AppError);
  expect((caught as AppError).code).toBe(code);
  return caught as AppError;
}
