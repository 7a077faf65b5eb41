// Bad input on the signaling channel gets a typed error on the same request id
// and changes nothing else: the session and other sessions keep working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import { expectFlowing, launchChromium, openClient, publish, startTestFoci, subscribe } from '../helpers/browser.ts';

let foci: Foci;
let browser: Browser;
let alice: Page;
let bob: Page;
const aliceKey = { callId: 'bad', deviceId: 'alice', purpose: 'm.usermedia' };

beforeAll(async () => {
  [foci, browser] = await Promise.all([startTestFoci(), launchChromium()]);
  [alice, bob] = await Promise.all([openClient(browser, foci.url), openClient(browser, foci.url)]);
  await publish(alice, aliceKey);
});
afterAll(async () => {
  await browser?.close();
  await foci?.close();
});

/** Sends raw text on bob's channel and returns the next message that carries an error. */
function sendRaw(page: Page, text: string): Promise<any> {
  return page.evaluate(
    (text) =>
      new Promise((resolve, reject) => {
        const foci = (window as any).foci;
        const onMessage = (e: CustomEvent) => {
          if (!e.detail.error) return;
          foci.removeEventListener('message', onMessage);
          resolve(e.detail);
        };
        foci.addEventListener('message', onMessage);
        foci.sendRaw(text);
        setTimeout(() => reject(new Error('no error reply')), 5000);
      }),
    text,
  );
}

const req = (o: object) => JSON.stringify(o);
const key = (o: object = {}) => ({ call_id: 'bad', device_id: 'x', purpose: 'm.usermedia', ...o });

describe('bad input on the signaling channel', () => {
  const cases: [string, string, { event: string; id: unknown; code: string }][] = [
    ['malformed JSON', '{"event":', { event: 'error', id: null, code: 'bad_request' }],
    ['non-object JSON', '[1,2,3]', { event: 'error', id: null, code: 'bad_request' }],
    ['a JSON string', '"publish"', { event: 'error', id: null, code: 'bad_request' }],
    ['no event', req({ id: 'e1' }), { event: 'error', id: 'e1', code: 'bad_request' }],
    ['unknown event', req({ event: 'teleport', id: 'e2' }), { event: 'teleport', id: 'e2', code: 'unknown_event' }],
    ['missing fields', req({ event: 'publish', id: 'e3' }), { event: 'publish', id: 'e3', code: 'bad_request' }],
    ['wrong types', req({ event: 'subscribe', id: 'e4', call_id: 5, device_id: 'x', purpose: 'p' }), { event: 'subscribe', id: 'e4', code: 'bad_request' }],
    ['extra fields', req({ event: 'unsubscribe', id: 'e5', ...key(), admin: true }), { event: 'unsubscribe', id: 'e5', code: 'bad_request' }],
    ['an empty key part', req({ event: 'subscribe', id: 'e6', ...key({ purpose: '' }) }), { event: 'subscribe', id: 'e6', code: 'bad_request' }],
    ['a key part over the length cap', req({ event: 'subscribe', id: 'e7', ...key({ device_id: 'd'.repeat(300) }) }), { event: 'subscribe', id: 'e7', code: 'bad_request' }],
    ['an oversized message', req({ event: 'publish', id: 'e8', ...key(), sdp: 'v=0\r\n' + 'a'.repeat(257_000) }), { event: 'publish', id: 'e8', code: 'too_large' }],
    ['garbage SDP', req({ event: 'publish', id: 'e9', ...key(), sdp: 'hello' }), { event: 'publish', id: 'e9', code: 'invalid_sdp' }],
    ['an answer for an unknown id', req({ event: 'negotiate', id: 'nobody', sdp: 'v=0\r\n' }), { event: 'negotiate', id: 'nobody', code: 'unknown_request' }],
    ['a subscribe answer nobody asked for', req({ event: 'subscribe', id: 'e10', sdp: 'v=0\r\n' }), { event: 'subscribe', id: 'e10', code: 'unknown_request' }],
    ['subscribe to an unknown stream', req({ event: 'subscribe', id: 'e11', ...key() }), { event: 'subscribe', id: 'e11', code: 'stream_not_found' }],
    ['unsubscribe of something not subscribed', req({ event: 'unsubscribe', id: 'e12', ...key({ device_id: 'alice' }) }), { event: 'unsubscribe', id: 'e12', code: 'not_subscribed' }],
    ['unpublish of an unknown stream', req({ event: 'unpublish', id: 'e13', ...key() }), { event: 'unpublish', id: 'e13', code: 'stream_not_found' }],
    ['unpublish of another session\'s stream', req({ event: 'unpublish', id: 'e14', ...key({ device_id: 'alice' }) }), { event: 'unpublish', id: 'e14', code: 'not_publisher' }],
    ['a numeric id', req({ event: 'subscribe', id: 42, ...key() }), { event: 'subscribe', id: 42, code: 'stream_not_found' }],
  ];

  for (const [name, text, expected] of cases) {
    it(`answers ${name} with ${expected.code}`, async () => {
      const reply = await sendRaw(bob, text);
      expect(reply).toMatchObject({ event: expected.event, id: expected.id, error: { code: expected.code } });
      expect(typeof reply.error.message).toBe('string');
    });
  }

  it('refuses a publish offer with no codec the server forwards, and publishes nothing', async () => {
    const before = foci.registry.size;
    const code = await bob.evaluate(async () => {
      const foci = (window as any).foci;
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const t = foci.pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly' });
      t.setCodecPreferences(RTCRtpSender.getCapabilities('audio')!.codecs.filter((c) => c.mimeType === 'audio/PCMU'));
      const offer = await foci.pc.createOffer();
      t.stop();
      return foci.request({ event: 'publish', call_id: 'bad', device_id: 'bob', purpose: 'm.usermedia', sdp: offer.sdp }).then(
        () => 'ok',
        (e: any) => e.code,
      );
    });
    expect(code).toBe('unsupported_media');
    expect(foci.registry.size).toBe(before);
  });

  it('refuses a second publisher of a key another session owns', async () => {
    const code = await bob
      .evaluate(async (key) => {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        return (window as any).foci.publish({ ...key, stream }).then(() => 'ok', (e: any) => e.code);
      }, aliceKey);
    expect(code).toBe('stream_exists');
    expect(foci.registry.get(aliceKey)?.origin).toMatchObject({ kind: 'session' });
  });

  it('keeps every session working afterwards', async () => {
    await subscribe(bob, aliceKey);
    await expectFlowing(bob, aliceKey);
    const bobKey = { ...aliceKey, deviceId: 'bob' };
    await publish(bob, bobKey, 'audio');
    await subscribe(alice, bobKey);
    await expectFlowing(alice, bobKey, { audio: true });
    expect(foci.sessions.size).toBe(2);
  });
});
