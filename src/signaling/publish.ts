// Client offers. A `publish` offer's new sending sections become tracks of a
// stream; a `subscribe` offer's new receive-only sections are filled with a
// stream's tracks (the style of clients that drive negotiation themselves).
// Either way the whole offer is checked against the connection's model before
// anything changes, and the answer mirrors it section by section.
import type { types } from 'mediasoup';
import { AppError } from '../errors.ts';
import { PublicationClosedError, streamKeyString, type StreamKey } from '../media/registry.ts';
import { OverCapacityError, Subscription } from '../media/subscription.ts';
import { remoteReceives, remoteSends, sectionCodecs, senderInfo, type MediaDescription, type SessionDescription } from '../sdp/parse.ts';
import { capabilitiesFromAnswer, chooseCodecs, producerParameters, type ChosenCodecs } from '../sdp/codecs.ts';
import { consumerSection, resumeAccepted } from './subscribe.ts';
import type { Session } from './session.ts';

export type ClientOfferIntent = { kind: 'publish'; key: StreamKey } | { kind: 'subscribe'; key: StreamKey };

interface OfferShape {
  /** Sections (index, m) the client offers that the model does not have: new, or a recycled slot. */
  fresh: { index: number; m: MediaDescription }[];
  /** Published mids the client no longer sends on. */
  stopped: string[];
}

/** Checks the offer against the model: same order, same kinds, only closed slots recycled. */
function readOffer(session: Session, offer: SessionDescription): OfferShape {
  const sections = session.sdp.sections;
  if (offer.media.length < sections.length) throw new AppError('invalid_sdp', 'the offer dropped m-sections');
  const shape: OfferShape = { fresh: [], stopped: [] };
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
    if (session.published.has(mid) && !remoteSends(m)) shape.stopped.push(mid);
    if (!current) shape.fresh.push({ index, m });
  });
  return shape;
}

/** Runs inside the negotiator (a client offer). Returns the answer. */
export async function applyClientOffer(session: Session, offer: SessionDescription, intent: ClientOfferIntent): Promise<string> {
  session.assertOpen();
  const shape = readOffer(session, offer);
  learnCapabilities(session, offer);
  return intent.kind === 'publish' ? publishTracks(session, offer, shape, intent.key) : fillReceiveSections(session, offer, shape, intent.key);
}

/** A client that drives negotiation itself: what it can receive, from what it offers. */
function learnCapabilities(session: Session, offer: SessionDescription): void {
  if (session.offerMode !== 'offers') return;
  session.clientCaps = capabilitiesFromAnswer(offer.media, session.worker.router.rtpCapabilities);
}

async function publishTracks(session: Session, offer: SessionDescription, shape: OfferShape, key: StreamKey): Promise<string> {
  const { config, registry } = session.ctx;
  const routerCaps = session.worker.router.rtpCapabilities;
  const existing = registry.get(key);
  if (existing && !(existing.origin.kind === 'session' && existing.origin.sessionId === session.id)) {
    throw new AppError('stream_exists', `stream ${streamKeyString(key)} is published by another session`);
  }
  // Sections already known that start sending count as new tracks too (a primed
  // or received section the browser reused for its own track).
  const added: { index: number; m: MediaDescription; chosen: ChosenCodecs }[] = [];
  offer.media.forEach((m, index) => {
    const mid = String(m.mid);
    if ((m.type === 'audio' || m.type === 'video') && !session.published.has(mid) && remoteSends(m)) {
      added.push({ index, m, chosen: chooseCodecs(m, routerCaps) });
    }
  });
  if (added.length === 0 && !existing) throw new AppError('invalid_sdp', 'the offer has no new track to publish');
  if (session.published.size - shape.stopped.length + added.length > config.maxTracksPerSession) {
    throw new AppError('over_capacity', `a session may publish at most ${config.maxTracksPerSession} tracks`);
  }

  // Taking the key is synchronous: a second session publishing it now gets stream_exists.
  const taken = registry.take(key, { kind: 'session', sessionId: session.id }, session.worker.router);
  if (!taken) throw new AppError('stream_exists', `stream ${streamKeyString(key)} is published by another session`);
  const { publication, created } = taken;
  const k = streamKeyString(key);
  if (created) {
    session.publications.set(k, publication);
    publication.once('close', () => {
      if (session.publications.get(k) === publication) session.publications.delete(k);
    });
  }

  const producers: types.Producer[] = [];
  try {
    for (const { m, chosen } of added) {
      producers.push(
        await publication.produce(session.peer.transport, {
          kind: m.type as types.MediaKind,
          rtpParameters: producerParameters(m, chosen),
          appData: { session: session.id, mid: String(m.mid) },
        }),
      );
      session.assertOpen();
    }
  } catch (error) {
    for (const p of producers) p.close();
    if (created && publication.tracks.length === 0) publication.close('unpublished');
    if (error instanceof PublicationClosedError) throw new AppError('session_closed', 'the stream ended while it was being published');
    throw error instanceof AppError ? error : new AppError('unsupported_media', 'the server cannot receive this offer', { cause: error });
  }

  // Commit: nothing below awaits.
  const sections = session.sdp.sections;
  for (const mid of shape.stopped) {
    const track = session.published.get(mid);
    session.published.delete(mid);
    if (track) track.publication.removeTrack(track.producer.id);
    const section = session.sdp.find(mid);
    if (section && section.kind !== 'application') section.recv = undefined;
  }
  added.forEach(({ index, m, chosen }, i) => {
    const mid = String(m.mid);
    const prior = sections[index];
    sections[index] =
      prior && prior.kind !== 'application' && prior.mid === mid
        ? {
            ...prior,
            // The codec the client sends comes first: the answer's order is what it sends with.
            codecs: mergeBy(chosen.codecs, prior.codecs, (c) => c.payloadType),
            headerExtensions: mergeBy(chosen.headerExtensions, prior.headerExtensions, (e) => e.id),
            recv: { rids: senderInfo(m).rids },
          }
        : { kind: m.type as types.MediaKind, mid, closed: false, codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, recv: { rids: senderInfo(m).rids } };
    session.published.set(mid, { publication, producer: producers[i]! });
  });
  closeUnused(session, offer);
  // A stream whose every track stopped has ended.
  for (const p of session.publications.values()) if (p.tracks.length === 0) p.close('unpublished');
  for (const p of producers) publication.announce(p);
  session.log.info({ stream: key, tracks: producers.map((p) => p.kind), stopped: shape.stopped.length }, 'published');
  return renderAnswer(session, offer);
}

