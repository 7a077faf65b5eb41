// From a raw channel message to a handler and back: size and JSON checks,
// the zod schema, the handler table, and error replies on the request's id.
// Each message is handled on its own, so a subscribe waiting for its answer
// never blocks the answer itself.
import type { Logger } from 'pino';
import { AppError, publicError, toAppError } from '../errors.ts';
import { monotonicMs, TokenBucket } from '../limits/token-bucket.ts';
import { inboundSchema, MAX_ID_LENGTH, type ErrorReply, type Inbound, type RequestId } from './schema.ts';
import type { Session } from './session.ts';
import type { Handler, HandlerTable } from './handlers/types.ts';
import { publish } from './handlers/publish.ts';
import { subscribe } from './handlers/subscribe.ts';
import { unpublish } from './handlers/unpublish.ts';
import { unsubscribe } from './handlers/unsubscribe.ts';
import { negotiate } from './handlers/negotiate.ts';
import { ping } from './handlers/ping.ts';

const HANDLERS: HandlerTable = { publish, subscribe, unpublish, unsubscribe, negotiate, ping };

export interface DispatcherOptions {
  maxMessageBytes: number;
  maxKeyLength: number;
  /** Sustained messages per second per session (token bucket); 0 or absent: no limit. */
  maxMessagesPerS?: number;
  messageBurst?: number;
  /** Streams one session may subscribe to at once; absent: no limit. */
  maxSubscriptionsPerSession?: number;
}

export class Dispatcher {
  readonly #schema: ReturnType<typeof inboundSchema>;
  readonly #maxMessageBytes: number;
  readonly #ratePerS: number;
  readonly #burst: number;
  readonly #maxSubscriptions: number;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Message buckets by session; dropped when the session closes (WeakMap: even if forget is missed). */
  readonly #buckets = new WeakMap<Session, TokenBucket>();

  constructor(options: DispatcherOptions, log: Logger, now: () => number = monotonicMs) {
    this.#schema = inboundSchema(options.maxKeyLength);
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#ratePerS = options.maxMessagesPerS ?? 0;
    this.#burst = Math.max(1, options.messageBurst ?? 1);
    this.#maxSubscriptions = options.maxSubscriptionsPerSession ?? Infinity;
    this.#log = log;
    this.#now = now;
  }

  /** Drops what the dispatcher keeps for a closed session. */
  forget(session: Session): void {
    this.#buckets.delete(session);
  }

  /** Takes one message token from the session's bucket; false if it is over the rate. */
  #admit(session: Session): boolean {
    if (this.#ratePerS <= 0) return true;
    const now = this.#now();
    let bucket = this.#buckets.get(session);
    if (!bucket) {
      bucket = new TokenBucket(this.#ratePerS, this.#burst, now);
      this.#buckets.set(session, bucket);
    }
    return bucket.take(now);
  }

  /** Handles one message; never throws. Resolves when its reply (or error) is sent. */
  async dispatch(session: Session, text: string, stream: number): Promise<void> {
    let event: string | null = null;
    let id: RequestId | null = null;
    try {
      const raw = parseJson(text);
      id = readId(raw);
      event = typeof raw.event === 'string' ? raw.event.slice(0, 64) : null;
      // Over the rate: refused on its own id, before any work.
      if (!this.#admit(session)) {
        throw new AppError('rate_limited', `more than ${this.#ratePerS} messages per second on this session; this one was not processed`);
      }
      if (Buffer.byteLength(text) > this.#maxMessageBytes) {
        throw new AppError('too_large', `message is larger than ${this.#maxMessageBytes} bytes`);
      }
      if (event === null) throw new AppError('bad_request', 'message needs a string `event`');
      if (!Object.hasOwn(HANDLERS, event)) throw new AppError('unknown_event', `unknown event ${JSON.stringify(event)}`);
      const parsed = this.#schema.safeParse(raw);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
        throw new AppError('bad_request', `invalid ${event}: ${detail}`);
      }
      const message = parsed.data;
      // A subscribe request (a key, with or without the client's offer), not an answer.
      if (message.event === 'subscribe' && message.call_id !== undefined) {
        if (session.subscriptionCount >= this.#maxSubscriptions) {
          throw new AppError('over_capacity', `a session may subscribe to at most ${this.#maxSubscriptions} streams`);
        }
      }
      const handler = HANDLERS[message.event] as Handler<Inbound['event']>;
      const reply = await handler(session, message);
      if (reply) await session.send(reply, stream);
    } catch (error) {
      const appError = toAppError(error);
      const { code, message, ref } = publicError(appError);
      if (ref !== undefined) this.#log.error({ session: session.id, err: error, event, ref }, 'request failed');
      else this.#log.debug({ session: session.id, code, event }, message);
      // Clients that drive negotiation themselves (the original MSC3401 SFU's
      // own client among them) read errors as {event: "error", message}.
      const reply: ErrorReply =
        session.offerMode === 'offers' ? { event: 'error', id, message, error: { code, message } } : { event: event ?? 'error', id, error: { code, message } };
      await session.send(reply, stream).catch(() => undefined);
    }
  }
}

function parseJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('bad_request', 'message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('bad_request', 'message must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The request id, if the message has a usable one, so even a bad request gets its error. */
function readId(raw: Record<string, unknown>): RequestId | null {
  const id = raw.id;
  if (typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isInteger(id)) return id;
  return null;
}
