// A six-member group call with churn, as its members see it. Each member runs
// in its own Chromium process, publishes camera + mic and subscribes to every
// other member on its one connection. Then: one member's browser is killed
// (it says nothing: no DTLS close, no SCTP abort), a member joins, one swaps
// its camera, one adds a screenshare, one re-subscribes. After every step,
// every live received track of every member must keep decoding.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Foci } from '../../src/server.ts';
import { launchChromiumProcess, type ChromiumProcess } from '../helpers/chromium.ts';
import { expectAllDecoding, liveTracks, openClient, publish, sdpSizes, startTestFoci, subscribe, swapCamera, unsubscribe, waitFor, type Key } from '../helpers/browser.ts';

const CALL = '!group:example.org/call';
const keyOf = (name: string, purpose = 'm.usermedia'): Key => ({ callId: CALL, deviceId: name, purpose });

interface Member {
  name: string;
  chromium: ChromiumProcess;
  page: Page;
}

let foci: Foci;
const members = new Map<string, Member>();
const browsers: ChromiumProcess[] = [];
const timings = { publish: [] as number[], subscribe: [] as number[], unsubscribe: [] as number[] };
const largest = { clientOffer: 0, serverOffer: 0 };

const opLog: string[] = [];

async function timed<T>(into: number[], label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work();
  const ms = Date.now() - started;
  into.push(ms);
  opLog.push(`${label} ${ms}`);
  return result;
}

/** Prints the step's operations with their durations (ms), then forgets them. */
function printOps(step: string): void {
  console.log(`[group-call] ${step}: ${opLog.join(', ')}${serverCloses.length ? `; sessions closed: ${serverCloses.join(', ')}` : ''}`);
  opLog.length = 0;
  serverCloses.length = 0;
}

async function join(name: string): Promise<Member> {
  const chromium = await launchChromiumProcess();
  browsers.push(chromium);
  const page = await openClient(chromium.browser, foci.url);
  const member = { name, chromium, page };
  members.set(name, member);
  return member;
}

/** Every live member, by name, for expectAllDecoding. */
const livePages = () => Object.fromEntries([...members.values()].map((m) => [m.name, m.page]));

async function noteSizes(page: Page): Promise<void> {
  const s = await sdpSizes(page);
  largest.clientOffer = Math.max(largest.clientOffer, s.clientOffer);
  largest.serverOffer = Math.max(largest.serverOffer, s.serverOffer);
}

/** Live tracks a member receives from `key`. */
async function tracksFrom(page: Page, key: Key): Promise<{ kind: string; id: string }[]> {
  return (await liveTracks(page)).filter((t) => t.key === JSON.stringify(key)).map(({ kind, id }) => ({ kind, id }));
}

/** Sessions the server closed, with why and when (printed after each step). */
const serverCloses: string[] = [];

beforeAll(async () => {
  foci = await startTestFoci();
  const started = Date.now();
  foci.sessions.observe({ opened: () => undefined, closed: (session, reason) => serverCloses.push(`${session.id.slice(0, 8)} ${reason} at +${Date.now() - started} ms`) });
});

/** No live member was dropped: its client saw no `closed` event and no session_ended. */
async function expectNobodyDropped(): Promise<void> {
  for (const m of members.values()) {
    const seen = await m.page.evaluate(() => ({ closed: (window as any).closedEvents, sessionEnded: (window as any).sessionEnded }));
    expect(seen, `${m.name} was dropped`).toEqual({ closed: [], sessionEnded: [] });
  }
}

afterEach(async ({ task }) => {
  // Who was dropped, if anyone (the step's own assertions may have stopped before checking).
  for (const m of members.values()) {
    const seen = await m.page.evaluate(() => [...(window as any).closedEvents, ...(window as any).sessionEnded]).catch((e: Error) => [e.message]);
    if (seen.length) opLog.push(`${m.name} dropped: ${JSON.stringify(seen)}`);
  }
  printOps(task.name.split(':')[0]!.slice(0, 48));
});

afterAll(async () => {
  for (const m of members.values()) await noteSizes(m.page).catch(() => undefined);
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted.length ? `n=${sorted.length} median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms` : 'none';
  };
  console.log(
    `[group-call] largest client offer ${largest.clientOffer} B, largest server offer ${largest.serverOffer} B; ` +
      `publish ${stats(timings.publish)}; subscribe ${stats(timings.subscribe)}; unsubscribe ${stats(timings.unsubscribe)}`,
  );
  await Promise.all(browsers.map((b) => b.close()));
  await foci?.close();
});

