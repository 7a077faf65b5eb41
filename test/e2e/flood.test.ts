// A createSession flood from one address (127.0.0.2) while a two-member call
// from another (127.0.0.1) keeps decoding: the flood gets typed refusals, the
// call is untouched, and once the flood's half-open sessions time out the
// workers hold no more transports than before and memory is back.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Foci } from '../../src/server.ts';
import { expectFlowing, launchChromium, openClient, receiveStats, startTestFoci, subscribe, waitFor, type Key } from '../helpers/browser.ts';

const execFileAsync = promisify(execFile);
const FLOOD_MAX_REQUESTS = 3000;
const FLOOD_MAX_MS = 20_000;
const FLOOD_CONCURRENCY = 16;
const CONNECT_TIMEOUT_MS = 3000;

let foci: Foci;
let browser: Browser;
let pages: Page[] = [];

beforeAll(async () => {
  [foci, browser] = await Promise.all([startTestFoci({ workers: 2, connectTimeoutMs: CONNECT_TIMEOUT_MS }), launchChromium()]);
});
afterAll(async () => {
  await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
  await browser?.close();
  await foci?.close();
});

/** A full collection, so memory comparisons are not about garbage not yet collected. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/**
 * What the focus holds: its JavaScript heap and the buffers outside it (the
 * focus runs in the test process, whose RSS also carries the test runner and
 * pages the allocator keeps after a burst), plus the workers' RSS (processes
 * of their own, measured exactly).
 */
function heldBytes(f: Foci): number {
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external + rssParts(f).slice(1).reduce((a, b) => a + b, 0);
}

/** [focus process, worker 0, worker 1, …] RSS in bytes. */
function rssParts(f: Foci): number[] {
  return [
    process.memoryUsage().rss,
    ...f.pool.workers.map((w) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'))![1]) * 1024),
  ];
}
const mib = (parts: number[]) => parts.map((b) => +(b / 2 ** 20).toFixed(1));

async function webRtcTransports(f: Foci): Promise<number> {
  let n = 0;
  for (const w of f.pool.workers) n += (await w.webRtcServer.dump()).webRtcTransportIds.length;
  return n;
}

/** Publishes a small fake camera and mic (320×180 keeps two cores free for the flood). */
async function publishSmall(page: Page, key: Key): Promise<void> {
  await page.evaluate(async (key) => {
    const w = window as any;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 180, frameRate: 15 } });
    await w.foci.publish({ ...key, stream });
  }, key);
}

interface FloodResult {
  sent: number;
  ms: number;
  byCode: Record<string, number>;
}

