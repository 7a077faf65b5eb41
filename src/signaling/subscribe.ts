// Server offers: priming, subscribing by key, and keeping the connection in
// line with what it forwards (sections of ended tracks close, tracks added to
// subscribed streams get sections). Every function here runs inside the
// session's negotiator, one at a time.
//
// Until an offer is sent, its changes can be undone (snapshot/restore). Once
// sent, the client may have applied it: the server keeps its copy and waits
// for the answer. It goes back only when the client proves it did not apply
// the offer: its own offer crossed ours (Withdrawn; the task runs again
// later) or it said it could not apply it (OfferRejected).
import type { types } from 'mediasoup';
import { AppError } from '../errors.ts';
import { streamKeyString, type StreamKey } from '../media/registry.ts';
import { OverCapacityError, Subscription } from '../media/subscription.ts';
import { capabilitiesFromAnswer } from '../sdp/codecs.ts';
import type { SessionDescription } from '../sdp/parse.ts';
import { routerSection, type RtpSection, type Section } from '../sdp/session-sdp.ts';
import { OfferRejected, Withdrawn } from './negotiator.ts';
import type { Outbound, RequestId } from './schema.ts';
import type { Session } from './session.ts';

type OfferExtra = { reason: 'prime' | 'tracks_changed' } | { stream_id: string; mids: string[] };

interface Change {
  snapshot: Section[];
  /** Mids this offer adds, and mids it closes: how a crossing client offer shows it applied ours. */
  added: string[];
  closed: string[];
  /** Consumers made for this offer: closed if it is undone. */
  consumers: types.Consumer[];
}

function begin(session: Session): Change {
  return { snapshot: session.sdp.snapshot(), added: [], closed: [], consumers: [] };
}

/** Back to before the change: only while the client cannot have applied it. */
function undo(session: Session, change: Change): void {
  for (const c of change.consumers) c.close();
  session.sdp.restore(change.snapshot);
}

/** True if `offer` (a client offer) shows the client applied a server offer making `change`. */
function applied(change: Pick<Change, 'added' | 'closed'>, offer: unknown): boolean {
  const media = (offer as SessionDescription).media ?? [];
  const byMid = new Map(media.map((m) => [String(m.mid), m]));
  if (change.added.some((mid) => !byMid.has(mid))) return false;
  if (change.closed.some((mid) => (byMid.get(mid)?.port ?? 0) !== 0)) return false;
  return true;
}

/**
 * Sends the model as an offer and waits for the answer. Withdrawn and
 * OfferRejected undo the change first. A timeout ends the session (the
 * negotiator's onLost); so does an answer that does not fit the offer.
 */
async function serverOffer(session: Session, event: 'subscribe' | 'negotiate', id: RequestId, extra: OfferExtra, change: Change, timeoutMs?: number | null): Promise<SessionDescription> {
  const message = { event, id, sdp: session.sdp.render(), ...extra } as Outbound;
  session.outstandingOffer = message;
  let text: string;
  try {
    text = await session.negotiator.offer({ event, id, appliedBy: (offer) => applied(change, offer) }, () => session.send(message), timeoutMs);
  } catch (error) {
    if (error instanceof Withdrawn || error instanceof OfferRejected) undo(session, change);
    throw error;
  } finally {
    session.outstandingOffer = undefined;
  }
  session.assertOpen();
  let answer: SessionDescription;
  try {
    answer = session.parseAnswer(text);
  } catch (error) {
    session.log.warn({ err: error }, 'unusable answer to a server offer');
    session.close('negotiation_failed');
    throw error;
  }
  session.sdp.completed();
  session.offerMode = 'answers';
  return answer;
}

/**
 * The first server offer: inactive audio and video sections carrying the
 * router's codecs, payload types and header extension ids. Chromium then
 * reuses those ids for every later section of the BUNDLE, which lets one
 * connection both publish and receive router-forwarded media. It waits with
 * no time limit: a client that drives negotiation itself never reads it, and
 * its first offer withdraws it.
 */
