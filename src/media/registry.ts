// Publications: what the SFU can forward, keyed by MSC3401's
// (call_id, device_id, purpose). A publication's tracks are mediasoup
// producers on one router; today the origin is a local session, and the key
// leaves room for a remote focus as the origin (federation).
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

  addTrack(producer: types.Producer): void {
    this.#tracks.set(producer.id, producer);
    producer.observer.once('close', () => {
      if (this.#tracks.delete(producer.id) && !this.#closed) this.emit('trackremoved', producer);
    });
    this.emit('trackadded', producer);
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

export class PublicationRegistry {
  readonly #byKey = new Map<string, Publication>();

  get size(): number {
    return this.#byKey.size;
  }

  get(key: StreamKey): Publication | undefined {
    return this.#byKey.get(streamKeyString(key));
  }

  all(): Publication[] {
    return [...this.#byKey.values()];
  }

  /** Registers a new publication; the caller has checked the key is free. */
  add(publication: Publication): void {
    const k = streamKeyString(publication.key);
    if (this.#byKey.has(k)) throw new Error(`stream ${k} already registered`);
    this.#byKey.set(k, publication);
    publication.once('close', () => {
      if (this.#byKey.get(k) === publication) this.#byKey.delete(k);
    });
  }
}
