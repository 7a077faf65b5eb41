// One client's connection: its WebRtcTransport (ICE-lite, DTLS server, BUNDLE)
// and the SCTP link that carries `signaling`. The peer decides when the client
// is gone, from every signal it has, and emits `close(reason)` once.
//
// Liveness. A tab that closes sends nothing: no DTLS close, no SCTP abort, and
// mediasoup's ICE consent timeout is at least 10 s (the worker clamps it).
// Every packet the client sends counts as a sign of life (the transport's
// byte counter covers RTP, RTCP, STUN and DTLS/SCTP alike): a publisher's
// media, a receiver's RTCP, consent checks. When the client has been quiet
// for a while the peer sends a small heartbeat on the channel, which the
// client's SCTP stack acknowledges at once. Quiet past `silenceTimeoutMs`
// with a heartbeat unanswered for `probeGraceMs` means gone. Both are read
// against the peer's own clock samples, so a busy event loop that checks late
// does not make a living client look silent. And a peer does not declare
// itself gone while many peers of its worker are quiet at once (an overloaded
// host of many clients, or this one): the ICE consent timeout decides then.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { MediaWorker } from './worker-pool.ts';
import { SctpLink, type SctpLinkCloseReason } from './sctp-link.ts';

export const SCTP_MAX_MESSAGE_SIZE = 262144;

export type PeerCloseReason = SctpLinkCloseReason | 'ice_disconnected' | 'dtls_failed' | 'connect_timeout' | 'peer_silent' | 'worker_died';

export interface PeerOptions {
  iceConsentTimeoutS: number;
  initialOutgoingBitrate: number;
  channelCheckIntervalMs: number;
  /** The channel must open this soon after creation. */
  connectTimeoutMs: number;
  /** How often the byte counter is read. */
  livenessIntervalMs: number;
  /** Quiet this long (and a heartbeat unanswered): the client is gone. */
  silenceTimeoutMs: number;
  /** A heartbeat gets this long to be acknowledged before silence counts. */
  probeGraceMs: number;
}

export interface PeerEvents {
  /** The signaling channel is usable. */
  open: [];
  message: [text: string, stream: number];
  /** The client opened its own `signaling` channel: unsolicited messages go there now. */
  primarychange: [stream: number];
  close: [reason: PeerCloseReason];
}

/** What the server sends when the client has been quiet: any SCTP data gets an immediate SACK. */
export const HEARTBEAT = JSON.stringify({ event: 'heartbeat' });

export class Peer extends EventEmitter<PeerEvents> {
  readonly transport: types.WebRtcTransport;
  readonly #link: SctpLink;
  readonly #worker: MediaWorker;
  readonly #options: PeerOptions;
  #connectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  #lastBytes = -1;
  #lastActivity = 0;
  /** The first heartbeat sent since the client was last heard, and the latest. */
  #probeSince: number | undefined;
  #lastProbe: number | undefined;
  /** A verdict was held back once because many peers were quiet at the same time. */
  #deferred = false;
  #closed = false;

  private constructor(worker: MediaWorker, transport: types.WebRtcTransport, link: SctpLink, options: PeerOptions) {
    super();
    this.#worker = worker;
    this.transport = transport;
    this.#link = link;
    this.#options = options;
  }