export function prime(session: Session): Promise<void> {
  return session.negotiator.run(async () => {
    if (session.offerMode !== 'unknown') return;
    const change = begin(session);
    const caps = session.worker.router.rtpCapabilities;
    for (const kind of ['audio', 'video'] as const) {
      const mid = session.sdp.newMid();
      session.sdp.addServerSection(routerSection(caps, kind, mid));
      change.added.push(mid);
    }
    try {
      const answer = await serverOffer(session, 'negotiate', `prime-${session.id.slice(0, 8)}`, { reason: 'prime' }, change, null);
      session.clientCaps = capabilitiesFromAnswer(answer.media, caps);
    } catch (error) {
      if (!(error instanceof Withdrawn)) throw error;
      // Not re-sent: this client makes its own offers, and the server changes
      // its connection only in answers from now on.
      session.offerMode = 'offers';
      session.log.info('client drives negotiation itself (priming offer withdrawn)');
    }
  });
}

/** The m-section that sends `consumer` to the client. */
export function consumerSection(consumer: types.Consumer, mid: string, streamId: string): RtpSection {
  const { rtpParameters } = consumer;
  const encoding = rtpParameters.encodings?.[0];
  return {
    kind: consumer.kind,
    mid,
    closed: false,
    codecs: rtpParameters.codecs,
    headerExtensions: rtpParameters.headerExtensions ?? [],
    send: {
      ssrc: encoding!.ssrc!,
      rtxSsrc: encoding?.rtx?.ssrc,
      cname: rtpParameters.rtcp?.cname ?? 'foci',
      streamId,
      trackId: consumer.producerId,
    },
  };
}

/** Consumers in new sections for the subscription's tracks not yet forwarded. */
async function addConsumers(session: Session, subscription: Subscription, change: Change): Promise<number> {
  const caps = session.clientCaps;
  if (!caps) throw new AppError('unsupported_media', 'the server does not know yet what this client can receive');
  let added = 0;
  for (const producer of subscription.unconsumed()) {
    const mid = session.sdp.newMid();
    let track;
    try {
      track = await subscription.consume(producer, caps, mid);
    } catch (error) {
      if (error instanceof OverCapacityError) throw new AppError('over_capacity', error.message);
      throw error;
    }
    if (track) change.consumers.push(track.consumer);
    session.assertOpen();
    if (!track) continue;
    session.sdp.addServerSection(consumerSection(track.consumer, mid, subscription.publication.id));
    change.added.push(mid);
    added++;
  }
  return added;
}

/**
 * Asks the publisher for a key frame now and after each delay: a client that
 * got our answer (rather than sending one) applies it some time after the
 * consumer resumed, and a key frame that arrives before that is lost.
 */
function requestKeyFrames(consumer: types.Consumer, delaysMs: readonly number[]): void {
  consumer.requestKeyFrame().catch(() => undefined);
  for (const delay of delaysMs) {
    setTimeout(() => {
      if (!consumer.closed) consumer.requestKeyFrame().catch(() => undefined);
    }, delay).unref();
  }
}

/**
 * Resumes consumers whose sections the client accepted; closes those it
 * rejected. `description` is the client's answer, or its offer when the server
 * answered it (the client then applies our answer after this: key frames are
 * asked for again a little later).
 */
export function resumeAccepted(session: Session, description: SessionDescription, keyFrameDelaysMs: readonly number[] = []): void {
  const byMid = new Map(description.media.map((m) => [String(m.mid), m]));
  for (const subscription of session.subscriptions.values()) {
    for (const { consumer, mid } of subscription.tracks) {
      const m = byMid.get(mid);
      if (!m) continue;
      if (m.port === 0) {
        consumer.close();
        session.sdp.close(mid);
      } else if (consumer.paused) {
        consumer
          .resume()
          .then(() => (consumer.kind === 'video' ? requestKeyFrames(consumer, keyFrameDelaysMs) : undefined))
          .catch(() => undefined);
      }
    }
  }
}

