// The server's side of one peer connection, as m-sections keyed by mid. Both
// directions of negotiation render from this one model, so every offer and
// answer lists every section in the order the connection has fixed.
//
// A section can carry media from the client (a published track, `recv`), to
// the client (a consumer, `send`), both, or neither (primed or idle). Sections
// whose media ended are closed (port 0), which ends the browser's track. A
// closed slot is recycled, with a fresh mid, only once an offer/answer that
// carried the close has completed: Chromium accepts a new mid in a slot only
// after it has stopped the old transceiver.
import sdpTransform from 'sdp-transform';
import type { MediaAttributes, MediaDescription, SessionDescription } from 'sdp-transform';
import type { types } from 'mediasoup';
import { formatFmtp } from './parse.ts';
import { finishSections } from './mirror.ts';
import type { PayloadTypeBook } from './payload-types.ts';

export interface LocalTransportInfo {
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  fingerprints: types.DtlsFingerprint[];
  sctpPort: number;
  maxMessageSize: number;
}

export interface DataSection {
  kind: 'application';
  mid: string;
}

export interface SendInfo {
  ssrc: number;
  rtxSsrc?: number | undefined;
  cname: string;
  /** msid: the stream (publication) and track (producer) the browser sees. */
  streamId: string;
  trackId: string;
}

export interface RtpSection {
  kind: types.MediaKind;
  mid: string;
  closed: boolean;
  /** Closed, and the close was part of a completed offer/answer: the slot may take a new section. */
  reusable?: boolean | undefined;
  /** Codecs and header extensions as on the wire in this section. */
  codecs: types.RtpCodecParameters[];
  headerExtensions: types.RtpHeaderExtensionParameters[];
  /** The client sends a published track here. */
  recv?: { rids: string[] } | undefined;
  /** The server sends a consumer here. */
  send?: SendInfo | undefined;
}

export type Section = DataSection | RtpSection;

/**
 * An idle section carrying every router codec of `kind` with the router's
 * payload types and header extension ids: what the priming offer teaches the
 * browser before it picks ids of its own.
 */
export function routerSection(caps: types.RtpCapabilities, kind: types.MediaKind, mid: string): RtpSection {
  return {
    kind,
    mid,
    closed: false,
    codecs: (caps.codecs ?? [])
      .filter((c) => c.kind === kind)
      .map((c) => ({
        mimeType: c.mimeType,
        payloadType: c.preferredPayloadType,
        clockRate: c.clockRate,
        ...(c.channels ? { channels: c.channels } : {}),
        parameters: c.parameters ?? {},
        rtcpFeedback: c.rtcpFeedback ?? [],
      })),
    headerExtensions: (caps.headerExtensions ?? [])
      .filter((e) => e.kind === kind && e.direction !== 'inactive')
      .map((e) => ({ uri: e.uri, id: e.preferredId })),
  };
}
type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

const REVERSE: Record<Direction, Direction> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };

function ownDirection(s: RtpSection): Direction {
  if (s.send && s.recv) return 'sendrecv';
  if (s.send) return 'sendonly';
  if (s.recv) return 'recvonly';
  return 'inactive';
}

/** The answer may only keep directions the offer allows. */
function intersect(own: Direction, allowed: Direction): Direction {
  const send = (own === 'sendrecv' || own === 'sendonly') && (allowed === 'sendrecv' || allowed === 'sendonly');
  const recv = (own === 'sendrecv' || own === 'recvonly') && (allowed === 'sendrecv' || allowed === 'recvonly');
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
}

export class SessionSdp {
  readonly #transport: LocalTransportInfo;
  readonly #sessionId = String(Math.floor(Math.random() * 2 ** 52));
  #version = 0;
  #nextMid = 1;
  /** Sections that were closed when the last description was rendered. */
  #renderedClosed = new Set<Section>();
  /** The first fmtp each payload type was rendered or offered with on this connection. */
  #payloadTypes: PayloadTypeBook = new Map();
  sections: Section[] = [];