  /** A transport whose DTLS client is the browser with these fingerprints. */
  static async create(worker: MediaWorker, remoteFingerprints: types.DtlsFingerprint[], options: PeerOptions): Promise<Peer> {
    const transport = await worker.router.createWebRtcTransport({
      webRtcServer: worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      enableSctp: true,
      maxSendMessageSize: SCTP_MAX_MESSAGE_SIZE,
      maxReceiveMessageSize: SCTP_MAX_MESSAGE_SIZE,
      iceConsentTimeout: options.iceConsentTimeoutS,
      initialAvailableOutgoingBitrate: options.initialOutgoingBitrate,
    });
    try {
      const link = await SctpLink.create(transport, worker.direct, worker.silentSource, options.channelCheckIntervalMs);
      // The answer says a=setup:passive, so the browser is the DTLS client.
      await transport.connect({ dtlsParameters: { role: 'client', fingerprints: remoteFingerprints } });
      const peer = new Peer(worker, transport, link, options);
      peer.#wire();
      return peer;
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get open(): boolean {
    return this.#link.open && !this.#closed;
  }

  #wire(): void {
    const t = this.transport;
    this.#link.on('open', () => {
      clearTimeout(this.#connectTimer);
      this.#startLiveness();
      this.emit('open');
    });
    this.#link.on('message', (text, stream) => this.emit('message', text, stream));
    this.#link.on('primarychange', (stream) => this.emit('primarychange', stream));
    this.#link.on('close', (reason) => this.close(reason));
    t.on('icestatechange', (state) => {
      if (state === 'disconnected' || state === 'closed') this.close('ice_disconnected');
    });
    t.on('dtlsstatechange', (state) => {
      if (state === 'failed' || state === 'closed') this.close('dtls_failed');
    });
    // 'routerclose' comes before the observer's 'close' that the link reacts to.
    t.on('routerclose', () => this.close(this.#worker.worker.died ? 'worker_died' : 'transport_closed'));
    this.#connectTimer = setTimeout(() => this.close('connect_timeout'), this.#options.connectTimeoutMs);
    this.#connectTimer.unref();
  }

  #startLiveness(): void {
    this.#lastActivity = performance.now();
    this.#worker.census.join(this);
    const check = async () => {
      if (this.#closed) return;
      let bytes: number;
      try {
        const [stats] = await this.transport.getStats();
        bytes = stats?.bytesReceived ?? 0;
      } catch {
        return; // closed meanwhile; close() follows from the transport's events
      }
      if (this.#closed) return;
      const now = performance.now();
      const census = this.#worker.census;
      if (bytes !== this.#lastBytes) {
        this.#lastBytes = bytes;
        this.#lastActivity = now;
        this.#probeSince = undefined;
        census.heard(this);
        return;
      }
      census.quiet(this, this.#lastActivity);
      const quiet = now - this.#lastActivity;
      if (this.#probeSince !== undefined && quiet >= this.#options.silenceTimeoutMs && now - this.#probeSince >= this.#options.probeGraceMs) {
        if (!census.widespread(now)) {
          this.close('peer_silent');
          return;
        }
        if (!this.#deferred) this.#worker.fastLeaveDeferrals++;
        this.#deferred = true;
      }
      // Quiet for a check or more: ask the client's SCTP stack for an
      // acknowledgement (again each grace period, in case one was lost).
      if (quiet >= this.#options.livenessIntervalMs && (this.#lastProbe === undefined || now - this.#lastProbe >= this.#options.probeGraceMs || this.#probeSince === undefined)) {
        this.#probeSince ??= now;
        this.#lastProbe = now;
        this.#link.send(HEARTBEAT).catch(() => undefined);
      }
    };
    this.#livenessTimer = setInterval(() => void check(), this.#options.livenessIntervalMs);
    this.#livenessTimer.unref();
  }

  /** Sends text on a signaling stream (the primary one unless a reply goes elsewhere). */
  async send(text: string, stream?: number): Promise<void> {
    if (!this.open) return;
    await this.#link.send(text, stream);
  }

  /** Ends the connection; `close(reason)` is emitted once. Idempotent. */
  close(reason: PeerCloseReason = 'transport_closed', farewell?: string): void {
    if (this.#closed) return;
    if (farewell && this.#link.open && !this.#link.closed) this.#link.send(farewell).catch(() => undefined);
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#livenessTimer);
    this.#worker.census.leave(this);
    this.#link.close();
    this.transport.close();
    this.emit('close', reason);
  }
}
