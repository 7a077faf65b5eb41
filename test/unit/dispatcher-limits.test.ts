// Per-session signaling limits in the dispatcher, with a stand-in session
// and a fake clock: the message rate and the subscription cap.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Dispatcher } from '../../src/signaling/dispatcher.ts';
import type { Session } from '../../src/signaling/session.ts';

function fakeSession(subscriptionCount?: number) {
  const sent: any[] = [];
  const calls: string[] = [];
  const session = {
    id: 'limits-session',
    subscriptionCount,
    send: async (message: unknown) => void sent.push(message),
    subscribe: async () => void calls.push('subscribe'),
    deliverAnswer: () => void calls.push('answer'),
    unsubscribe: () => void calls.push('unsubscribe'),
  };
  return { session: session as unknown as Session, sent, calls };
}

function dispatcher(options: { maxMessagesPerS?: number; messageBurst?: number; maxSubscriptionsPerSession?: number }) {
  let t = 0;
  const d = new Dispatcher({ maxMessageBytes: 4096, maxKeyLength: 64, ...options }, pino({ level: 'silent' }), () => t);
  return { d, advance: (ms: number) => void (t += ms) };
}

const ping = (id: number) => JSON.stringify({ event: 'ping', id });
const key = { call_id: 'c', device_id: 'd', purpose: 'm.usermedia' };

describe('Dispatcher: message rate per session', () => {
  it('processes the burst, refuses the rest with rate_limited on their own ids, and recovers at the sustained rate', async () => {
    const { d, advance } = dispatcher({ maxMessagesPerS: 10, messageBurst: 5 });
    const { session, sent } = fakeSession();
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.dispatch(session, ping(i), 0)));
    expect(sent.filter((m) => m.event === 'pong').map((m) => m.id)).toEqual([0, 1, 2, 3, 4]);
    expect(sent.filter((m) => m.error)).toEqual(
      [5, 6, 7].map((id) => ({ event: 'ping', id, error: { code: 'rate_limited', message: expect.stringContaining('10 messages per second') } })),
    );
    advance(100); // one token back
    sent.length = 0;
    await d.dispatch(session, ping(8), 0);
    await d.dispatch(session, ping(9), 0);
    expect(sent).toEqual([{ event: 'pong', id: 8 }, { event: 'ping', id: 9, error: expect.objectContaining({ code: 'rate_limited' }) }]);
  });

  it('does not run a refused request', async () => {
    const { d } = dispatcher({ maxMessagesPerS: 1, messageBurst: 1 });
    const { session, calls, sent } = fakeSession(0);
    await d.dispatch(session, JSON.stringify({ event: 'subscribe', id: 's1', ...key }), 0);
    await d.dispatch(session, JSON.stringify({ event: 'subscribe', id: 's2', ...key }), 0);
    expect(calls).toEqual(['subscribe']);
    expect(sent).toEqual([{ event: 'subscribe', id: 's2', error: expect.objectContaining({ code: 'rate_limited' }) }]);
  });

  it('keeps one bucket per session: a flooding session does not slow another', async () => {
    const { d } = dispatcher({ maxMessagesPerS: 1, messageBurst: 2 });
    const a = fakeSession();
    const b = fakeSession();
    for (let i = 0; i < 5; i++) await d.dispatch(a.session, ping(i), 0);
    await d.dispatch(b.session, ping(100), 0);
    expect(b.sent).toEqual([{ event: 'pong', id: 100 }]);
    // A session forgotten (closed) and seen again starts afresh.
    d.forget(a.session);
    a.sent.length = 0;
    await d.dispatch(a.session, ping(6), 0);
    expect(a.sent).toEqual([{ event: 'pong', id: 6 }]);
  });
});

describe('Dispatcher: subscriptions per session', () => {
  it('answers over_capacity once the session holds the maximum, without subscribing', async () => {
    const { d } = dispatcher({ maxSubscriptionsPerSession: 3 });
    const full = fakeSession(3);
    await d.dispatch(full.session, JSON.stringify({ event: 'subscribe', id: 's4', ...key }), 0);
    expect(full.calls).toEqual([]);
    expect(full.sent).toEqual([{ event: 'subscribe', id: 's4', error: { code: 'over_capacity', message: 'a session may subscribe to at most 3 streams' } }]);
  });

  it('lets a session under the cap subscribe, and answers to server offers always pass', async () => {
    const { d } = dispatcher({ maxSubscriptionsPerSession: 3 });
    const under = fakeSession(2);
    await d.dispatch(under.session, JSON.stringify({ event: 'subscribe', id: 's3', ...key }), 0);
    expect(under.calls).toEqual(['subscribe']);
    const full = fakeSession(3);
    await d.dispatch(full.session, JSON.stringify({ event: 'subscribe', id: 's3', sdp: 'v=0' }), 0);
    await d.dispatch(full.session, JSON.stringify({ event: 'unsubscribe', id: 'u1', ...key }), 0);
    expect(full.calls).toEqual(['answer', 'unsubscribe']);
  });
});

describe('Dispatcher: internal errors', () => {
  it('sends a generic message with a reference, never the library text', async () => {
    const { d } = dispatcher({});
    const { session, sent } = fakeSession(0);
    (session as any).subscribe = async () => {
      throw new Error('Transport.consume() | rtpCapabilities invalid: TypeError at ortc.js:1234');
    };
    await d.dispatch(session, JSON.stringify({ event: 'subscribe', id: 'x', ...key }), 0);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ event: 'subscribe', id: 'x', error: { code: 'internal' } });
    expect(sent[0].error.message).toMatch(/^internal server error \(ref [0-9a-f]{8}\)$/);
  });
});
