import { keyOf, type Handler } from './types.ts';

/**
 * A request (key): the server's offer is the reply, sent by the session, and
 * the handler finishes once the client's answer is applied. A request with the
 * client's own offer (key + sdp): the reply is the server's answer. An answer
 * (sdp alone) or a rejection (error): for the server offer that waits for it.
 */
export const subscribe: Handler<'subscribe'> = async (session, m) => {
  if (m.call_id === undefined || m.device_id === undefined || m.purpose === undefined) {
    if (m.error) session.rejectOffer('subscribe', m.id, m.error.message);
    else session.deliverAnswer('subscribe', m.id, m.sdp!);
    return undefined;
  }
  const answer = await session.subscribe(m.id, keyOf({ call_id: m.call_id, device_id: m.device_id, purpose: m.purpose }), m.sdp);
  return answer === undefined ? undefined : { event: 'subscribe', id: m.id, sdp: answer };
};
