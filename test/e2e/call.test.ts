import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connectionStats, expectFlowing, publish, receiveStats, subscribe, waitFor, type Key } from '../helpers/browser.ts';
import { useCall } from '../helpers/call-fixture.ts';

const call = useCall();
const client = call.client;

let n = 0;
const keyFor = (deviceId: string, purpose = 'm.usermedia'): Key => ({ callId: `call-${++n}`, deviceId, purpose });

/** Tracks of a subscription that fired `ended`. */
const endedTracks = (page: Page, key: Key) => page.evaluate((k) => (window as any).subs[JSON.stringify(k)].ended as string[], key);

describe('a call through the SFU', () => {
  it('forwards camera and microphone from one tab to another', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key);
    const { kinds } = await subscribe(bob, key);
    expect(kinds.sort()).toEqual(['audio', 'video']);
    const stats = await expectFlowing(bob, key);
    expect(stats.framesDecoded).toBeGreaterThan(10);
    expect(stats.audioEnergy).toBeGreaterThan(0);
    // The worker is the DTLS server, so the browser negotiates AES-GCM SRTP
    // (this exercises both worker patches: the DTLS BIO fix and libsrtp2).
    const transport = await connectionStats(bob);
    expect(transport.dtlsState).toBe('connected');
    expect(transport.srtpCipher).toBe('SRTP_AEAD_AES_256_GCM');
  });

  it('adds tracks to a stream on a later publish with the same key, and subscribers get them', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key, 'audio');
    await subscribe(bob, key);
    await expectFlowing(bob, key, { audio: true });
    expect((await connectionStats(bob)).framesDecoded).toBe(0);
    await publish(alice, key, 'video');
    expect(call.foci.registry.get(key)?.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    const stats = await waitFor(() => connectionStats(bob), (s) => s.framesDecoded > 10);
    expect(stats.framesDecoded).toBeGreaterThan(10);
  });

  it('carries a screenshare as a second feed of the same device, subscribable on its own', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const camera = keyFor('alice');
    const screen = { ...camera, purpose: 'm.screenshare' };
    await publish(alice, camera);
    await publish(alice, screen, 'screen');
    const { kinds } = await subscribe(bob, screen);
    expect(kinds).toEqual(['video']);
    await expectFlowing(bob, screen, { video: true });
    await subscribe(bob, camera);
    await expectFlowing(bob, camera);
    await expectFlowing(bob, screen, { video: true });
  });

  it('lets every member publish and subscribe on one connection', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const a = keyFor('alice');
    const b = { ...a, deviceId: 'bob' };
    await publish(alice, a);
    await subscribe(bob, a);
    await publish(bob, b);
    await subscribe(alice, b);
    await expectFlowing(alice, b);
    await expectFlowing(bob, a);
  });

  it('publishes and subscribes at the same time without deadlock (glare is resolved)', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const a = keyFor('alice');
    const b = { ...a, deviceId: 'bob' };
    await publish(alice, a);
    // Bob's subscribe reaches the server first; his publish offer crosses the
    // server's subscribe offer, is refused with glare, and is retried.
    const started = Date.now();
    const outcome = await bob.evaluate(async ({ a, b }) => {
      const w = window as any;
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 180 } });
      // publish() first: its offer is made while the subscribe request goes out.
      const published = w.foci.publish({ ...b, stream });
      const [sub] = await Promise.all([w.foci.subscribe(a), published]);
      w.subs[JSON.stringify(a)] = { stream: sub.stream, tracks: sub.tracks, ended: [] };
      const el = document.createElement('video');
      el.autoplay = true;
      el.srcObject = sub.stream;
      document.body.append(el);
      return sub.tracks.length;
    }, { a, b });
    expect(outcome).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    await subscribe(alice, b);
    await expectFlowing(alice, b);
    await expectFlowing(bob, a);
  });

  it('ends the subscriber\'s tracks when the publisher unpublishes', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key);
    await subscribe(bob, key);
    await expectFlowing(bob, key);
    const ack = await alice.evaluate((k) => (window as any).foci.unpublish(k), key);
    expect(ack).toMatchObject({ event: 'unpublish' });
    const ended = await waitFor(() => endedTracks(bob, key), (e) => e.length === 2);
    expect(ended.sort()).toEqual(['audio', 'video']);
    // The publisher's own sending sections are closed by the server's follow-up offer.
    const senders = await waitFor(
      () => alice.evaluate((k) => (window as any).published[JSON.stringify(k)].transceivers.map((t: RTCRtpTransceiver) => t.currentDirection), key),
      (d: (string | null)[]) => d.every((x) => x === 'stopped'),
    );
    expect(senders).toEqual(['stopped', 'stopped']);
    const notices = await bob.evaluate(() => (window as any).ended);
    expect(notices).toContainEqual(expect.objectContaining({ event: 'stream_ended', device_id: 'alice', reason: 'unpublished' }));
    // The key is free again: another subscribe is an error, not a hang.
    const error = await bob.evaluate((k) => (window as any).foci.subscribe(k).then(() => null, (e: any) => e.code), key);
    expect(error).toBe('stream_not_found');
  });

  it('ends the subscriber\'s tracks when it unsubscribes', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key);
    await subscribe(bob, key);
    await expectFlowing(bob, key);
    await bob.evaluate((k) => (window as any).foci.unsubscribe(k), key);
    const ended = await waitFor(() => endedTracks(bob, key), (e) => e.length === 2);
    expect(ended.sort()).toEqual(['audio', 'video']);
    expect(call.foci.registry.get(key)).toBeDefined();
  });

  it('ends the stream for subscribers when the publisher\'s tab closes', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key);
    await subscribe(bob, key);
    await expectFlowing(bob, key);
    await alice.close();
    const ended = await waitFor(() => endedTracks(bob, key), (e) => e.length === 2);
    expect(ended.sort()).toEqual(['audio', 'video']);
    expect(call.foci.registry.get(key)).toBeUndefined();
  });

  it('runs a call of two publishers and three subscribers', async () => {
    const publishers = await Promise.all([client(), client()]);
    const subscribers = await Promise.all([client(), client(), client()]);
    const callId = `call-${++n}`;
    const keys = publishers.map((_, i) => ({ callId, deviceId: `pub${i}`, purpose: 'm.usermedia' }));
    await Promise.all(publishers.map((p, i) => publish(p, keys[i]!)));
    for (const s of subscribers) for (const k of keys) await subscribe(s, k);
    for (const s of subscribers) for (const k of keys) await expectFlowing(s, k);
  });

  it('forwards simulcast from the publisher', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key, 'camera', { simulcast: true });
    await subscribe(bob, key);
    const stats = await expectFlowing(bob, key);
    expect(stats.frameWidth).toBeGreaterThan(0);
  });

  for (const codec of ['H264', 'VP9']) {
    it(`forwards ${codec} video`, async () => {
      const [alice, bob] = await Promise.all([client(), client()]);
      const key = keyFor('alice');
      await publish(alice, key, 'video', { codec });
      await subscribe(bob, key);
      const stats = await expectFlowing(bob, key, { video: true });
      expect(stats.videoCodec).toBe(`video/${codec}`);
    });
  }

  it('works with a client that opens the signaling channel itself', async () => {
    const [alice, bob] = await Promise.all([client({ openSignaling: true }), client({ openSignaling: true })]);
    const key = keyFor('alice');
    await publish(alice, key, 'audio');
    await subscribe(bob, key);
    await expectFlowing(bob, key, { audio: true });
  });

  it('keeps receive stats readable (sanity of the helper)', async () => {
    const [alice, bob] = await Promise.all([client(), client()]);
    const key = keyFor('alice');
    await publish(alice, key, 'audio');
    await subscribe(bob, key);
    const s = await waitFor(() => receiveStats(bob, key), (v) => v.audioEnergy > 0);
    expect(s.framesDecoded).toBe(0);
  });
});
