// A call survives a machine whose cores are saturated by another process for
// 30 s: no established session is closed (the liveness checks must not take a
// starved machine for vanished peers), and media decodes again afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { expectAllDecoding, liveTracks, publish, subscribe, type Key } from '../helpers/browser.ts';
import { useCall } from '../helpers/call-fixture.ts';

const HOG_MS = 30_000;

const call = useCall();

/** One busy-looping process per core, each killed by `stop()` (and by a bounded timer regardless). */
function hogCores(ms: number): { children: ChildProcess[]; stop(): void } {
  const children = Array.from({ length: os.availableParallelism() }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  const stop = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  setTimeout(stop, ms + 10_000).unref();
  return { children, stop };
}

describe('a call on a machine whose cores are saturated', () => {
  it('closes no session while another process hogs every core for 30 s, and media decodes again after', async () => {
    const names = ['alice', 'bob', 'carol'];
    const key = (name: string): Key => ({ callId: 'hog', deviceId: name, purpose: 'm.usermedia' });
    const pages: Record<string, Page> = {};
    for (const name of names) pages[name] = await call.client();
    const closed: string[] = [];
    call.foci.sessions.observe({ opened: () => undefined, closed: (session, reason) => closed.push(`${session.id}: ${reason}`) });
    for (const name of names) await publish(pages[name]!, key(name));
    for (const name of names) for (const other of names) if (other !== name) await subscribe(pages[name]!, key(other));
    expect(await expectAllDecoding(pages)).toEqual({ alice: 4, bob: 4, carol: 4 });
    const sessions = call.foci.sessions.size;
    expect(sessions).toBe(3);

    const framesBefore = await Promise.all(names.map((n) => liveTracks(pages[n]!)));
    const hog = hogCores(HOG_MS);
    const started = Date.now();
    let fewest = sessions;
    try {
      while (Date.now() - started < HOG_MS) {
        fewest = Math.min(fewest, call.foci.sessions.size);
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      hog.stop();
    }
    const hogged = Date.now() - started;
    const framesAfter = await Promise.all(names.map((n) => liveTracks(pages[n]!)));
    const decodedDuring = framesAfter.flat().filter((t) => t.kind === 'video').reduce((sum, t) => sum + t.framesDecoded, 0) -
      framesBefore.flat().filter((t) => t.kind === 'video').reduce((sum, t) => sum + t.framesDecoded, 0);
    console.log(`[cpu-hog] ${hog.children.length} busy processes for ${hogged} ms; fewest sessions ${fewest}; video frames decoded meanwhile (all members) ${decodedDuring}; closed: ${JSON.stringify(closed)}`);

    expect(closed, 'sessions the server closed').toEqual([]);
    expect(fewest).toBe(sessions);
    expect(call.foci.sessions.size).toBe(sessions);
    for (const name of names) {
      const seen = await pages[name]!.evaluate(() => {
        const w = window as any;
        return { closed: w.closedEvents, sessionEnded: w.sessionEnded, streamEnded: w.ended };
      });
      expect(seen, `what ${name}'s page saw`).toEqual({ closed: [], sessionEnded: [], streamEnded: [] });
    }
    const recoveredAt = Date.now();
    expect(await expectAllDecoding(pages, { timeoutMs: 20_000 })).toEqual({ alice: 4, bob: 4, carol: 4 });
    console.log(`[cpu-hog] every track decoding again ${Date.now() - recoveredAt} ms after the hog ended`);
  }, 150_000);
});
