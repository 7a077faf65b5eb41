// The negotiation and ownership faults a read of the old session code found,
// each driven from a real Chromium page against a real focus: what the user
// would see if it came back.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Session } from '../../src/signaling/session.ts';
import { expectFlowing, publish, subscribe, waitFor, type Key } from '../helpers/browser.ts';
import { useCall } from '../helpers/call-fixture.ts';

const NEGOTIATION_TIMEOUT_MS = 1500;
const call = useCall({ negotiationTimeoutMs: NEGOTIATION_TIMEOUT_MS });

/** A connected page and the server's session for it. */
async function client(): Promise<{ page: Page; session: Session }> {
  const before = new Set(call.foci.sessions.all().map((s) => s.id));
  const page = await call.client();
  const session = call.foci.sessions.all().find((s) => !before.has(s.id))!;
  return { page, session };
}

let n = 0;
const keyFor = (deviceId: string): Key => ({ callId: `faults-${++n}`, deviceId, purpose: 'm.usermedia' });

/** Publishes camera + mic; resolves with 'published' or the error code the client got. */
const tryPublish = (page: Page, key: Key): Promise<string> =>
  page.evaluate(
    (k) =>
      navigator.mediaDevices
        .getUserMedia({ audio: true, video: { width: 320, height: 180 } })
        .then((stream) => (window as any).foci.publish({ ...k, stream }))
        .then(
          () => 'published',
          (e: any) => e.code,
        ),
    key,
  );

/** Producers that exist on the focus's routers (mediasoup's own view). */
async function producerCount(): Promise<number> {
  let count = 0;
  for (const w of call.foci.pool.workers) count += (await w.router.dump()).mapProducerIdConsumerIds.length;
  return count;
}

describe('negotiation faults', () => {
  it('ends the session when a sent offer goes unanswered, instead of forgetting it while the browser may have applied it', async () => {
    const alice = await client();
    const bob = await client();
    const key = keyFor('alice');
    await publish(alice.page, key);
    // Bob's page holds back its answer to the subscribe offer and sends it after the timeout.
    await bob.page.evaluate((delayMs) => {
      const send = RTCDataChannel.prototype.send;
      RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: any) {
        const text = typeof data === 'string' ? data : '';
        if (text.includes('"event":"subscribe"') && text.includes('"sdp"') && !text.includes('"call_id"')) {
          setTimeout(() => send.call(this, data), delayMs);
          return;
        }
        return send.call(this, data);
      };
    }, NEGOTIATION_TIMEOUT_MS + 1000);
    // The client resolves once it has sent its (held back) answer.
    await bob.page.evaluate((k) => (window as any).foci.subscribe(k).catch(() => undefined), key);
    const closed = await waitFor(() => bob.page.evaluate(() => (window as any).sessionEnded ?? (window as any).closedEvents), (v) => JSON.stringify(v ?? []).includes('negotiation_timeout'), 5000);
    expect(JSON.stringify(closed)).toContain('negotiation_timeout');
    expect(bob.session.closed).toBe(true);
    // Alice is untouched.
    expect(alice.session.closed).toBe(false);
    expect(call.foci.registry.get(key)?.tracks).toHaveLength(2);
  });

  it('frees a publish whose producers are made after its session closed: nothing stays registered', async () => {
    const alice = await client();
    const key = keyFor('alice');
    const baseline = await producerCount();
    // The worker takes its time to make the producers; the session closes meanwhile.
    const transport = alice.session.peer.transport;
    const produce = transport.produce.bind(transport);
    transport.produce = (async (options: Parameters<typeof produce>[0]) => {
      await new Promise((r) => setTimeout(r, 400));
      return produce(options);
    }) as typeof transport.produce;
    const publishing = tryPublish(alice.page, key);
    await waitFor(async () => call.foci.registry.get(key) !== undefined, (v) => v, 5000);
    alice.session.close('server_shutdown');
    expect(await publishing).toBe('session_closed');
    await new Promise((r) => setTimeout(r, 800));
    expect(call.foci.registry.get(key)).toBeUndefined();
    expect(await producerCount()).toBe(baseline);
  });

  it('gives exactly one of two sessions publishing the same new key at once the stream; the other gets stream_exists and leaks nothing', async () => {
    const [a, b] = [await client(), await client()];
    const key = keyFor('contested');
    const results = await Promise.all([a, b].map(({ page }) => tryPublish(page, key)));
    expect([...results].sort()).toEqual(['published', 'stream_exists']);
    expect(call.foci.registry.get(key)?.tracks).toHaveLength(2);
    // Producers per session, as the worker has them: the loser's transport holds none.
    const producersOf = async (s: Session) => (await s.peer.transport.dump()).producerIds.length;
    const [winner, loser] = results[0] === 'published' ? [a, b] : [b, a];
    expect(await producersOf(winner.session)).toBe(2);
    expect(await producersOf(loser.session)).toBe(0);
    const viewer = await client();
    await subscribe(viewer.page, key);
    await expectFlowing(viewer.page, key);
  });

  it('ends a stream whose publisher stopped all its tracks: subscribers get stream_ended and the key is free', async () => {
    const alice = await client();
    const bob = await client();
    const key = keyFor('alice');
    await publish(alice.page, key);
    await subscribe(bob.page, key);
    await expectFlowing(bob.page, key);
    // Alice stops both transceivers in one offer and publishes no new track.
    await alice.page.evaluate(async (k) => {
      const w = window as any;
      const published = w.published[JSON.stringify(k)];
      await w.foci.publish({ ...k, stream: new MediaStream(), stop: published.transceivers });
    }, key);
    const ended = await waitFor(() => bob.page.evaluate(() => (window as any).ended as { device_id: string }[]), (e) => e.length > 0, 5000);
    expect(ended[0]).toMatchObject({ device_id: 'alice', reason: 'unpublished' });
    expect(call.foci.registry.get(key)).toBeUndefined();
    const tracksEnded = await waitFor(() => bob.page.evaluate((k) => (window as any).subs[JSON.stringify(k)].ended as string[], key), (e) => e.length === 2, 5000);
    expect(tracksEnded.sort()).toEqual(['audio', 'video']);
  });
});