/**
 * A subscribe offer: the client added receive-only sections (audio, video…);
 * each is filled with a track of the stream of the same kind. A section whose
 * codecs' payload types or extension ids differ from the router's gets only
 * what matches (an extension with another id is left out, not sent wrong).
 */
async function fillReceiveSections(session: Session, offer: SessionDescription, shape: OfferShape, key: StreamKey): Promise<string> {
  const k = streamKeyString(key);
  const publication = session.ctx.registry.get(key);
  if (!publication || publication.closed || publication.tracks.length === 0) throw new AppError('stream_not_found', `no stream ${k} is published`);
  if (session.subscriptions.has(k)) throw new AppError('already_subscribed', `already subscribed to ${k}`);
  if (shape.stopped.length > 0) throw new AppError('invalid_sdp', 'a subscribe offer cannot stop published tracks');
  const routerCaps = session.worker.router.rtpCapabilities;
  const subscription = new Subscription(publication, session.peer.transport, session.worker.router, session.budget);
  const filled: { index: number; m: MediaDescription; consumer: types.Consumer }[] = [];
  try {
    for (const { index, m } of shape.fresh) {
      if (remoteSends(m) || !remoteReceives(m)) continue;
      const producer = subscription.unconsumed().find((p) => p.kind === m.type && !filled.some((f) => f.consumer.producerId === p.id));
      if (!producer) continue;
      const caps = capabilitiesFromAnswer([m], routerCaps);
      const rtx = (caps.codecs ?? []).some((c) => /\/rtx$/i.test(c.mimeType));
      const track = await subscription.consume(producer, caps, String(m.mid), rtx);
      session.assertOpen();
      if (track) filled.push({ index, m, consumer: track.consumer });
    }
  } catch (error) {
    subscription.close();
    if (error instanceof OverCapacityError) throw new AppError('over_capacity', error.message);
    throw error;
  }
  if (filled.length === 0) {
    subscription.close();
    throw new AppError('unsupported_media', `the offer has no receive-only section the stream's tracks can be sent on`);
  }
  for (const { index, consumer } of filled) {
    session.sdp.sections[index] = consumerSection(consumer, String(offer.media[index]!.mid), publication.id);
  }
  closeUnused(session, offer);
  session.watchSubscription(k, subscription);
  const answer = renderAnswer(session, offer);
  // The client applies the answer once it arrives.
  resumeAccepted(session, offer, [300, 1000, 2500]);
  session.log.info({ stream: key, tracks: filled.length }, 'subscribed (client offer)');
  return answer;
}

/**
 * Sections the client added or recycled that carry nothing are rejected in the
 * answer (port 0); sections the client rejected are closed here too.
 */
function closeUnused(session: Session, offer: SessionDescription): void {
  const sections = session.sdp.sections;
  offer.media.forEach((m, index) => {
    const s = sections[index];
    if (!s || s.mid !== String(m.mid)) {
      sections[index] = { kind: m.type as types.MediaKind, mid: String(m.mid), closed: true, codecs: sectionCodecs(m).slice(0, 1), headerExtensions: [] };
    } else if (s.kind !== 'application' && m.port === 0) {
      session.sdp.close(s.mid);
    }
  });
}

function renderAnswer(session: Session, offer: SessionDescription): string {
  const answer = session.sdp.render(offer);
  // The client applies this answer: the closes it carries are final.
  session.sdp.completed();
  return answer;
}

/** `a`, then what `b` has that `a` lacks (by `key`). */
function mergeBy<T>(a: T[], b: T[], key: (item: T) => unknown): T[] {
  const seen = new Set(a.map(key));
  return [...a, ...b.filter((item) => !seen.has(key(item)))];
}
