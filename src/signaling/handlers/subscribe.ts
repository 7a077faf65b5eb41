import { AppError } from '../../errors.ts';
import { keyOf, type Handler } from './types.ts';

/**
 * A request (key): the server's offer is the reply, sent by the session, and
 * the handler finishes once the client's answer is applied. An answer (sdp):
 * delivered to the request that waits for it.
 */
export const subscribe: Handler<'subscribe'> = async (session, m) => {
  if (m.sdp !== undefined) {
    session.deliverAnswer('subscribe', m.id, m.sdp);
    return undefined;
  }
  if (m.call_id === undefined || m.device_id === undefined || m.purpose === undefined) {
    throw new AppError('bad_request', 'subscribe needs call_id, device_id and purpose');
  }
  await session.subscribe(m.id, keyOf({ call_id: m.call_id, device_id: m.device_id, purpose: m.purpose }));
  return undefined;
};
