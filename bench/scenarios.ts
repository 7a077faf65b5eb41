// The benchmark scenarios. Each drives an SfuTarget with node-datachannel
// clients on loopback, is bounded in clients and time, and returns rows of
// figures. The same code runs against Foci and Janus.
import { performance } from 'node:perf_hooks';
import type { Publication, SendTrack } from './client.ts';
import { readProbe, sendMedia } from './media.ts';
import { cpuMicros, rssBytes, summarize, udpDrops } from './measure.ts';
import type { LoadClient, SfuTarget, StreamKey, Subscription } from './target.ts';

export interface Profile {
  name: 'smoke' | 'full';
  fanoutSteps: number[];
  callSteps: number[];
  /** Seconds of media before and during each measurement window. */
  warmupS: number;
  windowS: number;
  latencySubscribers: number;
  latencyS: number;
  sessionTries: number;
  memorySteps: number[];
  /** Seconds to hold before reading memory (the worker's send history settles after 60 s). */
  memorySettleS: number;
  /** Bound on one step of a stepped scenario (adding clients, warm-up, window): past it the step fails. */
  stepTimeoutS: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  smoke: {
    name: 'smoke',
    fanoutSteps: [2, 4],
    callSteps: [1],
    warmupS: 1,
    windowS: 2,
    latencySubscribers: 2,
    latencyS: 2,
    sessionTries: 5,
    memorySteps: [0, 4],
    memorySettleS: 1,
    stepTimeoutS: 60,
  },
  full: {
    name: 'full',
    fanoutSteps: [10, 50, 100, 200, 400],
    callSteps: [2, 5, 10, 20, 30, 40],
    warmupS: 3,
    windowS: 10,
    latencySubscribers: 10,
    latencyS: 20,
    sessionTries: 100,
    memorySteps: [0, 50, 100, 200],
    memorySettleS: 65,
    stepTimeoutS: 180,
  },
};

export type Row = Record<string, string | number>;
export type Progress = (message: string) => void;

/** Loss above this ends a stepped scenario. */
const LOSS_LIMIT = 0.01;

let keySeq = 0;
export const newKey = (deviceId: string): StreamKey => ({ callId: `bench-${process.pid}-${++keySeq}`, deviceId, purpose: 'm.usermedia' });

/** Counts what a publication sends, so windows can be measured while media flows. */
export function counted(publication: Publication): { publication: Publication; sent: () => number } {
  let packets = 0;
  const wrap = (track: SendTrack | undefined): SendTrack | undefined =>
    track && {
      ...track,
      send: (packet: Uint8Array) => {
        const ok = track.send(packet);
        if (ok) packets++;
        return ok;
      },
      set onKeyframeRequest(fn: (() => void) | undefined) {
        track.onKeyframeRequest = fn;
      },
      get onKeyframeRequest() {
        return track.onKeyframeRequest;
      },
    };
  const wrapped: Publication = { key: publication.key };
  const audio = wrap(publication.audio);
  const video = wrap(publication.video);
  if (audio) wrapped.audio = audio;
  if (video) wrapped.video = video;
  return { publication: wrapped, sent: () => packets };
}

