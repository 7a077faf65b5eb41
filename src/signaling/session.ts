// One client peer connection: its WebRtcTransport (BUNDLE: the signaling
// channel and all media), the SDP model of its m-sections, what it publishes
// and what it receives. Handlers call the public methods; every change to the
// connection runs through the Negotiator, one offer/answer at a time.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { MediaWorker } from '../media/worker-pool.ts';
import { SctpLink, type SctpLinkCloseReason } from '../media/sctp-link.ts';
import { Publication, PublicationRegistry, streamKeyString, type StreamKey } from '../media/registry.ts';
import { parseSdp, remoteSends, remoteTransportInfo, sectionCodecs, senderInfo, type SessionDescription } from '../sdp/parse.ts';
import { capabilitiesFromAnswer, chooseCodecs, producerParameters, type ChosenCodecs } from '../sdp/codecs.ts';
import { routerSection, SessionSdp, type RtpSection } from '../sdp/session-sdp.ts';
import { Negotiator } from './negotiator.ts';
import type { Outbound, RequestId } from './schema.ts';

export interface SessionContext {
  config: Config;
  log: Logger;
  registry: PublicationRegistry;
}

interface PublishedTrack {
  publication: Publication;
  producer: types.Producer;
}

interface Subscription {
  publication: Publication;
  /** By producer id. */
  consumers: Map<string, { consumer: types.Consumer; mid: string }>;
  /** Removes the listeners on the publication. */
  unwatch: () => void;
}

export type SessionCloseReason =
  | SctpLinkCloseReason
  | 'ice_disconnected'
  | 'dtls_failed'
  | 'connect_timeout'
  | 'worker_died'
  | 'server_shutdown';

export interface SessionEvents {
  /** The signaling channel is usable. */
  ready: [];
  message: [text: string, stream: number];
  close: [reason: SessionCloseReason];
}

const SCTP_MAX_MESSAGE_SIZE = 262144;

export class Session extends EventEmitter<SessionEvents> {
  readonly id = randomUUID();
  readonly worker: MediaWorker;
  readonly log: Logger;
  readonly #ctx: SessionContext;
  readonly #transport: types.WebRtcTransport;
  readonly #link: SctpLink;
  readonly #sdp: SessionSdp;
  readonly #negotiator: Negotiator;
  /** Published tracks by the mid they arrive on. */
  readonly #published = new Map<string, PublishedTrack>();
  readonly #publications = new Map<string, Publication>();
  readonly #subscriptions = new Map<string, Subscription>();
  /** What the client can receive; known once it answered the priming offer. */
  #clientCaps: types.RtpCapabilities | undefined;
  #primed: Promise<void> | undefined;
  #syncScheduled = false;
  #serverOfferSeq = 0;
  /** The server offer awaiting its answer, re-sent if the client moves to its own channel. */
  #outstandingOffer: Outbound | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(ctx: SessionContext, worker: MediaWorker, transport: types.WebRtcTransport, link: SctpLink, sdp: SessionSdp) {
    super();
    this.#ctx = ctx;
    this.worker = worker;
    this.#transport = transport;
    this.#link = link;
    this.#sdp = sdp;
    this.#negotiator = new Negotiator(ctx.config.negotiationTimeoutMs);
    this.log = ctx.log.child({ session: this.id });
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

