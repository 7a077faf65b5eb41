// Who on one worker has gone quiet, and since when. A client that vanishes
// goes quiet alone; when many go quiet at the same moment, the likelier cause
// is a shared one (an overloaded client host, this machine, the network in
// between), and closing them all would drop living sessions. Peers ask the
// census before they declare themselves gone; in a widespread silence they
// leave the verdict to the ICE consent timeout instead.
export interface CensusOptions {
  /** A peer quiet this long counts towards a widespread silence. */
  quietMs: number;
  /** At least this many quiet peers… */
  minPeers: number;
  /** …and at least this share of the worker's peers. */
  fraction: number;
}

export class SilenceCensus {
  readonly #options: CensusOptions;
  readonly #peers = new Set<object>();
  /** Peers quiet now, with the time (performance.now()) they were last heard. */
  readonly #lastHeard = new Map<object, number>();

  constructor(options: CensusOptions) {
    this.#options = options;
  }

  join(peer: object): void {
    this.#peers.add(peer);
  }

  leave(peer: object): void {
    this.#peers.delete(peer);
    this.#lastHeard.delete(peer);
  }

  heard(peer: object): void {
    this.#lastHeard.delete(peer);
  }

  quiet(peer: object, lastHeard: number): void {
    if (this.#peers.has(peer)) this.#lastHeard.set(peer, lastHeard);
  }

  /** True if many of this worker's peers have been quiet for a while at the same time. */
  widespread(now: number): boolean {
    const { quietMs, minPeers, fraction } = this.#options;
    let quiet = 0;
    for (const lastHeard of this.#lastHeard.values()) if (now - lastHeard >= quietMs) quiet++;
    return quiet >= minPeers && quiet >= fraction * this.#peers.size;
  }
}
