// The benchmark scenarios. Each drives an SfuTarget with node-datachannel
// clients on loopback, is bounded in clients and time, and returns rows of
// figures. The same code runs against Foci and Janus.
import { performance } from 'node:perf_hooks';
import type { Publication } from './client.ts';
import { readProbe, sendMedia } from './media.ts';
import { rssAnonBytes } from './measure.ts';
import { LOSS_LIMIT_PCT, linearFit, summarize, type Row } from './stats.ts';
import type { LoadClient, SfuTarget, StreamKey, Subscription } from './target.ts';
import { ProbeWindow, counted, measureWindow, windowRow, type WindowFigures } from './window.ts';

export type { Row };

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
  /** Wait after a window's end for its last packets to arrive (bench/window.ts). */
  drainMs: number;
  /** Runs of every scenario, the targets' order rotated between them (--repeat overrides). */
  repeat: number;
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
    drainMs: 500,
    repeat: 1,
  },
  full: {
    name: 'full',
    fanoutSteps: [10, 50, 100, 200, 400],
    callSteps: [2, 5, 10, 20, 30, 40],
    warmupS: 3,
    windowS: 10,
    latencySubscribers: 10,
    latencyS: 20,
    sessionTries: 1000,
    memorySteps: [0, 50, 100, 200],
    memorySettleS: 65,
    stepTimeoutS: 180,
    drainMs: 500,
    repeat: 3,
  },
};

export type Progress = (message: string) => void;

let keySeq = 0;
export const newKey = (deviceId: string): StreamKey => ({ callId: `bench-${process.pid}-${++keySeq}`, deviceId, purpose: 'm.usermedia' });

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

/** A step's figures as one progress line; load-bound and negative loss said loudly. */
function said(figures: WindowFigures): string {
  const flags = [figures.loadBound ? 'LOAD-BOUND' : '', figures.lossPct < 0 ? 'NEGATIVE LOSS (counting bug)' : ''].filter(Boolean).join(', ');
  return `${figures.forwardedPps} pps, loss ${figures.lossPct}% (${figures.received}/${figures.expected}), SFU CPU ${figures.sfuCpuPct}%, ${figures.sfuUsPerPacket} µs/packet, load ${figures.loadCpuPct}% (JS thread ${figures.loadMainThreadPct}%)${flags ? ` — ${flags}` : ''}`;
}

/** 1 publisher (audio + ~1 Mbit/s video), N subscribers, N stepped up until loss > 1%. */
export async function fanout(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const load = new Load();
  const rows: Row[] = [];
  const window = new ProbeWindow();
  try {
    const publisher = load.keep(await target.connect());
    const key = newKey('fanout-publisher');
    const publication = counted(await publisher.publish(key, { audio: true, video: true }), window);
    load.pump([publication], profile.fanoutSteps.length * profile.stepTimeoutS);
    const subs: Subscription[] = [];
    for (const n of profile.fanoutSteps) {
      progress(`fanout: ${n} subscribers`);
      const { row, figures } = await step(target, profile, { subscribers: n }, progress, async () => {
        const more = await pool(Array.from({ length: n - subs.length }), 10, async () => load.keep(await target.connect()).subscribe(key, { onPacket: window.countReceived }));
        subs.push(...more);
        await sleep(profile.warmupS * 1000);
        return windowRow(await measureWindow(target, profile.windowS, window, () => subs.length, profile.drainMs));
      });
      rows.push(row);
      if (!figures) break;
      progress(`fanout: ${n} subscribers → ${said(figures)}`);
      if (figures.lossPct > LOSS_LIMIT_PCT) break;
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
  const window = new ProbeWindow();
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
          const pubs = await Promise.all(members.map((m, i) => m.publish(keys[i]!, { audio: true, video: true }).then((p) => counted(p, window))));
          load.pump(pubs, 3600);
          for (const [i, m] of members.entries()) {
            for (const [j, k] of keys.entries()) if (i !== j) await m.subscribe(k, { onPacket: window.countReceived });
          }
        }
        await sleep(profile.warmupS * 1000);
        // Each publisher's packets go to 3 subscribers.
        return windowRow(await measureWindow(target, profile.windowS, window, () => 3, profile.drainMs));
      });
      rows.push(row);
      if (!figures) break;
      progress(`calls of 4: ${calls} calls → ${said(figures)}`);
      if (figures.lossPct > LOSS_LIMIT_PCT) break;
    }
  } finally {
    await load.end();
  }
  return rows;
}

const ms = (v: number, digits = 3) => +v.toFixed(digits);

/**
 * Send-to-receive delay of each packet through the SFU (probe timestamps, one
 * process clock), nearest-rank percentiles; packets sent in the window that
 * never arrived are counted as misses, not dropped from the figures.
 */
