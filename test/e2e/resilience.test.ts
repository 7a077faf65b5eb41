// A worker that dies takes its sessions with it; everything else keeps working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import { expectFlowing, launchChromium, openClient, publish, startTestFoci, subscribe, waitFor } from '../helpers/browser.ts';

let foci: Foci;
let browser: Browser;

beforeAll(async () => {
  [foci, browser] = await Promise.all([startTestFoci({ workers: 2 }), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await foci?.close();
});

describe('a mediasoup worker dying mid-call', () => {
  it('closes the sessions on it, ends their streams for others, and keeps the rest working', async () => {
    // Least-loaded placement: alice lands on worker 0, bob on worker 1.
    const alice = await openClient(browser, foci.url);
    const bob = await openClient(browser, foci.url);
    expect(foci.pool.workers.map((w) => w.sessions)).toEqual([1, 1]);
    const aliceKey = { callId: 'crash', deviceId: 'alice', purpose: 'm.usermedia' };
    await publish(alice, aliceKey);
    await subscribe(bob, aliceKey);
    await expectFlowing(bob, aliceKey);

    process.kill(foci.pool.workers[0]!.pid, 'SIGKILL');

    const ended = await waitFor(
      () => bob.evaluate((k) => (window as any).subs[JSON.stringify(k)].ended as string[], aliceKey),
      (e) => e.length === 2,
    );
    expect(ended.sort()).toEqual(['audio', 'video']);
    expect(foci.sessions.size).toBe(1);
    expect(foci.registry.get(aliceKey)).toBeUndefined();
    const metrics = await (await fetch(`${foci.url}/metrics`)).text();
    expect(metrics).toContain('foci_sessions_closed_total{reason="worker_died"} 1');

    // The replacement worker and bob's session both serve a new call.
    await waitFor(async () => foci.pool.healthy, Boolean, 10_000);
    const carol = await openClient(browser, foci.url);
    const bobKey = { ...aliceKey, deviceId: 'bob' };
    await publish(bob, bobKey);
    await subscribe(carol, bobKey);
    await expectFlowing(carol, bobKey);
  });
});