/** Runs test/helpers/flood-client.ts in its own process; killed if it overruns. */
async function flood(url: string, from = '127.0.0.2', maxRequests = FLOOD_MAX_REQUESTS, maxMs = FLOOD_MAX_MS): Promise<FloodResult> {
  const script = fileURLToPath(new URL('../helpers/flood-client.ts', import.meta.url));
  const offerFile = fileURLToPath(new URL('../../fixtures/sdp/datachannel-only.offer.sdp', import.meta.url));
  const { stdout } = await execFileAsync(
    process.execPath,
    [script, url, from, String(maxRequests), String(maxMs), String(FLOOD_CONCURRENCY), offerFile],
    { timeout: maxMs + 15_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as FloodResult;
}

describe('a createSession flood from one address', () => {
  it('gets typed refusals while a call from another address keeps decoding, and leaves nothing behind', { timeout: 180_000 }, async () => {
    // Warm-up: the same flood from a third address. The first flood a fresh
    // focus ever sees raises its RSS once (40–90 MB here with the JS heap
    // flat: allocator pages glibc keeps); later floods of the same size add
    // nothing (measured: 120 → 160 → 164 → 164 → 165 → 161 MiB over five).
    // Measuring after a warm-up makes the 10 % check about what a flood leaves behind, not
    // about pools that grow once (V8's heap spaces, the workers' allocators).
    const warmUp = await flood(foci.url, '127.0.0.3');
    expect(warmUp.byCode.ok).toBeGreaterThan(0);
    await waitFor(async () => foci.sessions.size, (n) => n === 0, CONNECT_TIMEOUT_MS + 10_000);

    const alice = await openClient(browser, foci.url);
    const bob = await openClient(browser, foci.url);
    pages.push(alice, bob);
    const key: Key = { callId: 'flood', deviceId: 'alice', purpose: 'm.usermedia' };
    await publishSmall(alice, key);
    await subscribe(bob, key);
    await expectFlowing(bob, key);

    collectGarbage();
    const transportsBefore = await webRtcTransports(foci);
    collectGarbage();
    const heldBefore = heldBytes(foci);
    const partsBefore = rssParts(foci);
    const heapBefore = process.memoryUsage().heapUsed;
    expect(transportsBefore).toBe(2);

    // Frames decoded, sampled every second while the flood runs.
    const samples: number[] = [(await receiveStats(bob, key)).framesDecoded];
    let flooding = true;
    let peakSessions = 0;
    const peakTimer = setInterval(() => (peakSessions = Math.max(peakSessions, foci.sessions.size)), 50);
    const sampler = (async () => {
      while (flooding) {
        await new Promise((r) => setTimeout(r, 1000));
        samples.push((await receiveStats(bob, key)).framesDecoded);
      }
    })();
    const result = await flood(foci.url);
    clearInterval(peakTimer);
    flooding = false;
    await sampler;
    samples.push((await waitFor(() => receiveStats(bob, key), (s) => s.framesDecoded > samples.at(-1)! + 5, 5000)).framesDecoded);
    console.log('flood:', JSON.stringify({ ...result, peakSessions, samples, heldBeforeMiB: +(heldBefore / 2 ** 20).toFixed(1) }));

    // The flood was bounded and met typed refusals only.
    expect(result.sent).toBeLessThanOrEqual(FLOOD_MAX_REQUESTS);
    expect(result.ms).toBeLessThan(FLOOD_MAX_MS + 11_000);
    const accepted = result.byCode.ok ?? 0;
    const refused = Object.entries(result.byCode).filter(([k]) => k !== 'ok');
    expect(refused.length).toBeGreaterThan(0);
    for (const [outcome] of refused) expect(['429 rate_limited', '429 too_many_sessions']).toContain(outcome);
    expect(result.byCode['429 rate_limited']).toBeGreaterThan(result.sent / 2);
    // One address gets at most its share: the burst plus the sustained rate, and never more live sessions than the cap.
    const { createSessionBurst, createSessionRatePerS, maxSessionsPerAddress, maxSessions } = foci.config;
    expect(accepted).toBeLessThanOrEqual(createSessionBurst + Math.ceil((createSessionRatePerS * result.ms) / 1000) + 1);
    expect(peakSessions).toBeLessThanOrEqual(maxSessionsPerAddress + 2);
    expect(peakSessions).toBeLessThan(maxSessions);

    // The call never stalled: frames decoded grew from every sample to the next.
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!, `frames decoded at sample ${i}: ${samples.join(',')}`).toBeGreaterThan(samples[i - 1]!);

    // The flood's half-open sessions time out; the workers are back to the call's two transports.
    await waitFor(async () => foci.sessions.size, (n) => n === 2, CONNECT_TIMEOUT_MS + 10_000);
    expect(foci.sessions.size).toBe(2);
    expect(await webRtcTransports(foci)).toBeLessThanOrEqual(transportsBefore);

    // What the focus holds is back within 10 % (after a collection).
    let heldAfter = Infinity;
    for (let i = 0; i < 10 && heldAfter > heldBefore * 1.1; i++) {
      collectGarbage();
      await new Promise((r) => setTimeout(r, 500));
      heldAfter = heldBytes(foci);
    }
    console.log('memory:', JSON.stringify({ heldMiB: mib([heldBefore, heldAfter]), rssBeforeMiB: mib(partsBefore), rssAfterMiB: mib(rssParts(foci)), heapMiB: mib([heapBefore, process.memoryUsage().heapUsed]) }));
    expect(heldAfter).toBeLessThanOrEqual(heldBefore * 1.1);

    // And the call still plays.
    await expectFlowing(bob, key);
  });
});