describe('a six-member group call with churn', () => {
  const first = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'];

  it('six members, each in its own browser, publish camera + mic and receive every other member', async () => {
    await Promise.all(first.map((name) => join(name)));
    expect(foci.sessions.size).toBe(6);
    await Promise.all(first.map((name) => timed(timings.publish, `${name}:publish`, () => publish(members.get(name)!.page, keyOf(name)))));
    // Each member subscribes to the others one after another; members in parallel.
    await Promise.all(
      first.map(async (name) => {
        for (const other of first) if (other !== name) await timed(timings.subscribe, `${name}:sub(${other})`, () => subscribe(members.get(name)!.page, keyOf(other)));
      }),
    );
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries(first.map((n) => [n, 10])));
  }, 150_000);

  it('a member whose browser vanishes ends its tracks for everyone within 5 s; the rest keep decoding', async () => {
    const victim = members.get('m2')!;
    await noteSizes(victim.page);
    const survivors = [...members.values()].filter((m) => m !== victim);
    const key = JSON.stringify(keyOf(victim.name));
    const killedAt = Date.now();
    victim.chromium.kill();
    members.delete(victim.name);

    // While its fate is unknown, everything else keeps decoding for everyone.
    const meanwhile = await timed([], 'decoding-check-before-verdict', () =>
      expectAllDecoding(Object.fromEntries(survivors.map((m) => [m.name, m.page])), { except: (t) => t.key === key }),
    );
    expect(meanwhile).toEqual(Object.fromEntries(survivors.map((m) => [m.name, 8])));

    // When each survivor saw it: the stream_ended notice, or both tracks ended.
    const read = () =>
      Promise.all(
        survivors.map((m) =>
          m.page.evaluate((key) => {
            const w = window as any;
            const notice = w.ended.find((e: any) => JSON.stringify({ callId: e.call_id, deviceId: e.device_id, purpose: e.purpose }) === key);
            const sub = w.subs[key];
            return { notice: notice ? { at: notice.at as number, reason: notice.reason as string } : null, tracksEndedAt: sub.endedAt as number[] };
          }, key),
        ),
      );
    // Wait well past the 5 s goal (bounded), so a late verdict is measured too.
    const seen = await waitFor(read, (all) => all.every((s) => s.notice !== null && s.tracksEndedAt.length === 2), 30_000);
    const report = survivors.map((m, i) => {
      const s = seen[i]!;
      const tracksEnded = s.tracksEndedAt.length === 2 ? Math.max(...s.tracksEndedAt) - killedAt : null;
      const notice = s.notice ? s.notice.at - killedAt : null;
      const ended = Math.min(notice ?? Infinity, tracksEnded ?? Infinity);
      return { member: m.name, noticeMs: notice, reason: s.notice?.reason ?? null, tracksEndedMs: tracksEnded, endedMs: Number.isFinite(ended) ? ended : null };
    });
    console.log(`[group-call] after SIGKILL of ${victim.name}'s browser: ${JSON.stringify(report)}; sessions ${foci.sessions.size}`);
    for (const r of report) {
      expect(r.endedMs, `${r.member} saw ${victim.name} end`).not.toBeNull();
      expect(r.endedMs!, `${r.member}: ${victim.name}'s tracks ended ${r.endedMs} ms after the kill`).toBeLessThanOrEqual(5_000);
    }
    expect(report.every((r) => r.reason === 'publisher_left')).toBe(true);
    expect(foci.registry.get(keyOf(victim.name))).toBeUndefined();
    expect(foci.sessions.size).toBe(5);
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries(survivors.map((m) => [m.name, 8])));
  }, 90_000);

  it('a new member joins: publishes, receives everyone, and everyone receives it', async () => {
    const others = [...members.keys()];
    const newcomer = await join('m6');
    await timed(timings.publish, 'm6:publish', () => publish(newcomer.page, keyOf('m6')));
    await Promise.all([
      (async () => {
        for (const o of others) await timed(timings.subscribe, `m6:sub(${o})`, () => subscribe(newcomer.page, keyOf(o)));
      })(),
      ...others.map((o) => timed(timings.subscribe, `${o}:sub(m6)`, () => subscribe(members.get(o)!.page, keyOf('m6')))),
    ]);
    expect(foci.sessions.size).toBe(6);
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries([...members.keys()].map((n) => [n, 10])));
  }, 90_000);

  it('a member swaps its camera (old transceiver stopped, new track in the same offer): subscribers decode the new track', async () => {
    const swapper = members.get('m0')!;
    const key = keyOf('m0');
    const subscribers = [...members.values()].filter((m) => m !== swapper);
    const before = new Map(await Promise.all(subscribers.map(async (m) => [m.name, await tracksFrom(m.page, key)] as const)));
    const { oldTrackId, newTrackId } = await timed(timings.publish, 'm0:swap-camera', () => swapCamera(swapper.page, key));
    expect(newTrackId).not.toBe(oldTrackId);
    const producers = foci.registry.get(key)?.tracks.map((t) => t.kind).sort();
    expect(producers).toEqual(['audio', 'video']);
    // Each subscriber ends up with one live audio and one live video track from
    // m0, and the video is not the one it received before the swap.
    const after = await timed([], 'subscribers-get-new-video', () => Promise.all(
      subscribers.map((m) =>
        waitFor(
          () => tracksFrom(m.page, key),
          (ts) => {
            const videos = ts.filter((t) => t.kind === 'video');
            const oldVideo = before.get(m.name)!.find((t) => t.kind === 'video');
            return ts.length === 2 && videos.length === 1 && videos[0]!.id !== oldVideo?.id;
          },
          15_000,
        ),
      ),
    ));
    after.forEach((ts, i) => {
      const name = subscribers[i]!.name;
      const oldVideo = before.get(name)!.find((t) => t.kind === 'video');
      expect(ts.map((t) => t.kind).sort(), `${name} receives m0's audio and one video`).toEqual(['audio', 'video']);
      expect(ts.find((t) => t.kind === 'video')!.id, `${name} receives m0's new video track`).not.toBe(oldVideo?.id);
    });
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries([...members.keys()].map((n) => [n, 10])));
  }, 90_000);

  it('a member adds a screenshare after subscribing to everyone; everyone receives and decodes it', async () => {
    const sharer = members.get('m1')!;
    const screen = keyOf('m1', 'm.screenshare');
    await timed(timings.publish, 'm1:publish-screen', () => publish(sharer.page, screen, 'screen'));
    await noteSizes(sharer.page);
    const viewers = [...members.values()].filter((m) => m !== sharer);
    const kinds = await Promise.all(viewers.map((m) => timed(timings.subscribe, `${m.name}:sub(m1 screen)`, () => subscribe(m.page, screen))));
    for (const k of kinds) expect(k.kinds).toEqual(['video']);
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries([...members.keys()].map((n) => [n, n === 'm1' ? 10 : 11])));
  }, 90_000);

  it('a member unsubscribes and subscribes again, three times, to three members, decoding each time', async () => {
    const member = members.get('m3')!;
    const targets = ['m4', 'm5', 'm6'];
    for (const target of targets) {
      const key = keyOf(target);
      expect(await tracksFrom(member.page, key)).toHaveLength(2);
      await timed(timings.unsubscribe, `m3:unsub(${target})`, () => unsubscribe(member.page, key));
      // The old tracks end (the server's follow-up offer closes their sections).
      const ended = await waitFor(
        () => member.page.evaluate((k) => (window as any).pastSubs.at(-1).ended as string[], key),
        (e) => e.length === 2,
        10_000,
      );
      expect(ended.sort(), `${target}'s tracks end on ${member.name} after unsubscribe`).toEqual(['audio', 'video']);
      const { kinds } = await timed(timings.subscribe, `m3:sub(${target})`, () => subscribe(member.page, key));
      expect(kinds.sort()).toEqual(['audio', 'video']);
      // New receivers (track ids come from the msid, so they repeat; the objects do not).
      const reused = await member.page.evaluate((k) => {
        const w = window as any;
        const now = w.subs[JSON.stringify(k)].tracks as MediaStreamTrack[];
        return now.filter((t) => w.pastSubs.at(-1).tracks.includes(t) || t.readyState !== 'live').length;
      }, key);
      expect(reused, 'tracks of the new subscription that are old or not live').toBe(0);
      const counts = await timed([], 'm3:decoding-check', () => expectAllDecoding({ [member.name]: member.page }));
      expect(counts).toEqual({ [member.name]: 11 });
    }
    await expectNobodyDropped();
    const counts = await timed([], 'decoding-check', () => expectAllDecoding(livePages()));
    expect(counts).toEqual(Object.fromEntries([...members.keys()].map((n) => [n, n === 'm1' ? 10 : 11])));
  }, 120_000);
});