/** A subscribe request without an offer: the server offers the stream's tracks. */
export async function subscribeByKey(session: Session, id: RequestId, key: StreamKey): Promise<void> {
  session.assertOpen();
  const k = streamKeyString(key);
  const publication = session.ctx.registry.get(key);
  if (!publication || publication.closed || publication.tracks.length === 0) throw new AppError('stream_not_found', `no stream ${k} is published`);
  if (session.subscriptions.has(k)) throw new AppError('already_subscribed', `already subscribed to ${k}`);
  const change = begin(session);
  const subscription = new Subscription(publication, session.peer.transport, session.worker.router, session.budget);
  let added: number;
  try {
    added = await addConsumers(session, subscription, change);
  } catch (error) {
    subscription.close();
    undo(session, change);
    throw error;
  }
  if (added === 0) {
    subscription.close();
    undo(session, change);
    throw new AppError('unsupported_media', "the client can receive none of the stream's tracks");
  }
  session.watchSubscription(k, subscription);
  let answer: SessionDescription;
  try {
    answer = await serverOffer(session, 'subscribe', id, { stream_id: publication.id, mids: change.added }, change);
  } catch (error) {
    session.dropSubscription(k);
    if (error instanceof OfferRejected) throw new AppError('negotiation_failed', error.message);
    throw error;
  }
  resumeAccepted(session, answer);
  session.log.info({ stream: key, tracks: added }, 'subscribed');
}

/**
 * Brings the connection in line with its subscriptions and publications.
 * Coalesced: many changes make one renegotiation. A client that drives
 * negotiation itself gets no server offer: the closes wait in the model and
 * go out in the answer to its next offer.
 */
export function scheduleSync(session: Session): void {
  if (session.syncScheduled || session.closed) return;
  session.syncScheduled = true;
  session.negotiator
    .run(async () => {
      session.syncScheduled = false;
      session.assertOpen();
      const change = begin(session);
      let changed = closeDeadSections(session, change);
      if (session.offerMode === 'offers') return;
      try {
        for (const subscription of session.subscriptions.values()) await addConsumers(session, subscription, change);
      } catch (error) {
        undo(session, change);
        throw error;
      }
      changed = closeDeadSections(session, change) || changed;
      if (change.added.length === 0 && !changed) return;
      let answer: SessionDescription;
      try {
        answer = await serverOffer(session, 'negotiate', `s${++session.serverOfferSeq}`, { reason: 'tracks_changed' }, change);
      } catch (error) {
        if (error instanceof OfferRejected) session.close('negotiation_failed');
        throw error;
      }
      resumeAccepted(session, answer);
    })
    .catch((error) => {
      session.syncScheduled = false;
      if (!session.closed) session.log.warn({ err: error }, 'renegotiation failed');
    });
}

/**
 * Stops sending or receiving on sections whose consumer or producer is gone,
 * and closes those left with neither (recorded in `change.closed`). True if
 * any section changed.
 */
function closeDeadSections(session: Session, change: Change): boolean {
  const live = new Set<string>();
  for (const subscription of session.subscriptions.values()) {
    for (const { consumer, mid } of subscription.tracks) if (!consumer.closed) live.add(mid);
  }
  let changed = false;
  for (const s of session.sdp.rtpSections) {
    if (s.closed) continue;
    let ended = false;
    if (s.send && !live.has(s.mid)) {
      s.send = undefined;
      ended = true;
    }
    if (s.recv && !session.published.has(s.mid)) {
      s.recv = undefined;
      ended = true;
    }
    if (!ended) continue;
    changed = true;
    if (!s.send && !s.recv) {
      session.sdp.close(s.mid);
      change.closed.push(s.mid);
    }
  }
  return changed;
}
