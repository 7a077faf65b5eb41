import { keyOf, type Handler } from './types.ts';

/** The offer's new sending tracks join the stream; the reply carries the answer. */
export const publish: Handler<'publish'> = async (session, m) => {
  const sdp = await session.publish(keyOf(m), m.sdp);
  return { event: 'publish', id: m.id, sdp };
};
