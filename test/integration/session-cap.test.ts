// The session cap and worker placement under a burst of parallel
// createSession requests against real workers: reservations are taken before
// the first await, so the cap holds exactly and placement stays balanced.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Foci } from '../../src/server.ts';
import { startTestFoci } from '../helpers/browser.ts';

const OFFER = readFileSync(new URL('../../fixtures/sdp/datachannel-only.offer.sdp', import.meta.url), 'utf8');
let foci: Foci | undefined;
afterEach(async () => {
  await foci?.close();
  foci = undefined;
});

async function transportsPerWorker(f: Foci): Promise<number[]> {
  return Promise.all(f.pool.workers.map(async (w) => (await w.router.dump()).transportIds.length - 1));
}

describe('createSession burst', () => {
  it('40 parallel requests with maxSessions 10 make exactly 10 sessions, 5 on each of 2 workers; the rest get over_capacity', async () => {
    foci = await startTestFoci({ workers: 2, maxSessions: 10 });
    const f = foci;
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${f.url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: OFFER })),
    );
    const statuses = responses.map((r) => r.status);
    const codes = await Promise.all(responses.map(async (r) => (r.status === 200 ? 'ok' : ((await r.json()) as { error: { code: string } }).error.code)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(codes.filter((c) => c === 'over_capacity')).toHaveLength(30);
    expect(f.sessions.size).toBe(10);
    expect(f.sessions.pending).toBe(0);
    expect(f.pool.workers.map((w) => w.sessions)).toEqual([5, 5]);
    expect(await transportsPerWorker(f)).toEqual([5, 5]);
  });

  it('frees the reservation of a creation that fails', async () => {
    foci = await startTestFoci({ workers: 2, maxSessions: 2 });
    const f = foci;
    const bad = OFFER.replace('a=setup:actpass', 'a=setup:passive');
    const results = await Promise.all(
      [bad, bad, bad, OFFER, OFFER].map((body) => fetch(`${f.url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 400, 400, 400]);
    expect(f.sessions.pending).toBe(0);
    expect(f.pool.workers.map((w) => w.sessions)).toEqual([1, 1]);
  });
});
