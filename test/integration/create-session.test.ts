// createSession against a real focus and real mediasoup workers (no browser).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Foci } from '../../src/server.ts';
import { startTestFoci, waitFor } from '../helpers/browser.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/sdp/${name}`, import.meta.url), 'utf8');
let foci: Foci | undefined;
afterEach(async () => {
  await foci?.close();
  foci = undefined;
});

const post = (f: Foci, body: string, type = 'application/sdp') =>
  fetch(`${f.url}/createSession`, { method: 'POST', headers: { 'Content-Type': type }, body });

/** Transports left on all routers, besides each router's own DirectTransport. */
async function liveTransports(f: Foci): Promise<number> {
  let n = 0;
  for (const w of f.pool.workers) n += (await w.router.dump()).transportIds.length - 1;
  return n;
}

describe('POST /createSession', () => {
  it('answers a datachannel-only offer ICE-lite, as DTLS server, with host candidates', async () => {
    foci = await startTestFoci();
    const res = await post(foci, fixture('datachannel-only.offer.sdp'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/sdp');
    const answer = await res.text();
    expect(answer).toMatch(/^v=0\r\n/);
    expect(answer).toContain('a=ice-lite');
    expect(answer).toContain('a=setup:passive');
    expect(answer).toContain('a=sctp-port:5000');
    expect(answer).toMatch(/a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);
    expect(answer).toMatch(/a=candidate:\S+ 1 tcp \d+ 127\.0\.0\.1 \d+ typ host tcptype passive/);
    expect(foci.sessions.size).toBe(1);
  });

  it('accepts and answers JSON', async () => {
    foci = await startTestFoci();
    const res = await post(foci, JSON.stringify({ type: 'offer', sdp: fixture('datachannel-only.offer.sdp') }), 'application/json');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.type).toBe('answer');
    expect(body.sdp).toContain('webrtc-datachannel');
  });

  it('refuses offers with audio or video, and leaks nothing', async () => {
    foci = await startTestFoci();
    for (const name of ['audio-video.offer.sdp', 'datachannel-and-media.offer.sdp']) {
      const res = await post(foci, fixture(name));
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('invalid_sdp');
    }
    expect(foci.sessions.size).toBe(0);
    expect(await liveTransports(foci)).toBe(0);
  });

  it('refuses garbage and an offer that asks to be the DTLS server', async () => {
    foci = await startTestFoci();
    expect((await post(foci, 'not sdp at all')).status).toBe(400);
    const passive = fixture('datachannel-only.offer.sdp').replace('a=setup:actpass', 'a=setup:passive');
    const res = await post(foci, passive);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('invalid_sdp');
    expect(await liveTransports(foci)).toBe(0);
  });

  it('frees a session whose peer never connects', async () => {
    foci = await startTestFoci({ connectTimeoutMs: 300 });
    expect((await post(foci, fixture('datachannel-only.offer.sdp'))).status).toBe(200);
    expect(await liveTransports(foci)).toBe(1);
    const f = foci;
    await waitFor(async () => f.sessions.size, (n) => n === 0, 5000);
    expect(foci.sessions.size).toBe(0);
    expect(await liveTransports(foci)).toBe(0);
  });

  it('answers over_capacity past maxSessions', async () => {
    foci = await startTestFoci({ maxSessions: 1 });
    expect((await post(foci, fixture('datachannel-only.offer.sdp'))).status).toBe(200);
    const res = await post(foci, fixture('datachannel-only.offer.sdp'));
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('over_capacity');
  });
});

describe('worker pool', () => {
  it('replaces a worker that dies and stays ready', async () => {
    foci = await startTestFoci({ workers: 2 });
    const victim = foci.pool.workers[0]!;
    process.kill(victim.pid, 'SIGKILL');
    const f = foci;
    await waitFor(async () => f.pool.workers[0]!.pid !== victim.pid && f.pool.healthy, Boolean, 10_000);
    expect(foci.pool.healthy).toBe(true);
    const ready = await fetch(`${foci.url}/readyz`);
    expect(ready.status).toBe(200);
    // Both workers take sessions again.
    for (let i = 0; i < 2; i++) expect((await post(foci, fixture('datachannel-only.offer.sdp'))).status).toBe(200);
    expect(foci.pool.workers.map((w) => w.sessions)).toEqual([1, 1]);
  });
});
