import { keyOf, type Handler } from './types.ts';

/** Frees the consumers; a `negotiate` offer that closes their sections follows. */
export const unsubscribe: Handler<'unsubscribe'> = async (session, m) => {
  await session.unsubscribe(keyOf(m));
  return { event: 'unsubscribe', id: m.id };
};
