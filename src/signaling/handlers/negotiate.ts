import type { Handler } from './types.ts';

/** The client's answer to a server-initiated offer, or its word that it could not apply it. */
export const negotiate: Handler<'negotiate'> = async (session, m) => {
  if (m.error) session.rejectOffer('negotiate', m.id, m.error.message);
  else session.deliverAnswer('negotiate', m.id, m.sdp!);
  return undefined;
};
