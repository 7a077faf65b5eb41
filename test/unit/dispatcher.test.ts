// The dispatcher with a stand-in session: message checks, routing and error
// replies (the real session and mediasoup are covered by the e2e tests).
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { AppError } from '../../src/errors.ts';
import { Dispatcher } from '../../src/signaling/dispatcher.ts';
import type { Session } from '../../src/signaling/session.ts';

function fakeSession(overrides: Record<string, unknown> = {}) {
  const sent: { message: any; stream: number | undefined }[] = [];
  const calls: string[] = [];
  const session = {
    id: 'test-session',
    send: async (message: unknown, stream?: number) => void sent.push({ message, stream }),
    publish: async () => (calls.push('publish'), 'v=0 answer'),
    subscribe: async () => void calls.push('subscribe'),
    unpublish: () => void calls.push('unpublish'),
    unsubscribe: () => void calls.push('unsubscribe'),
    deliverAnswer: () => void calls.push('answer'),
    ...overrides,
  };
  return { session: session as unknown as Session, sent, calls };
}

const dispatcher = new Dispatcher({ maxMessageBytes: 1024, maxKeyLength: 16 }, pino({ level: 'silent' }));
const key = { call_id: 'c', device_id: 'd', purpose: 'm.usermedia' };

async function reply(text: string, overrides?: Record<string, unknown>) {
  const fake = fakeSession(overrides);
  await dispatcher.dispatch(fake.session, text, 3);
  return fake;
}

describe('Dispatcher', () => {
  it('routes publish to the session and replies with the answer on the request stream', async () => {
    const { sent, calls } = await reply(JSON.stringify({ event: 'publish', id: 'p1', ...key, sdp: 'v=0' }));
    expect(calls).toEqual(['publish']);
    expect(sent).toEqual([{ message: { event: 'publish', id: 'p1', sdp: 'v=0 answer' }, stream: 3 }]);
  });

  it('sends nothing itself for a subscribe request (the session sends the offer)', async () => {
    const { sent, calls } = await reply(JSON.stringify({ event: 'subscribe', id: 's1', ...key }));
    expect(calls).toEqual(['subscribe']);
    expect(sent).toEqual([]);
  });

  it('delivers subscribe and negotiate answers', async () => {
    expect((await reply(JSON.stringify({ event: 'subscribe', id: 's1', sdp: 'v=0' }))).calls).toEqual(['answer']);
    expect((await reply(JSON.stringify({ event: 'negotiate', id: 'n1', sdp: 'v=0' }))).calls).toEqual(['answer']);
  });

  it('acknowledges unpublish and unsubscribe, and answers ping', async () => {
    expect((await reply(JSON.stringify({ event: 'unpublish', id: 1, ...key }))).sent[0]!.message).toEqual({ event: 'unpublish', id: 1 });
    expect((await reply(JSON.stringify({ event: 'unsubscribe', id: 2, ...key }))).sent[0]!.message).toEqual({ event: 'unsubscribe', id: 2 });
    expect((await reply(JSON.stringify({ event: 'ping', id: 3 }))).sent[0]!.message).toEqual({ event: 'pong', id: 3 });
  });

  const errors: [string, string, string | null, string | null, string][] = [
    ['malformed JSON', '{', 'error', null, 'bad_request'],
    ['an array', '[]', 'error', null, 'bad_request'],
    ['null', 'null', 'error', null, 'bad_request'],
    ['no event', '{"id":"x"}', 'error', 'x', 'bad_request'],
    ['an unknown event', '{"event":"dance","id":"x"}', 'dance', 'x', 'unknown_event'],
    ['an inherited property as event', '{"event":"toString","id":"x"}', 'toString', 'x', 'unknown_event'],
    ['a missing sdp', JSON.stringify({ event: 'publish', id: 'x', ...key }), 'publish', 'x', 'bad_request'],
    ['a key over the cap', JSON.stringify({ event: 'subscribe', id: 'x', ...key, device_id: 'd'.repeat(17) }), 'subscribe', 'x', 'bad_request'],
    ['a subscribe with a key and an error', JSON.stringify({ event: 'subscribe', id: 'x', ...key, error: { message: 'no' } }), 'subscribe', 'x', 'bad_request'],
    ['a subscribe with part of a key', JSON.stringify({ event: 'subscribe', id: 'x', call_id: 'c', sdp: 'v=0' }), 'subscribe', 'x', 'bad_request'],
    ['a negotiate with both sdp and error', JSON.stringify({ event: 'negotiate', id: 'x', sdp: 'v=0', error: { message: 'no' } }), 'negotiate', 'x', 'bad_request'],
    ['an id that is an object', JSON.stringify({ event: 'ping', id: { a: 1 } }), 'ping', null, 'bad_request'],
    ['an oversized message', JSON.stringify({ event: 'publish', id: 'big', ...key, sdp: 'x'.repeat(2000) }), 'publish', 'big', 'too_large'],
  ];
  for (const [name, text, event, id, code] of errors) {
    it(`answers ${name} with ${code} on id ${String(id)}`, async () => {
      const { sent, calls } = await reply(text);
      expect(calls).toEqual([]);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.message).toMatchObject({ event, id, error: { code } });
    });
  }

  it('turns a handler AppError into an error reply with its code', async () => {
    const { sent } = await reply(JSON.stringify({ event: 'subscribe', id: 's9', ...key }), {
      subscribe: async () => {
        throw new AppError('stream_not_found', 'nope');
      },
    });
    expect(sent[0]!.message).toEqual({ event: 'subscribe', id: 's9', error: { code: 'stream_not_found', message: 'nope' } });
  });

  it('turns any other failure into internal', async () => {
    const { sent } = await reply(JSON.stringify({ event: 'unpublish', id: 'u9', ...key }), {
      unpublish: () => {
        throw new TypeError('boom');
      },
    });
    expect(sent[0]!.message).toMatchObject({ event: 'unpublish', id: 'u9', error: { code: 'internal', message: expect.stringMatching(/^internal server error \(ref [0-9a-f]{8}\)$/) } });
  });
});
