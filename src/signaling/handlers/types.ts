import type { Session } from '../session.ts';
import type { Inbound, Outbound } from '../schema.ts';

/** A handler does one event's work and returns the reply, if the event has one. */
export type Handler<E extends Inbound['event']> = (session: Session, message: Extract<Inbound, { event: E }>) => Promise<Outbound | undefined>;

export type HandlerTable = { [E in Inbound['event']]: Handler<E> };

export const keyOf = (m: { call_id: string; device_id: string; purpose: string }) => ({
  callId: m.call_id,
  deviceId: m.device_id,
  purpose: m.purpose,
});
