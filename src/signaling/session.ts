// One client session: a Peer (transport, signaling link, liveness), the SDP
// model of its connection, its publications and subscriptions, and the
// Negotiator that runs every change one offer/answer at a time. This file
// wires them together and owns teardown; the work of each request lives
// beside it: publish.ts (client offers), subscribe.ts (server offers and
// keeping the connection in line with what it forwards).
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { MediaWorker } from '../media/worker-pool.ts';
import { Peer, SCTP_MAX_MESSAGE_SIZE, type PeerCloseReason } from '../media/peer.ts';
import { streamKeyString, type Publication, type PublicationRegistry, type StreamKey } from '../media/registry.ts';
import type { ConsumerBudget, Subscription } from '../media/subscription.ts';
import { parseSdp, remoteTransportInfo, type SessionDescription } from '../sdp/parse.ts';
import { SessionSdp } from '../sdp/session-sdp.ts';
import { Negotiator } from './negotiator.ts';
import type { Outbound, RequestId } from './schema.ts';
import { applyClientOffer } from './publish.ts';
import { prime, scheduleSync, subscribeByKey } from './subscribe.ts';

export interface SessionContext {
  config: Config;
  log: Logger;
  registry: PublicationRegistry;
}

export type SessionCloseReason = PeerCloseReason | 'negotiation_timeout' | 'negotiation_failed' | 'server_shutdown';

export interface SessionEvents {
  /** The signaling channel is usable. */
  ready: [];
  message: [text: string, stream: number];
  close: [reason: SessionCloseReason];
}

/**
 * Whether the client answers server offers: unknown until it answers the
 * priming offer (`answers`) or crosses it with an offer of its own without
 * having read it (`offers`: a client that drives negotiation itself; the
 * server then changes the connection only in its answers).
 */
export type OfferMode = 'unknown' | 'answers' | 'offers';

/** A track the client sends, by the mid it arrives on. */
export interface PublishedTrack {
  publication: Publication;
  producer: types.Producer;
}

export class Session extends EventEmitter<SessionEvents> {
  readonly id = randomUUID();
  readonly worker: MediaWorker;
  readonly log: Logger;
  readonly ctx: SessionContext;
  readonly peer: Peer;
  readonly sdp: SessionSdp;
  readonly negotiator: Negotiator;
  /** Published tracks by the mid they arrive on. */
  readonly published = new Map<string, PublishedTrack>();
  /** Streams this session publishes, by key string. */
  readonly publications = new Map<string, Publication>();
  /** Streams this session receives, by key string. */
  readonly subscriptions = new Map<string, Subscription>();
  readonly budget: ConsumerBudget;
  /** What the client can receive: from its answer to the priming offer, or from its own offers. */
  clientCaps: types.RtpCapabilities | undefined;
  offerMode: OfferMode = 'unknown';
  /** The server offer awaiting its answer, re-sent if the client moves to its own channel. */
  outstandingOffer: Outbound | undefined;
  /** Coalesces changes into one renegotiation (subscribe.ts). */
  syncScheduled = false;
  serverOfferSeq = 0;
  #closed = false;

  private constructor(ctx: SessionContext, worker: MediaWorker, peer: Peer, sdp: SessionSdp) {
    super();
    this.ctx = ctx;
    this.worker = worker;
    this.peer = peer;
    this.sdp = sdp;
    this.log = ctx.log.child({ session: this.id });
    this.negotiator = new Negotiator({
      timeoutMs: ctx.config.negotiationTimeoutMs,
      // An offer the client may have applied went unanswered: the server can
      // no longer know the client's state, so the session ends.
      onLost: (error) => {
        this.log.warn({ err: error }, 'server offer unanswered');
        this.close('negotiation_timeout');
      },
    });
    const max = ctx.config.maxConsumersPerWorker;
    this.budget = {
      acquire: () => (worker.consumers >= max ? false : (worker.consumers++, true)),
      release: () => void worker.consumers--,
    };
  }

