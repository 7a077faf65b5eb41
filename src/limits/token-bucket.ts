// A token bucket: `burst` tokens, refilled at `ratePerS`. Time is passed in
// (milliseconds, monotonic) so the owner decides the clock and tests can too.

export class TokenBucket {
  readonly #ratePerS: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(ratePerS: number, burst: number, now: number) {
    this.#ratePerS = ratePerS;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#ratePerS);
      this.#at = now;
    }
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Seconds until one token is available (0 if one is). */
  waitS(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : (1 - this.#tokens) / this.#ratePerS;
  }

  /** True when the bucket is back to full: its state says nothing and it can be forgotten. */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#burst;
  }
}

/** Milliseconds from a monotonic clock. */
export const monotonicMs = (): number => performance.now();
