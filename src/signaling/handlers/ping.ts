import type { Handler } from './types.ts';

export const ping: Handler<'ping'> = async (_session, m) => ({ event: 'pong', id: m.id });
