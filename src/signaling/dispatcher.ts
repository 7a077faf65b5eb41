// From a raw channel message to a handler and back: size and JSON checks,
// the zod schema, the handler table, and error replies on the request's id.
// Each message is handled on its own, so a subscribe waiting for its answer
// never blocks the answer itself.
import type { Logger } from 'pino';
import { AppError, toAppError } from '../errors.ts';
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
}

export class Dispatcher {
  readonly #schema: ReturnType<typeof inboundSchema>;
  readonly #maxMessageBytes: number;
  readonly #log: Logger;

  constructor(options: DispatcherOptions, log: Logger) {
    this.#schema = inboundSchema(options.maxKeyLength);
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#log = log;
  }

  /** Handles one message; never throws. Resolves when its reply (or error) is sent. */
  async dispatch(session: Session, text: string, stream: number): Promise<void> {
    let event: string | null = null;
    let id: RequestId | null = null;
    try {
      const raw = parseJson(text);
      id = readId(raw);
      event = typeof raw.event === 'string' ? raw.event.slice(0, 64) : null;
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
      const handler = HANDLERS[message.event] as Handler<Inbound['event']>;
      const reply = await handler(session, message);
      if (reply) await session.send(reply, stream);
    } catch (error) {
      const appError = toAppError(error);
      if (appError.code === 'internal') this.#log.error({ session: session.id, err: error, event }, 'request failed');
      else this.#log.debug({ session: session.id, code: appError.code, event }, appError.message);
      const reply: ErrorReply = { event: event ?? 'error', id, error: { code: appError.code, message: appError.message } };
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
