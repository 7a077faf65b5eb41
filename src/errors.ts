// One error type for the whole server. HTTP maps `code` to a status in one
// place (http/app.ts); signaling sends it as an error reply on the request id.
import { randomBytes } from 'node:crypto';

export const ERROR_CODES = [
  'bad_request', // malformed JSON, wrong types, missing fields
  'too_large', // a body or message over its size cap
  'unsupported_content_type', // createSession with a body type other than SDP or JSON
  'unknown_event', // an `event` the server does not know
  'invalid_sdp', // SDP that does not parse or is not what the request needs
  'unsupported_media', // an offer with no codec the server can forward
  'stream_exists', // publish of a key owned by another session
  'stream_not_found', // subscribe/unpublish/unsubscribe of a key with no such stream
  'not_publisher', // unpublish of a stream another session publishes
  'not_subscribed', // unsubscribe of a stream the session does not receive
  'already_subscribed', // subscribe twice to one stream
  'unknown_request', // an answer for an id the server is not waiting on
  'negotiation_timeout', // the client did not answer a server offer in time
  'negotiation_failed', // the client could not apply a server offer, or kept crossing it
  'over_capacity', // a server limit was reached
  'rate_limited', // too many requests from one address or one session; retry later
  'too_many_sessions', // the client's address already holds its share of live sessions
  'origin_not_allowed', // a createSession from a page whose Origin is not on the allow-list
  'session_closed', // the session ended while the request ran
  'internal', // a bug or a mediasoup failure; the message says which
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  readonly code: ErrorCode;
  /** For refusals that clear by themselves: seconds after which a retry can succeed (HTTP Retry-After). */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
    this.retryAfterS = options?.retryAfterS;
  }
}

/** Any thrown value as an AppError; unknown errors become `internal`. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('internal', message, { cause: error });
}

/**
 * What a client is told about an error. Internal errors carry library
 * internals (mediasoup messages, stack-ish details), so the client gets a
 * generic message with a short reference instead; `ref` is logged beside the
 * full error so an operator can find it.
 */
export function publicError(error: AppError): { code: ErrorCode; message: string; ref?: string } {
  if (error.code !== 'internal') return { code: error.code, message: error.message };
  const ref = randomBytes(4).toString('hex');
  return { code: 'internal', message: `internal server error (ref ${ref})`, ref };
}
