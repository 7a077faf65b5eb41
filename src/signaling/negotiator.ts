// One offer/answer at a time per peer connection, in both directions.
//
// Tasks (server offers, client offers, changes that must not interleave with
// them) run one after another. A server offer waits for its answer. The
// server is the polite peer: a client offer that crosses a server offer the
// client cannot have applied withdraws the server's offer (the task that sent
// it undoes its changes and runs again after the client's offer); a client
// must ignore a server offer that arrives while its own offer awaits its
// reply. Once an offer is sent and not withdrawn, the server never forgets
// it: the answer comes, the client says it could not apply it (`reject`), or
// the session ends.
import { AppError } from '../errors.ts';

/** Thrown into the task whose server offer was withdrawn; the task is re-queued. */
export class Withdrawn extends Error {
  constructor() {
    super('the server offer was withdrawn: a client offer crossed it');
    this.name = 'Withdrawn';
  }
}

/** The client said it could not apply a server offer; its state is what it was before. */
export class OfferRejected extends AppError {
  constructor(message: string) {
    super('negotiation_failed', `the client could not apply the server's offer: ${message}`);
  }
}

export interface ServerOffer {
  event: string;
  id: string | number;
  /** True if `crossing` (a client offer) shows the client applied this offer. */
  appliedBy: (crossing: unknown) => boolean;
}

interface PendingOffer extends ServerOffer {
  resolve: (sdp: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface NegotiatorOptions {
  /** How long a server offer waits for its answer. */
  timeoutMs: number;
  /** Called when an offer is left unanswered: the session can no longer follow the client. */
  onLost: (error: AppError) => void;
}

const MAX_REQUEUES = 20;

export class Negotiator {
  readonly #options: NegotiatorOptions;
  #tail: Promise<unknown> = Promise.resolve();
  #pending: PendingOffer | undefined;
  /** Client offers that arrived and have not run yet: a server offer now would cross them. */
  #clientOffersWaiting = 0;
  #closed = false;

  constructor(options: NegotiatorOptions) {
    this.#options = options;
  }

  get awaitingAnswer(): boolean {
    return this.#pending !== undefined;
  }

  /** Runs `task` after every queued task; a task whose offer was withdrawn runs again later. */
  run<T>(task: () => Promise<T>, requeues = 0): Promise<T> {
    const result = this.#tail.then(() => {
      if (this.#closed) throw new AppError('session_closed', 'the session has ended');
      return task();
    });
    this.#tail = result.catch(() => undefined);
    return result.catch((error: unknown) => {
      if (!(error instanceof Withdrawn) || this.#closed) throw error;
      if (requeues >= MAX_REQUEUES) throw new AppError('negotiation_failed', 'the client kept crossing this negotiation with offers of its own');
      return this.run(task, requeues + 1);
    });
  }

  /**
   * Runs a client offer's handling in order. If a server offer is out and
   * `offer` does not show the client applied it, that offer is withdrawn.
   */
  runClientOffer<T>(offer: unknown, task: () => Promise<T>): Promise<T> {
    const pending = this.#pending;
    if (pending && !pending.appliedBy(offer)) this.#settle()!.reject(new Withdrawn());
    this.#clientOffersWaiting++;
    let counted = true;
    const uncount = () => {
      if (counted) this.#clientOffersWaiting--;
      counted = false;
    };
    return this.run(() => {
      uncount();
      return task();
    }).finally(uncount);
  }

  /**
   * Sends a server offer (through `send`) and waits for the answer on the same
   * event and id. Call inside run(). `timeoutMs: null` waits until answered or
   * withdrawn (the priming offer, which clients that drive negotiation
   * themselves never read).
   */
  async offer(offer: ServerOffer, send: () => Promise<void>, timeoutMs: number | null = this.#options.timeoutMs): Promise<string> {
    if (this.#closed) throw new AppError('session_closed', 'the session has ended');
    if (this.#pending) throw new Error('a server offer is already out');
    // A client offer is waiting: it goes first, so this offer is never sent.
    if (this.#clientOffersWaiting > 0) throw new Withdrawn();
    const answer = new Promise<string>((resolve, reject) => {
      const timer =
        timeoutMs === null
          ? undefined
          : setTimeout(() => {
              if (!this.#isPending(offer)) return;
              this.#settle();
              const error = new AppError('negotiation_timeout', `no answer to the server's ${offer.event} offer within ${timeoutMs} ms`);
              reject(error);
              this.#options.onLost(error);
            }, timeoutMs);
      timer?.unref();
      this.#pending = { ...offer, resolve, reject, timer };
    });
    // The answer can settle (close, withdrawal) while send() still runs.
    answer.catch(() => undefined);
    try {
      await send();
    } catch (error) {
      // Not sent (the channel is gone): nothing reached the client.
      if (this.#isPending(offer)) this.#settle()!.reject(error as Error);
    }
    return answer;
  }

  /** Delivers a client answer; false if no server offer with this event and id is out. */
  answer(event: string, id: string | number, sdp: string): boolean {
    if (!this.#pending || this.#pending.id !== id || this.#pending.event !== event) return false;
    this.#settle()!.resolve(sdp);
    return true;
  }

  /** The client could not apply the offer; false if no such offer is out. */
  reject(event: string, id: string | number, message: string): boolean {
    if (!this.#pending || this.#pending.id !== id || this.#pending.event !== event) return false;
    this.#settle()!.reject(new OfferRejected(message));
    return true;
  }

  #isPending(offer: ServerOffer): boolean {
    return this.#pending !== undefined && this.#pending.id === offer.id && this.#pending.event === offer.event;
  }

  #settle(): PendingOffer | undefined {
    const pending = this.#pending;
    if (pending) clearTimeout(pending.timer);
    this.#pending = undefined;
    return pending;
  }

  close(): void {
    this.#closed = true;
    this.#settle()?.reject(new AppError('session_closed', 'the session has ended'));
  }
}
