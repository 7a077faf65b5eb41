// Answers may carry only what their offer had, section by section (RFC 8829
// §5.3, RFC 8285 §6). The server renders a section from its own model (for a
// primed section: the router's whole codec and header extension list), so
// every answer section is cut down to its offer's section here. Firefox
// enforces this ("Answer has extmap … that was not present in offer");
// Chromium quietly drops what it did not offer. Pure functions.
import type { MediaDescription } from 'sdp-transform';
import { applyPayloadTypes, recordPayloadTypes, type PayloadTypeBook } from './payload-types.ts';

type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** An extension the offerer will only receive is one the answerer will only send, and so on. */
const REVERSE_EXT: Record<string, Direction> = { sendonly: 'recvonly', recvonly: 'sendonly', sendrecv: 'sendrecv', inactive: 'inactive' };

const codecKey = (codec: string, rate: number | undefined, encoding: number | string | undefined): string =>
  `${codec.toLowerCase()}/${rate ?? ''}/${codec.toLowerCase() === 'opus' ? Number(encoding ?? 1) : ''}`;

const feedbackKey = (fb: { type: string; subtype?: string | undefined }): string => `${fb.type}${fb.subtype ? ' ' + fb.subtype : ''}`;

/**
 * The answer section `answer` cut down to what `offer` (the same mid's section
 * of the client's offer) had:
 *
 * - header extensions whose URI the offer lists, with the offer's id and the
 *   reverse of the offer's direction;
 * - payload types the offer lists with the same codec name, clock rate and
 *   channels (an RTX payload type also needs its `apt` kept);
 * - feedback the offer lists for that payload type (or for `*`).
 *
 * A closed or rejected section (port 0) is returned as it is. If no codec is
 * left the answer keeps the offer's first payload type, so the line stays
 * valid; such a section carries no media from us.
 */
export function mirrorOffer(answer: MediaDescription, offer: MediaDescription): MediaDescription {
  if (answer.port === 0 || answer.type !== offer.type || (answer.type !== 'audio' && answer.type !== 'video')) return answer;

  const offeredExt = new Map((offer.ext ?? []).map((e) => [e.uri, e]));
  const ext = (answer.ext ?? []).flatMap((e) => {
    const o = offeredExt.get(e.uri);
    if (!o) return [];
    return [{ value: o.value, uri: e.uri, ...(o.direction ? { direction: REVERSE_EXT[o.direction] ?? o.direction } : {}) }];
  });

  const offeredRtp = new Map((offer.rtp ?? []).map((r) => [r.payload, r]));
  const offeredApt = new Map((offer.fmtp ?? []).flatMap((f) => (/(^|;)\s*apt=(\d+)/.exec(f.config) ? [[f.payload, Number(/(^|;)\s*apt=(\d+)/.exec(f.config)![2])] as const] : [])));
  const answerFmtp = new Map((answer.fmtp ?? []).map((f) => [f.payload, f.config]));
  const sameCodec = (pt: number): boolean => {
    const mine = (answer.rtp ?? []).find((r) => r.payload === pt);
    const theirs = offeredRtp.get(pt);
    return !!mine && !!theirs && codecKey(mine.codec, mine.rate, mine.encoding) === codecKey(theirs.codec, theirs.rate, theirs.encoding);
  };
  let kept = new Set((answer.rtp ?? []).map((r) => r.payload).filter(sameCodec));
  // RTX: our apt and the offer's apt must agree, and name a payload type kept.
  const aptOf = (pt: number): number | undefined => {
    const config = answerFmtp.get(pt);
    const m = config === undefined ? null : /(^|;)\s*apt=(\d+)/.exec(config);
    return m ? Number(m[2]) : undefined;
  };
  kept = new Set(
    [...kept].filter((pt) => {
      const apt = aptOf(pt);
      return apt === undefined || (kept.has(apt) && offeredApt.get(pt) === apt);
    }),
  );

  const offeredFeedback = new Set((offer.rtcpFb ?? []).map((fb) => `${fb.payload} ${feedbackKey(fb)}`));
  const feedbackOffered = (pt: number | string, fb: { type: string; subtype?: string | undefined }) =>
    offeredFeedback.has(`${pt} ${feedbackKey(fb)}`) || offeredFeedback.has(`* ${feedbackKey(fb)}`);

  const rtp = (answer.rtp ?? []).filter((r) => kept.has(r.payload));
  if (rtp.length === 0) {
    const first = (offer.rtp ?? [])[0];
    return { ...answer, ext, payloads: String(first?.payload ?? 0), rtp: first ? [first] : [], fmtp: [], rtcpFb: [] };
  }
  return {
    ...answer,
    ext,
    payloads: rtp.map((r) => r.payload).join(' '),
    rtp,
    fmtp: (answer.fmtp ?? []).filter((f) => kept.has(f.payload)),
    rtcpFb: (answer.rtcpFb ?? []).filter((fb) => (fb.payload === '*' || kept.has(Number(fb.payload))) && feedbackOffered(fb.payload, fb)),
  };
}

/**
 * Makes a BUNDLE section that an offer marks `a=bundle-only` with port 0
 * (Firefox does so for every section but the first) read as the live
 * section it is: port 0 alone means rejected, with bundle-only it means
 * "only usable inside the BUNDLE" (RFC 9143 §7.3.1).
 */
export function liftBundleOnly<T extends { media: MediaDescription[]; groups?: { type: string; mids: string | number }[] | undefined }>(sdp: T): T {
  const bundled = new Set((sdp.groups ?? []).filter((g) => g.type === 'BUNDLE').flatMap((g) => String(g.mids).split(' ')));
  for (const m of sdp.media) {
    if (m.port === 0 && (m as { bundleOnly?: string }).bundleOnly && bundled.has(String(m.mid))) m.port = 9;
  }
  return sdp;
}

/**
 * The last step of rendering a description: with an offer (we answer), each
 * section mirrors the offer's same mid; every section then takes the first
 * fmtp the connection saw for each payload type. Returns the sections and the
 * book with the offer's and these sections' payload types recorded.
 */
export function finishSections(
  media: MediaDescription[],
  offer: { media: MediaDescription[] } | undefined,
  book: PayloadTypeBook,
): { media: MediaDescription[]; book: PayloadTypeBook } {
  const offered = new Map((offer?.media ?? []).map((m) => [String(m.mid), m]));
  const seen = recordPayloadTypes(book, offer?.media ?? []);
  const out = media.map((m) => {
    const o = offered.get(String(m.mid));
    return applyPayloadTypes(o ? mirrorOffer(m, o) : m, seen);
  });
  return { media: out, book: recordPayloadTypes(seen, out) };
}