export const received = (subs: Subscription[]) => subs.reduce((n, s) => n + s.tracks.reduce((m, t) => m + t.packets, 0), 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `task` over `items` with at most `limit` at once (connecting hundreds of clients). */
export async function pool<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Media runs for the whole scenario; windows read counters while it flows. */
export function pump(publications: Publication[], maxSeconds: number): { stop: () => Promise<void> } {
  const controller = new AbortController();
  const running = Promise.all(publications.map((p) => sendMedia(p, { durationMs: maxSeconds * 1000, signal: controller.signal })));
  return {
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

interface Window {
  seconds: number;
  sent: number;
  received: number;
  expected: number;
  sfuCpuUs: number;
  /** The part of sfuCpuUs spent in media processes (Foci: the workers, not Node's main thread). */
  mediaCpuUs: number;
  loadCpuUs: number;
  /** Datagrams dropped at full receive buffers: the SFU's sockets, and the load's. */
  sfuDrops: number;
  loadDrops: number;
}

export async function measureWindow(target: SfuTarget, seconds: number, sent: () => number, got: () => number, fanout: () => number): Promise<Window> {
  const pids = target.pids();
  const mediaPids = target.mediaPids();
  const loadPids = [process.pid];
  const start = {
    sent: sent(),
    got: got(),
    cpu: cpuMicros(pids),
    media: cpuMicros(mediaPids),
    load: process.cpuUsage(),
    sfuDrops: udpDrops(pids),
    loadDrops: udpDrops(loadPids),
    t: performance.now(),
  };
  await sleep(seconds * 1000);
  // Let packets in flight arrive before reading what was received.
  const sentInWindow = sent() - start.sent;
  const cpu = cpuMicros(pids) - start.cpu;
  const media = cpuMicros(mediaPids) - start.media;
  const load = process.cpuUsage(start.load);
  const sfuDrops = udpDrops(pids) - start.sfuDrops;
  const loadDrops = udpDrops(loadPids) - start.loadDrops;
  await sleep(200);
  return {
    seconds: (performance.now() - start.t) / 1000,
    sent: sentInWindow,
    received: got() - start.got,
    expected: sentInWindow * fanout(),
    sfuCpuUs: cpu,
    mediaCpuUs: media,
    loadCpuUs: load.user + load.system,
    sfuDrops,
    loadDrops,
  };
}

type WindowFigures = {
  forwardedPps: number;
  lossPct: number;
  sfuCpuPct: number;
  sfuUsPerPacket: number;
  mediaCpuPct: number;
  loadCpuPct: number;
  sfuDrops: number;
  loadDrops: number;
};

export function windowRow(w: Window): WindowFigures {
  const loss = w.expected > 0 ? Math.max(0, 1 - w.received / w.expected) : 0;
  return {
    forwardedPps: Math.round(w.received / w.seconds),
    lossPct: +(loss * 100).toFixed(3),
    sfuCpuPct: +((w.sfuCpuUs / (w.seconds * 1e6)) * 100).toFixed(1),
    sfuUsPerPacket: w.received > 0 ? +(w.sfuCpuUs / w.received).toFixed(2) : 0,
    mediaCpuPct: +((w.mediaCpuUs / (w.seconds * 1e6)) * 100).toFixed(1),
    loadCpuPct: +((w.loadCpuUs / (w.seconds * 1e6)) * 100).toFixed(1),
    sfuDrops: w.sfuDrops,
    loadDrops: w.loadDrops,
  };
}

/**
 * The clients and media of a stepped scenario. A step that runs out of time
 * leaves connects and subscribes in flight; once the scenario has ended,
 * whatever arrives late is closed on arrival instead of loading the next one.
 */
class Load {
  readonly #clients: LoadClient[] = [];
  readonly #pumps: { stop: () => Promise<void> }[] = [];
  #ended = false;

  keep<T extends LoadClient>(client: T): T {
    if (this.#ended) {
      client.close();
      throw new Error('scenario ended');
    }
    this.#clients.push(client);
    return client;
  }

  pump(publications: Publication[], maxSeconds: number): void {
    if (!this.#ended) this.#pumps.push(pump(publications, maxSeconds));
  }

  async end(): Promise<void> {
    this.#ended = true;
    await Promise.all(this.#pumps.map((p) => p.stop()));
    for (const c of this.#clients) c.close();
  }
}

/**
 * One step of a stepped scenario: its figures, or, when setting it up or
 * measuring it failed or took longer than the profile allows (signaling slows
 * down on a saturated core), a row that says so. Either way the steps before
 * it keep their figures.
 */
async function step(target: SfuTarget, profile: Profile, size: Row, progress: Progress, measure: () => Promise<WindowFigures>): Promise<{ row: Row; figures: WindowFigures | undefined }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step did not finish within ${profile.stepTimeoutS} s`)), profile.stepTimeoutS * 1000);
  });
  try {
    const figures = await Promise.race([measure(), timeout]);
    return { row: { ...size, ...figures }, figures };
  } catch (error) {
    // No client closes anything while stepping up, so every close so far was the SFU's.
    const closed = await target.closedSessions?.().catch(() => undefined);
    const closes = closed && Object.keys(closed).length ? `; sessions the SFU closed: ${Object.entries(closed).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
    const note = `failed: ${(error as Error).message}${closes}`;
    progress(`${JSON.stringify(size)} ${note}`);
    return { row: { ...size, note }, figures: undefined };
  } finally {
    clearTimeout(timer);
  }
}

/** 1 publisher (audio + ~1 Mbit/s video), N subscribers, N stepped up until loss > 1%. */
export async function fanout(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const load = new Load();
  const rows: Row[] = [];
  try {
    const publisher = load.keep(await target.connect());
    const key = newKey('fanout-publisher');
    const { publication, sent } = counted(await publisher.publish(key, { audio: true, video: true }));
    load.pump([publication], profile.fanoutSteps.length * profile.stepTimeoutS);
    const subs: Subscription[] = [];
    for (const n of profile.fanoutSteps) {
      progress(`fanout: ${n} subscribers`);
      const { row, figures } = await step(target, profile, { subscribers: n }, progress, async () => {
        const more = await pool(Array.from({ length: n - subs.length }), 10, async () => load.keep(await target.connect()).subscribe(key));
        subs.push(...more);
        await sleep(profile.warmupS * 1000);
        return windowRow(await measureWindow(target, profile.windowS, sent, () => received(subs), () => subs.length));
      });
      rows.push(row);
      if (!figures) break;
      progress(`fanout: ${n} subscribers → ${figures.forwardedPps} pps, loss ${figures.lossPct}%, ${figures.sfuUsPerPacket} µs/packet`);
      if (figures.lossPct > LOSS_LIMIT * 100) break;
    }
  } finally {
    await load.end();
  }
  return rows;
}

/** Calls of 4: everyone publishes audio + video and subscribes to the other 3; calls stepped up. */
export async function smallCalls(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const load = new Load();
  const rows: Row[] = [];
  const counters: (() => number)[] = [];
  const sent = () => counters.reduce((n, c) => n + c(), 0);
  const subs: Subscription[] = [];
  let calls = 0;
  try {
    for (const targetCalls of profile.callSteps) {
      progress(`calls of 4: ${targetCalls} calls`);
      const size = { calls: targetCalls, sessions: targetCalls * 4, tracksForwarded: targetCalls * 4 * 3 * 2 };
      const { row, figures } = await step(target, profile, size, progress, async () => {
        while (calls < targetCalls) {
          calls++;
          const members = await Promise.all(Array.from({ length: 4 }, async () => load.keep(await target.connect())));
          const keys = members.map((_, i) => newKey(`call${calls}-m${i}`));
          const pubs = await Promise.all(members.map((m, i) => m.publish(keys[i]!, { audio: true, video: true }).then(counted)));
          counters.push(...pubs.map((p) => p.sent));
          load.pump(pubs.map((p) => p.publication), 3600);
          for (const [i, m] of members.entries()) {
            for (const [j, k] of keys.entries()) if (i !== j) subs.push(await m.subscribe(k));
          }
        }
        await sleep(profile.warmupS * 1000);
        // Each publisher's packets go to 3 subscribers.
        return windowRow(await measureWindow(target, profile.windowS, sent, () => received(subs), () => 3));
      });
      rows.push(row);
      if (!figures) break;
      progress(`calls of 4: ${calls} calls → loss ${figures.lossPct}%, SFU CPU ${figures.sfuCpuPct}%`);
      if (figures.lossPct > LOSS_LIMIT * 100) break;
    }
  } finally {
    await load.end();
  }
  return rows;
}

/** Send-to-receive delay of each packet through the SFU (probe timestamps, one process clock). */
export async function latency(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const clients: LoadClient[] = [];
  const delays: number[] = [];
  try {
    const publisher = await target.connect();
    clients.push(publisher);
    const key = newKey('latency-publisher');
    const publication = await publisher.publish(key, { audio: true, video: true });
    let measuring = false;
    for (let i = 0; i < profile.latencySubscribers; i++) {
      const c = await target.connect();
      clients.push(c);
      await c.subscribe(key, {
        onPacket: (p) => {
          const sentAt = readProbe(p.packet);
          if (measuring && sentAt !== undefined) delays.push(performance.timeOrigin + p.at - sentAt);
        },
      });
    }
    progress(`latency: ${profile.latencySubscribers} subscribers, ${profile.latencyS} s`);
    const media = pump([publication], profile.warmupS + profile.latencyS + 5);
    await sleep(profile.warmupS * 1000);
    measuring = true;
    await sleep(profile.latencyS * 1000);
    measuring = false;
    await media.stop();
  } finally {
    for (const c of clients) c.close();
  }
  const s = summarize(delays);
  return [{ packets: s.n, p50Ms: +s.p50.toFixed(3), p95Ms: +s.p95.toFixed(3), p99Ms: +s.p99.toFixed(3), maxMs: +s.max.toFixed(3) }];
}

/** Session set-up (connect: createSession → channel open → ready) and subscribe → first RTP. */
export async function sessionPath(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const clients: LoadClient[] = [];
  const connectMs: number[] = [];
  const firstRtpMs: number[] = [];
  try {
    const publisher = await target.connect();
    clients.push(publisher);
    const key = newKey('session-publisher');
    const publication = await publisher.publish(key, { audio: true, video: true });
    const media = pump([publication], 600);
    try {
      for (let i = 0; i < profile.sessionTries; i++) {
        if (i % 10 === 0) progress(`session path: try ${i + 1}/${profile.sessionTries}`);
        const t0 = performance.now();
        const c = await target.connect();
        connectMs.push(performance.now() - t0);
        let first: number | undefined;
        const got = new Promise<void>((resolve) => {
          const t1 = performance.now();
          c.subscribe(key, {
            onPacket: () => {
              if (first === undefined) {
                first = performance.now() - t1;
                resolve();
              }
            },
          }).catch(() => resolve()); // counted as a miss below
        });
        await Promise.race([got, sleep(5000)]);
        if (first !== undefined) firstRtpMs.push(first);
        c.close();
      }
    } finally {
      await media.stop();
    }
  } finally {
    for (const c of clients) c.close();
  }
  const a = summarize(connectMs);
  const b = summarize(firstRtpMs);
  return [
    // Not comparable across SFUs: Janus's connect is one HTTP call; its ICE/DTLS happen in subscribe.
    { step: target.name === 'foci' ? 'connect: createSession → channel ready' : 'connect: HTTP session only', tries: a.n, p50Ms: +a.p50.toFixed(1), p95Ms: +a.p95.toFixed(1), p99Ms: +a.p99.toFixed(1) },
    { step: 'subscribe → first RTP', tries: b.n, p50Ms: +b.p50.toFixed(1), p95Ms: +b.p95.toFixed(1), p99Ms: +b.p99.toFixed(1) },
  ];
}

/** Media-process RSS as video consumers are added; the slope is the cost of one consumer. */
export async function memory(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const clients: LoadClient[] = [];
  const rows: Row[] = [];
  const publisher = await target.connect();
  clients.push(publisher);
  const key = newKey('memory-publisher');
  const publication = await publisher.publish(key, { audio: false, video: true });
  const media = pump([publication], profile.memorySteps.length * (profile.memorySettleS + 60));
  let subscribers = 0;
  try {
    for (const n of profile.memorySteps) {
      const more = await pool(Array.from({ length: n - subscribers }), 10, async () => {
        const c = await target.connect();
        clients.push(c);
        return c.subscribe(key);
      });
      subscribers += more.length;
      progress(`memory: ${n} video consumers, settling ${profile.memorySettleS} s`);
      await sleep(profile.memorySettleS * 1000);
      rows.push({ videoConsumers: n, mediaRssMiB: +(rssBytes(target.mediaPids()) / 2 ** 20).toFixed(1) });
    }
  } finally {
    await media.stop();
    for (const c of clients) c.close();
  }
  const first = rows[0];
  const last = rows.at(-1);
  if (first && last && last.videoConsumers !== first.videoConsumers) {
    const perConsumer = ((last.mediaRssMiB as number) - (first.mediaRssMiB as number)) / ((last.videoConsumers as number) - (first.videoConsumers as number));
    for (const r of rows) r.miBPerConsumer = +perConsumer.toFixed(3);
  }
  return rows;
}

export const SCENARIOS = { fanout, calls: smallCalls, latency, session: sessionPath, memory } as const;
export type ScenarioName = keyof typeof SCENARIOS;
