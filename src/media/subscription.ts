// One session's subscription to a publication: the consumers that forward the
// publication's tracks to one transport. The subscription creates its
// consumers and closes them; it closes itself when the publication closes.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Publication } from './publication.ts';

/** Consumer capacity of a worker, shared by every subscription on it. */
export interface ConsumerBudget {
  /** Takes one slot; false if the worker forwards all it may. */
  acquire(): boolean;
  release(): void;
}

export interface SubscribedTrack {
  consumer: types.Consumer;
  /** The m-section that carries it. */
  mid: string;
}

export interface SubscriptionEvents {
  /** The publication gained a track this subscription has not consumed. */
  trackadded: [types.Producer];
  /** A forwarded track ended (its producer closed): its section can close. */
  trackended: [SubscribedTrack];
  /** The subscription ended: `reason` is the publication's, or 'unsubscribed'. */
  close: [reason: string];
}

export class OverCapacityError extends Error {
  constructor() {
    super('this focus forwards all the streams it can');
    this.name = 'OverCapacityError';
  }
}

export class Subscription extends EventEmitter<SubscriptionEvents> {
  readonly publication: Publication;
  readonly #transport: types.Transport;
  /** The transport's router: the publication's tracks are piped here if they live elsewhere. */
  readonly #router: types.Router;
  readonly #budget: ConsumerBudget;
  /** By producer id. */
  readonly #tracks = new Map<string, SubscribedTrack>();
  readonly #unwatch: () => void;
  #closed = false;

  constructor(publication: Publication, transport: types.Transport, router: types.Router, budget: ConsumerBudget) {
    super();
    this.publication = publication;
    this.#transport = transport;
    this.#router = router;
    this.#budget = budget;
    const onClose = (reason: string) => this.close(reason);
    const onTrack = (producer: types.Producer) => this.emit('trackadded', producer);
    publication.once('close', onClose);
    publication.on('trackadded', onTrack);
    this.#unwatch = () => {
      publication.off('close', onClose);
      publication.off('trackadded', onTrack);
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  get tracks(): SubscribedTrack[] {
    return [...this.#tracks.values()];
  }

  /** Producers of the publication this subscription does not forward yet. */
  unconsumed(): types.Producer[] {
    return this.publication.tracks.filter((p) => !this.#tracks.has(p.id));
  }

  /**
   * A paused consumer of `producer` on the transport, sent on `mid`; undefined
   * if the client cannot receive it. Undefined too if the subscription closed
   * meanwhile (the consumer is then closed already).
   */
  async consume(producer: types.Producer, rtpCapabilities: types.RtpCapabilities, mid: string, enableRtx = true): Promise<SubscribedTrack | undefined> {
    if (this.#closed) return undefined;
    await this.publication.ensureOn(this.#router, producer);
    if (this.#closed || producer.closed) return undefined;
    if (!this.#router.canConsume({ producerId: producer.id, rtpCapabilities })) return undefined;
    if (!this.#budget.acquire()) throw new OverCapacityError();
    let consumer: types.Consumer;
    try {
      consumer = await this.#transport.consume({ producerId: producer.id, rtpCapabilities, paused: true, mid, enableRtx });
    } catch (error) {
      this.#budget.release();
      throw error;
    }
    consumer.observer.once('close', () => {
      this.#budget.release();
      if (this.#tracks.get(producer.id)?.consumer === consumer) this.#tracks.delete(producer.id);
    });
    if (this.#closed) {
      consumer.close();
      return undefined;
    }
    const track = { consumer, mid };
    this.#tracks.set(producer.id, track);
    // The worker closes the consumer when its producer closes (a stopped or
    // swapped track); the session must then close its section.
    consumer.once('producerclose', () => {
      if (!this.#closed) this.emit('trackended', track);
    });
    return track;
  }

  /** Closes the consumers; emits `close` once. Idempotent. */
  close(reason = 'unsubscribed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    for (const { consumer } of this.#tracks.values()) consumer.close();
    this.#tracks.clear();
    this.emit('close', reason);
  }
}
