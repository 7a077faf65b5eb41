// Every message on the `signaling` channel, inbound and outbound, as zod
// schemas. The inbound union is the only place request shapes are defined.
import { z } from 'zod';
import type { ErrorCode } from '../errors.ts';

export const MAX_ID_LENGTH = 128;

export function inboundSchema(maxKeyLength: number) {
  const id = z.union([z.string().min(1).max(MAX_ID_LENGTH), z.number().int()]);
  const keyPart = z.string().min(1).max(maxKeyLength);
  const key = { call_id: keyPart, device_id: keyPart, purpose: keyPart };
  const sdp = z.string().min(1);
  const offerError = z.strictObject({ code: z.string().max(64).optional(), message: z.string().max(1024) });

  return z.discriminatedUnion('event', [
    // A client offer: the tracks it sends become (part of) the stream.
    z.strictObject({ event: z.literal('publish'), id, ...key, sdp }),
    // A request names a stream (call_id, device_id, purpose), with or without
    // the client's own offer (sdp); without a key it answers our subscribe
    // offer (sdp) or says it could not apply it (error).
    z
      .strictObject({
        event: z.literal('subscribe'),
        id,
        call_id: keyPart.optional(),
        device_id: keyPart.optional(),
        purpose: keyPart.optional(),
        sdp: sdp.optional(),
        error: offerError.optional(),
      })
      .refine((m) => [m.call_id, m.device_id, m.purpose].every((v) => v === undefined) || [m.call_id, m.device_id, m.purpose].every((v) => v !== undefined), {
        message: 'subscribe takes call_id, device_id and purpose together',
      })
      .refine((m) => (m.call_id !== undefined ? m.error === undefined : (m.sdp === undefined) !== (m.error === undefined)), {
        message: 'subscribe takes a key (a request, optionally with sdp: an offer), or sdp (an answer) or error (an offer it could not apply) alone',
      }),
    z.strictObject({ event: z.literal('unpublish'), id, ...key }),
    z.strictObject({ event: z.literal('unsubscribe'), id, ...key }),
    // The answer to a server-initiated offer (priming, stream ended), or
    // `error` if the client could not apply the offer.
    z
      .strictObject({ event: z.literal('negotiate'), id, sdp: sdp.optional(), error: offerError.optional() })
      .refine((m) => (m.sdp === undefined) !== (m.error === undefined), { message: 'negotiate takes sdp (an answer) or error, not both' }),
    // Liveness probe from the client; the server answers `pong`.
    z.strictObject({ event: z.literal('ping'), id }),
  ]);
}

export type Inbound = z.infer<ReturnType<typeof inboundSchema>>;
export type RequestId = string | number;

/** Messages the server sends (documented in docs/protocol.md). */
export type Outbound =
  | { event: 'publish'; id: RequestId; sdp: string }
  | { event: 'subscribe'; id: RequestId; sdp: string; stream_id: string; mids: string[] }
  | { event: 'subscribe'; id: RequestId; sdp: string }
  | { event: 'unpublish' | 'unsubscribe'; id: RequestId }
  | { event: 'negotiate'; id: string; sdp: string; reason: 'prime' | 'tracks_changed' }
  | { event: 'stream_ended'; call_id: string; device_id: string; purpose: string; reason: string }
  | { event: 'session_ended'; reason: string }
  | { event: 'pong'; id: RequestId }
  | { event: 'heartbeat' }
  | ErrorReply;

/** An error answers the request on its own event and id; `event: 'error'` when unreadable. */
export interface ErrorReply {
  event: string;
  id: RequestId | null;
  /** The same text at the top level, for clients that drive negotiation themselves. */
  message?: string;
  error: { code: ErrorCode; message: string };
}
