import { keyOf, type Handler } from './types.ts';

/** Frees the stream's producers; subscribers get stream_ended and a renegotiation. */
export const unpublish: Handler<'unpublish'> = async (session, m) => {
  await session.unpublish(keyOf(m));
  return { event: 'unpublish', id: m.id };
};