export async function latency(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const clients: LoadClient[] = [];
  const delays: number[] = [];
  const window = new ProbeWindow();
  let measuring = false;
  try {
    const publisher = await target.connect();
    clients.push(publisher);
    const key = newKey('latency-publisher');
    const publication = counted(await publisher.publish(key, { audio: true, video: true }), window);
    for (let i = 0; i < profile.latencySubscribers; i++) {
      const c = await target.connect();
      clients.push(c);
      await c.subscribe(key, {
        onPacket: (p) => {
          window.countReceived(p);
          const sentAt = readProbe(p.packet);
          if (measuring && !p.rtx && sentAt !== undefined) delays.push(performance.timeOrigin + p.at - sentAt);
        },
      });
    }
    progress(`latency: ${profile.latencySubscribers} subscribers, ${profile.latencyS} s`);
    const media = pump([publication], profile.warmupS + profile.latencyS + 5);
    await sleep(profile.warmupS * 1000);
    window.open(performance.timeOrigin + performance.now());
    measuring = true;
    await sleep(profile.latencyS * 1000);
    window.close(performance.timeOrigin + performance.now());
    await sleep(profile.drainMs);
    measuring = false;
    await media.stop();
  } finally {
    for (const c of clients) c.close();
  }
  // Delays are taken from packets that arrived while measuring, a few of which were sent just before the window.
  const s = summarize(delays);
  const expected = window.sent * profile.latencySubscribers;
  return [{ step: 'per packet', packets: s.n, sent: window.sent, expected, misses: expected - window.received, p50Ms: ms(s.p50), p95Ms: ms(s.p95), p99Ms: ms(s.p99), maxMs: ms(s.max) }];
}

/** Waits up to `timeoutMs` for the first media packet of a subscription made by `subscribe`; resolves with ms from `t0`, or undefined. */
async function firstMedia(subscribe: (onPacket: () => void) => Promise<unknown>, t0: number, timeoutMs: number): Promise<number | undefined> {
  let first: number | undefined;
  let failed = false;
  await Promise.race([
    new Promise<void>((resolve) => {
      subscribe(() => {
        if (first === undefined) {
          first = performance.now() - t0;
          resolve();
        }
      }).catch(() => {
        failed = true;
        resolve();
      });
    }),
    sleep(timeoutMs),
  ]);
  return failed ? undefined : first;
}

/**
 * The session path, each try on a new connection: connect + subscribe →
 * first media, cold, on every SFU (for Foci: createSession, ICE/DTLS, the
 * channel, the subscribe offer and answer; for Janus: its HTTP session,
 * attach, join and the subscriber's ICE/DTLS). For Foci, the renegotiation
 * path too: a second subscribe on the now open connection → first media.
 * A try that fails or sees no media within 5 s is a miss, counted.
 */
export async function sessionPath(target: SfuTarget, profile: Profile, progress: Progress): Promise<Row[]> {
  const clients: LoadClient[] = [];
  const coldMs: number[] = [];
  const renegotiateMs: number[] = [];
  let coldMisses = 0;
  let renegotiateMisses = 0;
  // Only Foci carries every subscription on one connection; Janus opens a subscriber connection per stream.
  const renegotiates = target.name === 'foci';
  try {
    const keys = [newKey('session-publisher-a'), newKey('session-publisher-b')];
    const publications: Publication[] = [];
    for (const key of keys) {
      const publisher = await target.connect();
      clients.push(publisher);
      publications.push(await publisher.publish(key, { audio: true, video: true }));
    }
    const media = pump(publications, 3600);
    try {
      for (let i = 0; i < profile.sessionTries; i++) {
        if (i % 50 === 0) progress(`session path: try ${i + 1}/${profile.sessionTries}`);
        const t0 = performance.now();
        let client: LoadClient | undefined;
        const cold = await firstMedia(async (onPacket) => {
          client = await target.connect();
          return client.subscribe(keys[0]!, { onPacket });
        }, t0, 5000);
        if (cold === undefined) coldMisses++;
        else coldMs.push(cold);
        if (renegotiates && client && cold !== undefined) {
          const again = await firstMedia((onPacket) => client!.subscribe(keys[1]!, { onPacket }), performance.now(), 5000);
          if (again === undefined) renegotiateMisses++;
          else renegotiateMs.push(again);
        } else if (renegotiates) {
          renegotiateMisses++;
        }
        client?.close();
      }
    } finally {
      await media.stop();
    }
  } finally {
    for (const c of clients) c.close();
  }
  const row = (step: string, values: number[], misses: number): Row => {
    const s = summarize(values);
    return { step, tries: values.length + misses, misses, p50Ms: ms(s.p50, 1), p95Ms: ms(s.p95, 1), p99Ms: ms(s.p99, 1), maxMs: ms(s.max, 1) };
  };
  const rows = [row('connect + subscribe → first media (new connection)', coldMs, coldMisses)];
  if (renegotiates) rows.push(row('subscribe on an open connection → first media (renegotiation)', renegotiateMs, renegotiateMisses));
  return rows;
}

/**
 * Anonymous memory (RssAnon) of all the SFU's processes as video consumers
 * are added; the least-squares slope over every step is the cost of one consumer.
 */
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
      rows.push({ videoConsumers: n, rssAnonMiB: +(rssAnonBytes(target.pids()) / 2 ** 20).toFixed(1), mediaRssAnonMiB: +(rssAnonBytes(target.mediaPids()) / 2 ** 20).toFixed(1) });
    }
  } finally {
    await media.stop();
    for (const c of clients) c.close();
  }
  const fit = linearFit(rows.map((r) => Number(r.videoConsumers)), rows.map((r) => Number(r.rssAnonMiB)));
  if (Number.isFinite(fit.slope)) for (const r of rows) r.miBPerConsumer = +fit.slope.toFixed(3);
  return rows;
}

export const SCENARIOS = { fanout, calls: smallCalls, latency, session: sessionPath, memory } as const;
export type ScenarioName = keyof typeof SCENARIOS;

/** The field that names a step of each scenario's rows (repeated runs are merged on it). */
export const STEP_KEY: Record<ScenarioName, string> = { fanout: 'subscribers', calls: 'calls', latency: 'step', session: 'step', memory: 'videoConsumers' };