    const transport = await worker.router.createWebRtcTransport({
      webRtcServer: worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      enableSctp: true,
      maxSendMessageSize: SCTP_MAX_MESSAGE_SIZE,
      maxReceiveMessageSize: SCTP_MAX_MESSAGE_SIZE,
      iceConsentTimeout: config.iceConsentTimeoutS,
      initialAvailableOutgoingBitrate: config.initialOutgoingBitrate,
    });
    try {
      const link = await SctpLink.create(transport, worker.direct, worker.silentSource, config.channelCheckIntervalMs);
      // We answer a=setup:passive, so the browser is the DTLS client.
      await transport.connect({ dtlsParameters: { role: 'client', fingerprints: remote.fingerprints } });
      const sdp = new SessionSdp({
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        fingerprints: transport.dtlsParameters.fingerprints,
        sctpPort: 5000,
        maxMessageSize: SCTP_MAX_MESSAGE_SIZE,
      });
      sdp.sections.push({ kind: 'application', mid: String(dataSection.mid) });
      const session = new Session(ctx, worker, transport, link, sdp);
      session.#wire();
      worker.sessions++;
      return { session, answer: sdp.render(offer) };
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get publicationCount(): number {
    return this.#publications.size;
  }

  #wire(): void {
    const t = this.#transport;
    this.#link.on('open', () => {
      clearTimeout(this.#connectTimer);
      this.log.info('signaling channel open');
      this.emit('ready');
      this.#prime().catch((error) => this.log.warn({ err: error }, 'priming negotiation failed'));
    });
    this.#link.on('message', (text, stream) => this.emit('message', text, stream));
    this.#link.on('primarychange', () => {
      if (this.#outstandingOffer) this.send(this.#outstandingOffer).catch(() => undefined);
    });
    this.#link.on('close', (reason) => this.close(reason));
    t.on('icestatechange', (state) => {
      if (state === 'disconnected' || state === 'closed') this.close('ice_disconnected');
    });
    t.on('dtlsstatechange', (state) => {
      if (state === 'failed' || state === 'closed') this.close('dtls_failed');
    });
    // 'routerclose' comes before the observer's 'close' that the link reacts to.
    t.on('routerclose', () => this.close(this.worker.worker.died ? 'worker_died' : 'transport_closed'));
    this.#connectTimer = setTimeout(() => this.close('connect_timeout'), this.#ctx.config.connectTimeoutMs);
    this.#connectTimer.unref();
  }

  /** Sends a message: a reply on the channel its request came on, anything else on the primary one. */
  async send(message: Outbound, stream?: number): Promise<void> {
    if (this.#closed || !this.#link.open) return;
    await this.#link.send(JSON.stringify(message), stream);
  }

  // --- negotiation -------------------------------------------------------------

  /**
   * The first server offer: inactive audio and video sections carrying the
   * router's codecs, payload types and header extension ids. Chromium then
   * reuses those ids for every later section of the BUNDLE, which is what
   * lets one connection both publish and receive router-forwarded media.
   */
  #prime(): Promise<void> {
    this.#primed ??= this.#negotiator.run(async () => {
      const caps = this.worker.router.rtpCapabilities;
      for (const kind of ['audio', 'video'] as const) this.#sdp.addServerSection(routerSection(caps, kind, this.#sdp.newMid()));
      const answer = await this.#serverOffer('negotiate', `prime-${this.id.slice(0, 8)}`, { reason: 'prime' });
      this.#clientCaps = capabilitiesFromAnswer(answer.media, caps);
      this.log.debug({ codecs: this.#clientCaps.codecs?.map((c) => c.mimeType) }, 'client receive capabilities learnt');
    });
    return this.#primed;
  }

  /** Sends the current model as an offer and applies the client's answer. */
  async #serverOffer(
    event: 'subscribe' | 'negotiate',
    id: RequestId,
    extra: { reason: 'prime' | 'tracks_changed' } | { stream_id: string; mids: string[] },
  ): Promise<SessionDescription> {
    const message = { event, id, sdp: this.#sdp.render(), ...extra } as Outbound;
    this.#outstandingOffer = message;
    const answerText = await this.#negotiator.offer(event, id, () => this.send(message)).finally(() => {
      this.#outstandingOffer = undefined;
    });
    const answer = parseSdp(answerText, this.#ctx.config);
    const expected = this.#sdp.sections.map((s) => s.mid);
    const got = answer.media.map((m) => String(m.mid));
    if (expected.join(' ') !== got.join(' ')) {
      throw new AppError('invalid_sdp', `the answer's m-sections (${got.join(',')}) do not match the offer's (${expected.join(',')})`);
    }
    return answer;
  }

  /** Routes an answer to the server offer it answers. */
  deliverAnswer(event: string, id: RequestId, sdp: string): void {
    if (!this.#negotiator.answer(event, id, sdp)) {
      throw new AppError('unknown_request', `the server is not waiting for an answer to ${event} ${JSON.stringify(id)}`);
    }
  }

  // --- publish -------------------------------------------------------------------

  /** Applies a client offer: its new sending sections become tracks of `key`. Returns the answer. */
  publish(key: StreamKey, offerText: string): Promise<string> {
    return this.#negotiator.runClientOffer(async () => {
      const { config, registry } = this.#ctx;
      const offer = parseSdp(offerText, config);
      const existing = registry.get(key);
      if (existing && !(existing.origin.kind === 'session' && existing.origin.sessionId === this.id)) {
        throw new AppError('stream_exists', `stream ${streamKeyString(key)} is published by another session`);
      }
      const routerCaps = this.worker.router.rtpCapabilities;
      const sections = this.#sdp.sections;
      const added: { index: number; m: (typeof offer.media)[number]; chosen: ChosenCodecs; recycled: boolean }[] = [];
      const stopped: string[] = [];

      // Validate the whole offer before touching anything.
      offer.media.forEach((m, index) => {
        const mid = String(m.mid);
        const known = sections[index];
        if (known && known.mid !== mid && !(known.kind !== 'application' && known.closed)) {
          throw new AppError('invalid_sdp', `m-section ${index} has mid ${mid}, expected ${known.mid}`);
        }
        const current = known && known.mid === mid ? known : undefined;
        if (current && current.kind !== m.type) throw new AppError('invalid_sdp', `m-section ${mid} changed kind`);
        if (m.type === 'application') {
          if (!current) throw new AppError('invalid_sdp', 'a second data channel section is not supported');
          return;
        }
        if (m.type !== 'audio' && m.type !== 'video') throw new AppError('invalid_sdp', `unsupported m-section type ${m.type}`);
        const published = this.#published.has(mid);
        if (published && !remoteSends(m)) stopped.push(mid);
        if (!published && remoteSends(m)) added.push({ index, m, chosen: chooseCodecs(m, routerCaps), recycled: !current && !!known });
      });
      if (offer.media.length < sections.length) throw new AppError('invalid_sdp', 'the offer dropped m-sections');
      if (added.length === 0 && !existing) throw new AppError('invalid_sdp', 'the offer has no new track to publish');
      if (this.#published.size - stopped.length + added.length > config.maxTracksPerSession) {
        throw new AppError('over_capacity', `a session may publish at most ${config.maxTracksPerSession} tracks`);
      }

      // Produce every new track; on any failure undo them all.
      const producers: types.Producer[] = [];
      try {
        for (const { m, chosen } of added) {
          producers.push(
            await this.#transport.produce({
              kind: m.type as types.MediaKind,
              rtpParameters: producerParameters(m, chosen),
              appData: { session: this.id, mid: String(m.mid) },
            }),
          );
        }
      } catch (error) {
        for (const p of producers) p.close();
        throw error instanceof AppError ? error : new AppError('unsupported_media', `the server cannot receive this offer: ${(error as Error).message}`, { cause: error });
      }

      // Commit.
      let publication = existing;
      if (!publication) {
        publication = new Publication(key, { kind: 'session', sessionId: this.id }, this.worker.router);
        this.#publications.set(streamKeyString(key), publication);
        publication.once('close', () => this.#publications.delete(streamKeyString(key)));
        registry.add(publication);
      }
      // Tracks the client stopped sending in this very offer: the answer says so.
      for (const mid of stopped) {
        this.#stopPublishedTrack(mid);
        const section = this.#sdp.find(mid);
        if (section && section.kind !== 'application') section.recv = undefined;
      }
      added.forEach(({ index, m, chosen }, i) => {
        const mid = String(m.mid);
        const producer = producers[i]!;
        const prior = sections[index];
        const section: RtpSection =
          prior && prior.kind !== 'application' && prior.mid === mid
            ? { ...prior, codecs: mergeCodecs(prior.codecs, chosen.codecs), recv: { rids: ridsOf(m) } }
            : { kind: m.type as types.MediaKind, mid, closed: false, codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, recv: { rids: ridsOf(m) } };
        sections[index] = section;
        this.#published.set(mid, { publication: publication!, producer });
        publication!.addTrack(producer);
      });
      offer.media.forEach((m, index) => {
        const s = sections[index];
        if (!s || s.mid !== String(m.mid)) {
          // A section the client added (or recycled) without sending on it:
          // the server has nothing to send there, so the answer rejects it.
          sections[index] = { kind: m.type as types.MediaKind, mid: String(m.mid), closed: true, codecs: sectionCodecs(m).slice(0, 1), headerExtensions: [] };
        } else if (m.port === 0 && s.kind !== 'application') {
          // Sections the client rejected are closed on our side too.
          s.closed = true;
        }
      });
      this.log.info({ stream: key, tracks: producers.map((p) => p.kind) }, 'published');
      return this.#sdp.render(offer);
    });
  }

  /** Frees a published track; its section closes in the next negotiation. */
  #stopPublishedTrack(mid: string): void {
    const track = this.#published.get(mid);
    if (!track) return;
    this.#published.delete(mid);
    track.producer.close();
  }

  /** Stops the stream this session publishes under `key`; subscribers are told. */
  unpublish(key: StreamKey): void {
    const publication = this.#publications.get(streamKeyString(key));
    if (!publication) {
      const other = this.#ctx.registry.get(key);
      throw new AppError(other ? 'not_publisher' : 'stream_not_found', other ? 'that stream is published by another session' : 'no such stream');
    }
    for (const [mid, track] of this.#published) if (track.publication === publication) this.#stopPublishedTrack(mid);
    publication.close('unpublished');
    this.#scheduleSync();
  }

  // --- subscribe -----------------------------------------------------------------

  /** Offers the stream's tracks to the client and waits for its answer; media flows after. */
  subscribe(id: RequestId, key: StreamKey): Promise<void> {
    const k = streamKeyString(key);
    const publication = this.#ctx.registry.get(key);
    if (!publication) throw new AppError('stream_not_found', `no stream ${k} is published`);
    if (this.#subscriptions.has(k)) throw new AppError('already_subscribed', `already subscribed to ${k}`);
    return this.#negotiator.run(async () => {
      // Priming was queued when the channel opened, so it has finished here.
      if (publication.closed) throw new AppError('stream_not_found', `stream ${k} ended`);
      if (this.#subscriptions.has(k)) throw new AppError('already_subscribed', `already subscribed to ${k}`);
      const subscription: Subscription = { publication, consumers: new Map(), unwatch: () => undefined };
      const snapshot = this.#sdp.snapshot();
      try {
        const added = await this.#addConsumers(subscription);
        if (added.length === 0) throw new AppError('unsupported_media', 'the client can receive none of the stream\'s tracks');
        this.#subscriptions.set(k, subscription);
        this.#watchPublication(k, subscription);
        const answer = await this.#serverOffer('subscribe', id, { stream_id: publication.id, mids: added.map((a) => a.mid) });
        await this.#applyAnswer(answer);
        this.log.info({ stream: key, tracks: added.length }, 'subscribed');
      } catch (error) {
        this.#subscriptions.delete(k);
        this.#dropSubscription(subscription);
        this.#sdp.restore(snapshot);
        throw error;
      }
    });
  }

  /** Consumers (paused) and m-sections for the publication's tracks not yet consumed. */
  async #addConsumers(subscription: Subscription): Promise<{ mid: string; consumer: types.Consumer }[]> {
    const caps = this.#clientCaps;
    if (!caps) throw new AppError('unsupported_media', 'the client has not answered the priming offer');
    const router = this.worker.router;
    const added: { mid: string; consumer: types.Consumer }[] = [];
    for (const producer of subscription.publication.tracks) {
      if (subscription.consumers.has(producer.id)) continue;
      if (this.worker.consumers >= this.#ctx.config.maxConsumersPerWorker) {
        throw new AppError('over_capacity', 'this focus forwards all the streams it can');
      }
      await subscription.publication.ensureOn(router, producer);
      if (!router.canConsume({ producerId: producer.id, rtpCapabilities: caps })) continue;
      const mid = this.#sdp.newMid();
      const consumer = await this.#transport.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true, mid, enableRtx: true });
      const { rtpParameters } = consumer;
      const encoding = rtpParameters.encodings?.[0];
      this.#sdp.addServerSection({
        kind: consumer.kind,
        mid,
        closed: false,
        codecs: rtpParameters.codecs,
        headerExtensions: rtpParameters.headerExtensions ?? [],
        send: {
          ssrc: encoding!.ssrc!,
          rtxSsrc: encoding?.rtx?.ssrc,
          cname: rtpParameters.rtcp?.cname ?? 'foci',
          streamId: subscription.publication.id,
          trackId: producer.id,
        },
      });
      subscription.consumers.set(producer.id, { consumer, mid });
      this.worker.consumers++;
      consumer.observer.once('close', () => {
        this.worker.consumers--;
        if (subscription.consumers.get(producer.id)?.consumer === consumer) subscription.consumers.delete(producer.id);
      });
      consumer.on('producerclose', () => this.#scheduleSync());
      added.push({ mid, consumer });
    }
    return added;
  }

  /** Resumes consumers the client accepted and drops those it rejected. */
  async #applyAnswer(answer: SessionDescription): Promise<void> {
    const byMid = new Map(answer.media.map((m) => [String(m.mid), m]));
    for (const subscription of this.#subscriptions.values()) {
      for (const { consumer, mid } of subscription.consumers.values()) {
        const m = byMid.get(mid);
        if (!m || m.port === 0) {
          consumer.close();
          const s = this.#sdp.find(mid);
          if (s && s.kind !== 'application') s.closed = true;
        } else if (consumer.paused) {
          await consumer.resume();
          if (consumer.kind === 'video') await consumer.requestKeyFrame().catch(() => undefined);
        }
      }
    }
  }

  #watchPublication(k: string, subscription: Subscription): void {
    const { publication } = subscription;
    const onClose = (reason: string) => {
      if (this.#subscriptions.get(k) !== subscription) return;
      const { callId, deviceId, purpose } = publication.key;
      this.send({ event: 'stream_ended', call_id: callId, device_id: deviceId, purpose, reason }).catch(() => undefined);
      this.#scheduleSync();
    };
    const onTrackAdded = () => this.#scheduleSync();
    publication.once('close', onClose);
    publication.on('trackadded', onTrackAdded);
    subscription.unwatch = () => {
      publication.off('close', onClose);
      publication.off('trackadded', onTrackAdded);
    };
  }

  #dropSubscription(subscription: Subscription): void {
    subscription.unwatch();
    for (const { consumer } of subscription.consumers.values()) consumer.close();
  }

  /** Stops receiving `key`; the client's tracks end after the renegotiation that follows. */
  unsubscribe(key: StreamKey): void {
    const k = streamKeyString(key);
    const subscription = this.#subscriptions.get(k);
    if (!subscription) throw new AppError('not_subscribed', `not subscribed to ${k}`);
    this.#subscriptions.delete(k);
    this.#dropSubscription(subscription);
    this.#scheduleSync();
  }

  /**
   * Brings the connection in line with the subscriptions and publications:
   * sections of ended tracks close, tracks added to subscribed streams get
   * sections. Coalesced: many changes make one renegotiation.
   */
  #scheduleSync(): void {
    if (this.#syncScheduled || this.#closed) return;
    this.#syncScheduled = true;
    this.#negotiator
      .run(async () => {
        this.#syncScheduled = false;
        const snapshot = this.#sdp.snapshot();
        const added: types.Consumer[] = [];
        try {
          let changed = this.#closeDeadSections();
          for (const [k, subscription] of this.#subscriptions) {
            if (subscription.publication.closed) {
              this.#subscriptions.delete(k);
              this.#dropSubscription(subscription);
              changed = true;
            } else {
              const fresh = await this.#addConsumers(subscription);
              added.push(...fresh.map((f) => f.consumer));
              changed ||= fresh.length > 0;
            }
          }
          changed = this.#closeDeadSections() || changed;
          if (!changed) return;
          const answer = await this.#serverOffer('negotiate', `s${++this.#serverOfferSeq}`, { reason: 'tracks_changed' });
          await this.#applyAnswer(answer);
        } catch (error) {
          // Consumers never offered would sit paused and count against capacity.
          for (const consumer of added) consumer.close();
          this.#sdp.restore(snapshot);
          throw error;
        }
      })
      .catch((error) => {
        this.#syncScheduled = false;
        if (!this.#closed) this.log.warn({ err: error }, 'renegotiation failed');
      });
  }

  /** Closes sections whose consumer or producer is gone. True if any closed. */
  #closeDeadSections(): boolean {
    const liveConsumerMids = new Set<string>();
    for (const subscription of this.#subscriptions.values()) {
      for (const { consumer, mid } of subscription.consumers.values()) if (!consumer.closed) liveConsumerMids.add(mid);
    }
    let changed = false;
    for (const s of this.#sdp.rtpSections) {
      if (s.closed) continue;
      if (s.send && !liveConsumerMids.has(s.mid)) {
        s.send = undefined;
        changed = true;
        if (!s.recv) s.closed = true;
      }
      if (s.recv && !this.#published.has(s.mid)) {
        s.recv = undefined;
        changed = true;
        if (!s.send) s.closed = true;
      }
    }
    return changed;
  }

  // --- teardown --------------------------------------------------------------------

  /** Ends the session: every producer, consumer and the transport are freed. Idempotent. */
  close(reason: SessionCloseReason = 'server_shutdown'): void {
    if (this.#closed) return;
    if (this.#link.open && !this.#link.closed) {
      // Best effort: the transport closes right after.
      this.#link.send(JSON.stringify({ event: 'session_ended', reason } satisfies Outbound)).catch(() => undefined);
    }
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    this.#negotiator.close();
    for (const publication of this.#publications.values()) publication.close('publisher_left');
    this.#publications.clear();
    this.#published.clear();
    for (const subscription of this.#subscriptions.values()) this.#dropSubscription(subscription);
    this.#subscriptions.clear();
    this.#link.close();
    this.#transport.close();
    this.worker.sessions--;
    this.log.info({ reason }, 'session closed');
    this.emit('close', reason);
  }
}

function ridsOf(m: SessionDescription['media'][number]): string[] {
  return senderInfo(m).rids;
}

function mergeCodecs(a: types.RtpCodecParameters[], b: types.RtpCodecParameters[]): types.RtpCodecParameters[] {
  const seen = new Set(a.map((c) => c.payloadType));
  return [...a, ...b.filter((c) => !seen.has(c.payloadType))];
}