  /** Answers a createSession offer; the returned session opens `signaling` once connected. */
  static async create(ctx: SessionContext, worker: MediaWorker, offerText: string): Promise<{ session: Session; answer: string }> {
    const { config } = ctx;
    const offer = parseSdp(offerText, config);
    const dataSection = offer.media.length === 1 ? offer.media[0] : undefined;
    if (!dataSection || dataSection.type !== 'application' || !/DTLS\/SCTP/.test(dataSection.protocol) || dataSection.port === 0) {
      throw new AppError('invalid_sdp', 'createSession takes a datachannel-only offer (exactly one m=application section)');
    }
    const remote = remoteTransportInfo(offer);
    if (remote.setup === 'passive') throw new AppError('invalid_sdp', 'the offer must allow the server to be the DTLS server (a=setup:actpass or active)');
    const peer = await Peer.create(worker, remote.fingerprints, {
      iceConsentTimeoutS: config.iceConsentTimeoutS,
      initialOutgoingBitrate: config.initialOutgoingBitrate,
      channelCheckIntervalMs: config.channelCheckIntervalMs,
      connectTimeoutMs: config.connectTimeoutMs,
      livenessIntervalMs: config.livenessIntervalMs,
      silenceTimeoutMs: config.peerSilenceTimeoutMs,
      probeGraceMs: config.peerProbeGraceMs,
    });
    const { transport } = peer;
    const sdp = new SessionSdp({
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      fingerprints: transport.dtlsParameters.fingerprints,
      sctpPort: 5000,
      maxMessageSize: SCTP_MAX_MESSAGE_SIZE,
    });
    sdp.sections.push({ kind: 'application', mid: String(dataSection.mid) });
    const session = new Session(ctx, worker, peer, sdp);
    session.#wire();
    return { session, answer: sdp.render(offer) };
  }

  get closed(): boolean {
    return this.#closed;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  #wire(): void {
    this.peer.on('open', () => {
      this.log.info('signaling channel open');
      this.emit('ready');
      prime(this).catch((error) => this.log.warn({ err: error }, 'priming negotiation failed'));
    });
    this.peer.on('message', (text, stream) => this.emit('message', text, stream));
    this.peer.on('primarychange', () => {
      if (this.outstandingOffer) this.send(this.outstandingOffer).catch(() => undefined);
    });
    this.peer.on('close', (reason) => this.close(reason));
  }

