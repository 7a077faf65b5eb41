// A published stream: what the SFU can forward, keyed by MSC3401's
// (call_id, device_id, purpose). The publication creates its tracks
// (mediasoup producers) and closes them: it owns them. Today the origin is a
// local session; the key leaves room for a remote focus (federation).
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';

export interface StreamKey {
  callId: string;
  deviceId: string;
  purpose: string;
}

export function streamKeyString(key: StreamKey): string {
  return JSON.stringify([key.callId, key.deviceId, key.purpose]);
}

/** Where a publication's media comes from. */
export type PublicationOrigin = { kind: 'session'; sessionId: string };

export interface PublicationEvents {
  trackadded: [types.Producer];
  trackremoved: [types.Producer];
  close: [reason: string];
}

/** Thrown by produce() when the publication closed while the producer was being made. */
export class PublicationClosedError extends Error {
  constructor() {
    super('the stream ended');
    this.name = 'PublicationClosedError';
  }
}

export class Publication extends EventEmitter<PublicationEvents> {
  /** Opaque id, used as the msid stream id subscribers see. */
  readonly id = randomUUID().replaceAll('-', '');
  readonly key: StreamKey;
  readonly origin: PublicationOrigin;
  readonly router: types.Router;
  readonly #tracks = new Map<string, types.Producer>();
  /** Producers piped to other routers, by `${routerId} ${producerId}`. */
  readonly #pipes = new Map<string, Promise<void>>();
  #closed = false;

  constructor(key: StreamKey, origin: PublicationOrigin, router: types.Router) {
    super();
    this.setMaxListeners(0);
    this.key = key;
    this.origin = origin;
    this.router = router;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get tracks(): types.Producer[] {
    return [...this.#tracks.values()];
  }

  /** Creates a track on `transport`. If the publication closes meanwhile, the producer is closed and this throws. */
  async produce(transport: types.Transport, options: types.ProducerOptions): Promise<types.Producer> {
    if (this.#closed) throw new PublicationClosedError();
    const producer = await transport.produce(options);
    if (this.#closed) {
      producer.close();
      throw new PublicationClosedError();
    }
    this.#tracks.set(producer.id, producer);
    producer.observer.once('close', () => {
      if (this.#tracks.delete(producer.id) && !this.#closed) this.emit('trackremoved', producer);
    });
    return producer;
  }

  /** Announces tracks made by produce() once the offer that carries them is answered. */
  announce(producer: types.Producer): void {
    if (this.#tracks.has(producer.id)) this.emit('trackadded', producer);
  }

  /** Closes one track; subscribers' sections for it close. */
  removeTrack(producerId: string): void {
    this.#tracks.get(producerId)?.close();
  }

  /** Makes `producer` available on `router` (same id), piping it once per router. */
  async ensureOn(router: types.Router, producer: types.Producer): Promise<void> {
    if (router.id === this.router.id) return;
    const key = `${router.id} ${producer.id}`;
    let pending = this.#pipes.get(key);
    if (!pending) {
      pending = this.router.pipeToRouter({ producerId: producer.id, router }).then(() => undefined);
      this.#pipes.set(key, pending);
      pending.catch(() => this.#pipes.delete(key));
    }
    await pending;
  }

  /** Closes every track; subscribers learn through `close`. Idempotent. */
  close(reason = 'unpublished'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const producer of this.#tracks.values()) producer.close();
    this.#tracks.clear();
    this.emit('close', reason);
  }
}
