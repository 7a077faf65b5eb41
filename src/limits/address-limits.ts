// Per-address limits on createSession, checked before any worker object is
// made: a token bucket of creations (sustained rate + burst) and a count of
// the address's live sessions, half-open ones included (a session counts from
// its createSession until it closes, whether or not its channel ever opened).
import { AppError } from '../errors.ts';
import { monotonicMs, TokenBucket } from './token-bucket.ts';

export interface AddressLimitOptions {
  /** Live sessions one address may hold; 0 turns the check off. */
  maxSessionsPerAddress: number;
  /** Sustained createSession requests per second per address; 0 turns the rate limit off. */
  createSessionRatePerS: number;
  /** Requests one address may make at once before the sustained rate applies. */
  createSessionBurst: number;
}

interface Entry {
  bucket: TokenBucket | undefined;
  live: number;
}

/** Forgotten entries are swept at most this often, and only when there are this many. */
const SWEEP_INTERVAL_MS = 10_000;
const SWEEP_MIN_ENTRIES = 1024;

export class AddressLimiter {
  readonly #options: AddressLimitOptions;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #lastSweep: number;

  constructor(options: AddressLimitOptions, now: () => number = monotonicMs) {
    this.#options = options;
    this.#now = now;
    this.#lastSweep = now();
  }

  /** Addresses with state (live sessions or a bucket not yet full). */
  get size(): number {
    return this.#entries.size;
  }

  /** Live sessions charged to `key`. */
  live(key: string): number {
    return this.#entries.get(key)?.live ?? 0;
  }

  /**
   * Charges one createSession to `key`, or throws `rate_limited` /
   * `too_many_sessions`. On success the caller holds one live slot and must
   * call the returned release exactly once (it is idempotent) when the
   * session fails to start or closes.
   */
  acquire(key: string): () => void {
    const now = this.#now();
    this.#sweep(now);
    const { maxSessionsPerAddress, createSessionRatePerS, createSessionBurst } = this.#options;
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { bucket: undefined, live: 0 };
      this.#entries.set(key, entry);
    }
    if (createSessionRatePerS > 0) {
      entry.bucket ??= new TokenBucket(createSessionRatePerS, Math.max(1, createSessionBurst), now);
      if (!entry.bucket.take(now)) {
        const retryAfterS = Math.max(1, Math.ceil(entry.bucket.waitS(now)));
        throw new AppError('rate_limited', `too many createSession requests from this address; retry in ${retryAfterS} s`, { retryAfterS });
      }
    }
    if (maxSessionsPerAddress > 0 && entry.live >= maxSessionsPerAddress) {
      // No Retry-After: a slot frees only when one of the address's sessions ends.
      throw new AppError('too_many_sessions', `this address already holds ${maxSessionsPerAddress} sessions`);
    }
    entry.live++;
    const held = entry;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.live--;
      if (held.live === 0 && (!held.bucket || held.bucket.full(this.#now())) && this.#entries.get(key) === held) this.#entries.delete(key);
    };
  }

  /** Drops entries that hold nothing: no live session and a full bucket. Bounded by the request rate. */
  #sweep(now: number): void {
    if (this.#entries.size < SWEEP_MIN_ENTRIES || now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) {
      if (entry.live === 0 && (!entry.bucket || entry.bucket.full(now))) this.#entries.delete(key);
    }
  }
}
