// The index of publications by stream key. It only indexes: publications own
// their tracks. A key is taken synchronously, before any await, so two
// sessions publishing the same new key at once cannot both pass the check.
import type { types } from 'mediasoup';
import { Publication, streamKeyString, type PublicationOrigin, type StreamKey } from './publication.ts';

export { Publication, PublicationClosedError, streamKeyString, type PublicationOrigin, type StreamKey } from './publication.ts';

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

  /**
   * The publication for `key` owned by `origin`, created and registered now if
   * the key is free; undefined if another origin holds it.
   */
  take(key: StreamKey, origin: PublicationOrigin, router: types.Router): { publication: Publication; created: boolean } | undefined {
    const k = streamKeyString(key);
    const existing = this.#byKey.get(k);
    if (existing) return sameOrigin(existing.origin, origin) ? { publication: existing, created: false } : undefined;
    const publication = new Publication(key, origin, router);
    this.#byKey.set(k, publication);
    publication.once('close', () => {
      if (this.#byKey.get(k) === publication) this.#byKey.delete(k);
    });
    return { publication, created: true };
  }
}

function sameOrigin(a: PublicationOrigin, b: PublicationOrigin): boolean {
  return a.kind === b.kind && a.sessionId === b.sessionId;
}