  /** Sends a message: a reply on the channel its request came on, anything else on the primary one. */
  async send(message: Outbound, stream?: number): Promise<void> {
    if (this.#closed) return;
    await this.peer.send(JSON.stringify(message), stream);
  }

  /** Throws if the session closed: call after every await before touching state. */
  assertOpen(): void {
    if (this.#closed) throw new AppError('session_closed', 'the session has ended');
  }

  // --- requests ------------------------------------------------------------------

  /** Applies a client offer: its new sending sections become tracks of `key`. Returns the answer. */
  publish(key: StreamKey, offerText: string): Promise<string> {
    const offer = parseSdp(offerText, this.ctx.config);
    return this.negotiator.runClientOffer(offer, () => applyClientOffer(this, offer, { kind: 'publish', key }));
  }

  /**
   * Subscribes. Without an offer the server offers the stream's tracks and
   * resolves once the answer is applied. With the client's own offer (new
   * receive-only sections), the server fills those sections with the stream's
   * tracks and returns its answer.
   */
  async subscribe(id: RequestId, key: StreamKey, offerText?: string): Promise<string | undefined> {
    const k = streamKeyString(key);
    if (this.subscriptions.has(k)) throw new AppError('already_subscribed', `already subscribed to ${k}`);
    if (offerText === undefined) {
      await this.negotiator.run(() => subscribeByKey(this, id, key));
      return undefined;
    }
    const offer = parseSdp(offerText, this.ctx.config);
    return this.negotiator.runClientOffer(offer, () => applyClientOffer(this, offer, { kind: 'subscribe', key }));
  }

  /** Stops the stream this session publishes under `key`; subscribers are told. */
  unpublish(key: StreamKey): Promise<void> {
    return this.negotiator.run(async () => {
      const publication = this.publications.get(streamKeyString(key));
      if (!publication) {
        const other = this.ctx.registry.get(key);
        throw new AppError(other ? 'not_publisher' : 'stream_not_found', other ? 'that stream is published by another session' : 'no such stream');
      }
      for (const [mid, track] of this.published) if (track.publication === publication) this.published.delete(mid);
      publication.close('unpublished');
      scheduleSync(this);
    });
  }

  /** Stops receiving `key`; the client's tracks end after the renegotiation that follows. */
  unsubscribe(key: StreamKey): Promise<void> {
    return this.negotiator.run(async () => {
      const k = streamKeyString(key);
      const subscription = this.subscriptions.get(k);
      if (!subscription) throw new AppError('not_subscribed', `not subscribed to ${k}`);
      this.dropSubscription(k);
      scheduleSync(this);
    });
  }

  /** Routes an answer to the server offer it answers. */
  deliverAnswer(event: string, id: RequestId, sdp: string): void {
    if (!this.negotiator.answer(event, id, sdp)) {
      throw new AppError('unknown_request', `the server is not waiting for an answer to ${event} ${JSON.stringify(id)}`);
    }
  }

  /** The client could not apply a server offer (it says so instead of answering). */
  rejectOffer(event: string, id: RequestId, message: string): void {
    if (!this.negotiator.reject(event, id, message)) {
      throw new AppError('unknown_request', `the server is not waiting for an answer to ${event} ${JSON.stringify(id)}`);
    }
  }

  /** Forgets a subscription without telling the client `stream_ended` (it asked, or the offer failed). */
  dropSubscription(k: string): void {
    const subscription = this.subscriptions.get(k);
    if (!subscription) return;
    this.subscriptions.delete(k);
    subscription.removeAllListeners('close');
    subscription.close('unsubscribed');
  }

  /** Called by subscribe.ts for every subscription it registers. */
  watchSubscription(k: string, subscription: Subscription): void {
    this.subscriptions.set(k, subscription);
    subscription.on('trackadded', () => scheduleSync(this));
    subscription.on('trackended', () => scheduleSync(this));
    subscription.once('close', (reason) => {
      if (this.subscriptions.get(k) !== subscription) return;
      this.subscriptions.delete(k);
      const { callId, deviceId, purpose } = subscription.publication.key;
      this.send({ event: 'stream_ended', call_id: callId, device_id: deviceId, purpose, reason }).catch(() => undefined);
      scheduleSync(this);
    });
  }

  /** Parses an answer to the current model's offer and checks it lists the same sections. */
  parseAnswer(text: string): SessionDescription {
    const answer = parseSdp(text, this.ctx.config);
    const expected = this.sdp.sections.map((s) => s.mid);
    const got = answer.media.map((m) => String(m.mid));
    if (expected.join(' ') !== got.join(' ')) {
      throw new AppError('invalid_sdp', `the answer's m-sections (${got.join(',')}) do not match the offer's (${expected.join(',')})`);
    }
    return answer;
  }

  // --- teardown --------------------------------------------------------------------

  /** Ends the session: every producer, consumer and the transport are freed. Idempotent. */
  close(reason: SessionCloseReason = 'server_shutdown'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.negotiator.close();
    for (const publication of this.publications.values()) publication.close('publisher_left');
    this.publications.clear();
    this.published.clear();
    for (const k of [...this.subscriptions.keys()]) this.dropSubscription(k);
    // The peer goes with it, saying goodbye while the channel works.
    this.peer.close(isPeerReason(reason) ? reason : 'transport_closed', JSON.stringify({ event: 'session_ended', reason } satisfies Outbound));
    this.log.info({ reason }, 'session closed');
    this.emit('close', reason);
  }
}

function isPeerReason(reason: SessionCloseReason): reason is PeerCloseReason {
  return !['negotiation_timeout', 'negotiation_failed', 'server_shutdown'].includes(reason);
}
