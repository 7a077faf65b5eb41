// One offer/answer at a time per peer connection, in both directions.
//
// Server offers run through a serial queue and wait for the client's answer.
// A client offer that arrives while a server offer is out, or that was sent
// before the client could have seen one, crossed it (glare): it is refused
// with `glare`, and the client answers the server's offer, then offers again.
import { AppError } from '../errors.ts';

interface PendingOffer {
  id: string | number;
  event: string;
  resolve: (sdp: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class Negotiator {
  readonly #timeoutMs: number;
  #tail: Promise<unknown> = Promise.resolve();
  #pending: PendingOffer | undefined;
  /** Server offers sent so far; a client offer is stale if this moved since it arrived. */
  #offersSent = 0;
  #closed = false;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get awaitingAnswer(): boolean {
    return this.#pending !== undefined;
  }

  /** Runs `task` after every queued negotiation has finished. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => {
      if (this.#closed) throw new AppError('session_closed', 'the session has ended');
      return task();
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs a client offer's handling in order, refusing it if it crossed a
   * server offer. `mark` is taken when the message arrives.
   */
  runClientOffer<T>(task: () => Promise<T>): Promise<T> {
    const mark = this.#offersSent;
    if (this.#pending) return Promise.reject(glare());
    return this.run(() => {
      if (this.#offersSent !== mark) throw glare();
      return task();
    });
  }

  /** Sends a server offer (through `send`) and waits for the answer on the same id. Call inside run(). */
  async offer(event: string, id: string | number, send: () => Promise<void>): Promise<string> {
    if (this.#pending) throw new Error('a server offer is already out');
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = undefined;
        reject(new AppError('negotiation_timeout', `no answer to the server's ${event} offer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending = { id, event, resolve, reject, timer };
    });
    // The answer can settle (close, timeout) while send() is still running,
    // before the caller awaits it: mark it handled so that is not a crash.
    answer.catch(() => undefined);
    this.#offersSent++;
    try {
      await send();
    } catch (error) {
      this.#settle()?.reject(error as Error);
    }
    return answer;
  }

  /** Delivers a client answer; false if no server offer with this event and id is out. */
  answer(event: string, id: string | number, sdp: string): boolean {
    if (!this.#pending || this.#pending.id !== id || this.#pending.event !== event) return false;
    this.#settle()!.resolve(sdp);
    return true;
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

function glare(): AppError {
  return new AppError('glare', 'this offer crossed an offer from the server: answer that one, then offer again');
}