  constructor(transport: LocalTransportInfo) {
    this.#transport = transport;
  }

  get rtpSections(): RtpSection[] {
    return this.sections.filter((s): s is RtpSection => s.kind !== 'application');
  }

  find(mid: string): Section | undefined {
    return this.sections.find((s) => s.mid === mid);
  }

  /**
   * A copy to go back to while nothing of the change has reached the client:
   * before an offer is sent, or when the client proves it did not apply it
   * (it crossed it with its own offer, or said it could not apply it).
   */
  snapshot(): Section[] {
    return this.sections.map((s) => ({ ...s }));
  }

  restore(snapshot: Section[]): void {
    this.sections = snapshot;
    this.#renderedClosed.clear();
  }

  /** Closes a section (port 0 from the next description on); its slot is not reusable yet. */
  close(mid: string): void {
    const s = this.find(mid);
    if (!s || s.kind === 'application' || s.closed) return;
    s.closed = true;
    s.reusable = false;
    s.send = undefined;
    s.recv = undefined;
  }

  /**
   * The last rendered description was answered (or, for an answer we sent,
   * delivered): the closes it carried are final, so those slots may be reused.
   */
  completed(): void {
    for (const s of this.#renderedClosed) if (s.kind !== 'application' && s.closed) s.reusable = true;
    this.#renderedClosed.clear();
  }

  /** Mids the server makes up; prefixed so they never meet the browser's numeric ones. */
  newMid(): string {
    return `s${this.#nextMid++}`;
  }

  /** Adds a server-offered section, reusing the first slot whose close was answered (with a new mid). */
  addServerSection(section: RtpSection): void {
    const free = this.sections.findIndex((s) => s.kind !== 'application' && s.closed && s.reusable);
    if (free >= 0) this.sections[free] = section;
    else this.sections.push(section);
  }

  /** Renders an offer (server-initiated) or an answer (to `offer`, section by section). */
  render(offer?: SessionDescription): string {
    this.#version++;
    this.#renderedClosed = new Set(this.sections.filter((s) => s.kind !== 'application' && s.closed));
    const offered = new Map((offer?.media ?? []).map((m) => [String(m.mid), m]));
    // A section is bundled unless it is closed here or rejected by the offer.
    const open = this.sections.filter((s) => s.kind === 'application' || (!s.closed && offered.get(s.mid)?.port !== 0));
    const session: SessionDescription = {
      version: 0,
      origin: { username: 'foci', sessionId: this.#sessionId, sessionVersion: this.#version, netType: 'IN', ipVer: 4, address: '127.0.0.1' },
      name: '-',
      timing: { start: 0, stop: 0 },
      icelite: 'ice-lite',
      groups: open.length ? [{ type: 'BUNDLE', mids: open.map((s) => s.mid).join(' ') }] : [],
      extmapAllowMixed: 'extmap-allow-mixed',
      msidSemantic: { semantic: 'WMS', token: '*' },
      media: this.sections.map((s) => this.#renderSection(s, offered.get(s.mid))),
    };
    // Answers carry only what their offer had; one fmtp per payload type per connection.
    ({ media: session.media, book: this.#payloadTypes } = finishSections(session.media, offer, this.#payloadTypes));
    return sdpTransform.write(session);
  }

  #transportAttributes(): Partial<MediaDescription> {
    const t = this.#transport;
    const fp = t.fingerprints.find((f) => f.algorithm === 'sha-256') ?? t.fingerprints[0]!;
    return {
      connection: { version: 4, ip: '0.0.0.0' },
      iceUfrag: t.iceParameters.usernameFragment,
      icePwd: t.iceParameters.password,
      fingerprint: { type: fp.algorithm, hash: fp.value },
      // DTLS server: browsers then negotiate AES-GCM SRTP. Kept in re-offers.
      setup: 'passive',
      candidates: t.iceCandidates.map((c) => ({
        foundation: c.foundation,
        component: 1,
        transport: c.protocol,
        priority: c.priority,
        ip: c.address,
        port: c.port,
        type: c.type,
        ...(c.protocol === 'tcp' ? { tcptype: c.tcpType ?? 'passive' } : {}),
        generation: 0,
      })),
      endOfCandidates: 'end-of-candidates',
    };
  }

  #renderSection(s: Section, offered: MediaDescription | undefined): MediaDescription {
    if (s.kind === 'application') {
      return {
        ...this.#transportAttributes(),
        type: 'application',
        port: 9,
        protocol: 'UDP/DTLS/SCTP',
        payloads: 'webrtc-datachannel',
        mid: s.mid,
        sctpPort: this.#transport.sctpPort,
        maxMessageSize: this.#transport.maxMessageSize,
      } as MediaDescription;
    }
    const pts = s.codecs.map((c) => c.payloadType);
    if (s.closed || (offered && offered.port === 0)) {
      return {
        type: s.kind,
        port: 0,
        protocol: 'UDP/TLS/RTP/SAVPF',
        payloads: String(pts[0] ?? 0),
        connection: { version: 4, ip: '0.0.0.0' },
        mid: s.mid,
        direction: 'inactive',
        rtp: s.codecs.slice(0, 1).map((c) => ({ payload: c.payloadType, codec: c.mimeType.split('/')[1]!, rate: c.clockRate })),
        fmtp: [],
      } as MediaDescription;
    }
    const own = ownDirection(s);
    const direction = offered ? intersect(own, REVERSE[(offered.direction ?? 'sendrecv') as Direction]) : own;
    const media: MediaDescription = {
      ...this.#transportAttributes(),
      type: s.kind,
      port: 9,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: pts.join(' '),
      rtcp: { port: 9, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
      mid: s.mid,
      direction,
      ext: s.headerExtensions.map((e) => ({ value: e.id, uri: e.uri })),
      rtcpMux: 'rtcp-mux',
      rtcpRsize: 'rtcp-rsize',
      rtp: s.codecs.map((c) => ({
        payload: c.payloadType,
        codec: c.mimeType.split('/')[1]!,
        rate: c.clockRate,
        ...(c.channels && c.channels > 1 ? { encoding: c.channels } : {}),
      })),
      fmtp: s.codecs.flatMap((c) => {
        const config = formatFmtp(c.parameters);
        return config ? [{ payload: c.payloadType, config }] : [];
      }),
      rtcpFb: s.codecs.flatMap((c) =>
        (c.rtcpFeedback ?? []).map((fb) => ({ payload: c.payloadType, type: fb.type, ...(fb.parameter ? { subtype: fb.parameter } : {}) })),
      ),
    } as MediaDescription;
    const attrs = media as MediaDescription & MediaAttributes;
    if (s.recv && s.recv.rids.length > 0 && (direction === 'recvonly' || direction === 'sendrecv')) {
      attrs.rids = s.recv.rids.map((id) => ({ id, direction: 'recv' }));
      attrs.simulcast = { dir1: 'recv', list1: s.recv.rids.join(';') };
    }
    if (s.send && (direction === 'sendonly' || direction === 'sendrecv')) {
      const { ssrc, rtxSsrc, cname, streamId, trackId } = s.send;
      attrs.msid = [{ id: streamId, appdata: trackId }];
      attrs.ssrcs = [
        { id: ssrc, attribute: 'cname', value: cname },
        { id: ssrc, attribute: 'msid', value: `${streamId} ${trackId}` },
      ];
      if (rtxSsrc !== undefined) {
        attrs.ssrcs.push({ id: rtxSsrc, attribute: 'cname', value: cname }, { id: rtxSsrc, attribute: 'msid', value: `${streamId} ${trackId}` });
        attrs.ssrcGroups = [{ semantics: 'FID', ssrcs: `${ssrc} ${rtxSsrc}` }];
      }
    }
    return media;
  }
}
