import type { Handler } from './types.ts';

/** The client's answer to a server-initiated offer. */
export const negotiate: Handler<'negotiate'> = async (session, m) => {
  session.deliverAnswer('negotiate', m.id, m.sdp);
  return undefined;
};
