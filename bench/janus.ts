// The Janus side of `npm run bench`: Debian's `janus` (1.1.x) with the
// VideoRoom plugin, run as a private child process on loopback, and load
// clients that speak its HTTP (REST + long poll) API with node-datachannel,
// the same WebRTC stack and RTP as BenchClient (bench/client.ts) uses
// against Foci.
//
//   const janus = new JanusTarget();
//   await janus.start({ cpus: '0' });
//   const client = await janus.connect();
//   const pub = await client.publish(key, { audio: true, video: true });
//   const sub = await other.subscribe(key, { onPacket });
//   …
//   await janus.stop();
//
// Mapping of the benchmark's model onto VideoRoom:
// - a LoadClient is one Janus session (one long poll);
// - one room per callId, created by the first publisher in it;
// - each publish() is a publisher handle with its own PeerConnection (a Janus
//   "feed"), known in this process by its (callId, deviceId, purpose) key;
// - a client's subscriptions in one room share one subscriber handle and one
//   PeerConnection (VideoRoom multistream): the first joins with the feed,
//   later ones add feeds with `subscribe`, and Janus renegotiates.
//
// Janus is ICE Lite here (as mediasoup is) and gathers 127.0.0.1 only; see
// bench/janus-config.ts for why a preload library is needed for that. Its
// media threads are a fixed pool (`event_loops`), one per CPU it is pinned
// to, rather than its default of one thread per handle.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PeerConnection } from 'node-datachannel';
import type { Track } from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { BenchError, addSendTrack, countOnTrack, type Publication, type ReceivedPacket, type RecvTrack, type SendTrack, type StreamKey, type Subscription } from './client.ts';
import { DEFAULT_RTP_PORT_RANGE, ensureLoopbackShim, findJanusLibDir, writeJanusConfig } from './janus-config.ts';
import type { LoadClient, SfuTarget } from './target.ts';

const REQUEST_TIMEOUT_MS = 20_000;
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 2_000;
/** Events per long poll response. */
const MAX_EVENTS = 10;

export interface JanusTargetOptions {
  /** The janus binary (JANUS_BIN, else `janus` on PATH). */
  janusBin?: string;
  /** HTTP API port on 127.0.0.1 (JANUS_HTTP_PORT, else a free one). */
  httpPort?: number;
  /** Janus media ports; default 20000-29999 (Foci's workers use 40000+). */
  rtpPortRange?: string;
  /** Janus log level 0-7 (FOCI_JANUS_DEBUG_LEVEL, default 3: warnings and errors). */
  debugLevel?: number;
  /**
   * Janus `event_loops`, its media threads (FOCI_JANUS_EVENT_LOOPS). Default:
   * one per CPU Janus is pinned to (all CPUs when not pinned), as Janus
   * advises for many PeerConnections. 0 keeps Janus's own default, a thread
   * per handle, which on one core spends about twice the CPU per packet.
   */
  eventLoops?: number;
  /** ICE Lite on Janus (FOCI_JANUS_ICE_LITE=0 for full ICE; default true, as mediasoup). */
  iceLite?: boolean;
  /** Copy janus's log here at stop() (FOCI_JANUS_LOG); it is otherwise deleted with the config folder. */
  keepLog?: string;
}

type Json = Record<string, unknown>;
interface Jsep {
  type: 'offer' | 'answer';
  sdp: string;
}
/** A Janus API message: responses and long-poll events. */
interface JanusMessage extends Json {
  janus: string;
  transaction?: string;
  sender?: number;
  session_id?: number;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Json };
  jsep?: Jsep;
}
interface Feed {
  room: number;
  feed: number;
}

function keyString(key: StreamKey): string {
  return `${key.callId}\n${key.deviceId}\n${key.purpose}`;
}

export class JanusTarget implements SfuTarget {
  readonly name = 'janus' as const;
  readonly settings = 'debug level 3 (warnings and errors), UDP socket buffers at the kernel default (Janus has no setting), no transport-cc (room option transport_wide_cc_ext off)';
  readonly #options: JanusTargetOptions;
  #process: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #dir: string | undefined;
  #baseUrl: string | undefined;
  #onExit: (() => void) | undefined;
  /** Room number by callId; the promise settles once the room exists. */
  readonly #rooms = new Map<string, Promise<number>>();
  #nextRoom = 1000;
  /** Publisher feed by stream key, for subscribe(); and subscribers waiting for a key not yet published. */
  readonly #feeds = new Map<string, Feed>();
  readonly #feedWaiters = new Map<string, ((feed: Feed) => void)[]>();
  readonly #clients = new Set<JanusClient>();

  constructor(options: JanusTargetOptions = {}) {
    const env = process.env;
    this.#options = {
      ...(env.JANUS_BIN ? { janusBin: env.JANUS_BIN } : {}),
      ...(env.JANUS_HTTP_PORT ? { httpPort: Number(env.JANUS_HTTP_PORT) } : {}),
      ...(env.FOCI_JANUS_DEBUG_LEVEL ? { debugLevel: Number(env.FOCI_JANUS_DEBUG_LEVEL) } : {}),
      ...(env.FOCI_JANUS_EVENT_LOOPS ? { eventLoops: Number(env.FOCI_JANUS_EVENT_LOOPS) } : {}),
      ...(env.FOCI_JANUS_LOG ? { keepLog: env.FOCI_JANUS_LOG } : {}),
      ...(env.FOCI_JANUS_ICE_LITE ? { iceLite: env.FOCI_JANUS_ICE_LITE !== '0' } : {}),
      ...options,
    };
  }

  /** Janus's version as its API reports it (e.g. "1.1.2"), once started. */
  version: string | undefined;

  /** Base URL of the Janus API, e.g. http://127.0.0.1:8088/janus. */
  get url(): string {
    if (!this.#baseUrl) throw new Error('janus is not started');
    return this.#baseUrl;
  }

  async start(options: { cpus?: string } = {}): Promise<void> {
    if (this.#process) throw new Error('janus is already started');
    const libDir = findJanusLibDir();
    const shim = await ensureLoopbackShim();
    const dir = await mkdtemp(join(tmpdir(), 'foci-janus-'));
    this.#dir = dir;
    const httpPort = this.#options.httpPort ?? (await freePort());
    writeJanusConfig({
      httpPort,
      libDir,
      configDir: dir,
      rtpPortRange: this.#options.rtpPortRange ?? DEFAULT_RTP_PORT_RANGE,
      debugLevel: this.#options.debugLevel ?? 3,
      iceLite: this.#options.iceLite ?? true,
      eventLoops: this.#options.eventLoops ?? (options.cpus ? cpuCount(options.cpus) : availableParallelism()),
    });
    const log = await open(join(dir, 'janus.log'), 'w');
    const janus = this.#options.janusBin ?? 'janus';
    const args = ['-F', dir, '-C', join(dir, 'janus.jcfg')];
    // taskset execs janus, so the child's pid is janus's own.
    const [command, ...argv] = options.cpus ? ['taskset', '-c', options.cpus, janus, ...args] : [janus, ...args];
    const preload = [shim, process.env.LD_PRELOAD].filter(Boolean).join(' ');
    const child = spawn(command!, argv, { stdio: ['ignore', log.fd, log.fd], env: { ...process.env, LD_PRELOAD: preload } });
    await log.close();
    this.#process = child;
    let exitInfo: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
      child.once('error', (error) => {
        exitInfo = error.message;
        resolve();
      });
    });
    // Never leave a janus (or its folder) behind if this process exits without stop().
    this.#onExit = () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', this.#onExit);
    this.#baseUrl = `http://127.0.0.1:${httpPort}/janus`;
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined) {
        const tail = await this.#logTail();
        await this.stop();
        throw new Error(`janus exited during startup (${exitInfo}):\n${tail}`);
      }
      try {
        const response = await fetch(`${this.#baseUrl}/info`, { signal: AbortSignal.timeout(1000) });
        const info = (await response.json()) as JanusMessage;
        if (info.janus === 'server_info') {
          this.version = typeof info.version_string === 'string' ? info.version_string : undefined;
          return;
        }
      } catch {
        // not listening yet
      }
      if (performance.now() > deadline) {
        const tail = await this.#logTail();
        await this.stop();
        throw new Error(`janus did not answer on ${this.#baseUrl}/info within ${START_TIMEOUT_MS / 1000} s:\n${tail}`);
      }
      await sleep(50);
    }
  }

  async #logTail(lines = 40): Promise<string> {
    if (!this.#dir) return '';
    const text = await readFile(join(this.#dir, 'janus.log'), 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  async connect(): Promise<LoadClient> {
    const session = await JanusSession.create(this.url);
    const client = new JanusClient(this, session);
    this.#clients.add(client);
    return client;
  }

  pids(): number[] {
    return this.#process?.pid !== undefined && this.#process.exitCode === null ? [this.#process.pid] : [];
  }

  mediaPids(): number[] {
    return this.pids();
  }

  async stop(): Promise<void> {
    for (const client of this.#clients) client.close();
    this.#clients.clear();
    const child = this.#process;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = await Promise.race([this.#exited!.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await this.#exited;
      }
    }
    if (this.#onExit) process.removeListener('exit', this.#onExit);
    this.#onExit = undefined;
    this.#process = undefined;
    if (this.#dir) {
      if (this.#options.keepLog) await copyFile(join(this.#dir, 'janus.log'), this.#options.keepLog).catch(() => undefined);
      await rm(this.#dir, { recursive: true, force: true });
      this.#dir = undefined;
    }
    this.#rooms.clear();
    this.#feeds.clear();
    this.#feedWaiters.clear();
  }

  // --- bookkeeping shared by this process's clients -------------------------------

  /** The room for a callId, created (with the caller's handle) on first use. */
  room(callId: string, create: (room: number) => Promise<void>): Promise<number> {
    let room = this.#rooms.get(callId);
    if (!room) {
      const id = this.#nextRoom++;
      room = create(id).then(() => id);
      this.#rooms.set(callId, room);
      room.catch(() => this.#rooms.delete(callId));
    }
    return room;
  }

  addFeed(key: StreamKey, feed: Feed): void {
    const k = keyString(key);
    this.#feeds.set(k, feed);
    for (const resolve of this.#feedWaiters.get(k) ?? []) resolve(feed);
    this.#feedWaiters.delete(k);
  }

  removeFeed(key: StreamKey, feed: Feed): void {
    const k = keyString(key);
    if (this.#feeds.get(k)?.feed === feed.feed) this.#feeds.delete(k);
  }

  /** The feed publishing `key`, waiting (up to the request timeout) for a publish in flight. */
  feed(key: StreamKey): Promise<Feed> {
    const k = keyString(key);
    const known = this.#feeds.get(k);
    if (known) return Promise.resolve(known);
    const waiting = new Promise<Feed>((resolve) => {
      const list = this.#feedWaiters.get(k) ?? [];
      list.push(resolve);
      this.#feedWaiters.set(k, list);
    });
    return withTimeout(waiting, `nothing publishes ${key.deviceId}/${key.purpose} in ${key.callId}`);
  }

  forget(client: JanusClient): void {
    this.#clients.delete(client);
  }
}

// --- Janus API over HTTP ------------------------------------------------------------

let transactions = 0;
function transaction(): string {
  return `t${++transactions}`;
}

async function post(url: string, body: Json): Promise<JanusMessage> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new BenchError(`http_${response.status}`, `${url}: ${response.statusText}`);
  return (await response.json()) as JanusMessage;
}

function janusError(message: JanusMessage): BenchError | undefined {
  if (message.janus === 'error') return new BenchError(`janus_${message.error?.code ?? 0}`, message.error?.reason ?? 'error');
  const data = message.plugindata?.data;
  if (data && data.error_code !== undefined) return new BenchError(`videoroom_${String(data.error_code)}`, String(data.error));
  return undefined;
}

interface PendingRequest {
  resolve: (message: JanusMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** One Janus session: requests, and a long poll that delivers events. */
class JanusSession {
  readonly id: number;
  readonly #url: string;
  readonly #pending = new Map<string, PendingRequest>();
  /** Events that answer no request of ours, by handle. */
  readonly #handlers = new Map<number, (event: JanusMessage) => void>();
  readonly #abort = new AbortController();
  closed = false;

  private constructor(baseUrl: string, id: number) {
    this.id = id;
    this.#url = `${baseUrl}/${id}`;
    void this.#poll();
  }

  static async create(baseUrl: string): Promise<JanusSession> {
    const reply = await post(baseUrl, { janus: 'create', transaction: transaction() });
    const error = janusError(reply);
    if (error || typeof reply.data?.id !== 'number') throw error ?? new BenchError('janus_create', JSON.stringify(reply));
    return new JanusSession(baseUrl, reply.data.id);
  }

  async attach(onEvent: (event: JanusMessage) => void): Promise<number> {
    const reply = await this.#post(this.#url, { janus: 'attach', plugin: 'janus.plugin.videoroom' });
    const handle = reply.data?.id;
    if (typeof handle !== 'number') throw new BenchError('janus_attach', JSON.stringify(reply));
    this.#handlers.set(handle, onEvent);
    return handle;
  }

  detach(handle: number): void {
    this.#handlers.delete(handle);
    if (!this.closed) this.#post(`${this.#url}/${handle}`, { janus: 'detach' }).catch(() => undefined);
  }

  /** A synchronous request (Janus answers in the HTTP response). */
  async #post(url: string, body: Json): Promise<JanusMessage> {
    if (this.closed) throw new BenchError('session_closed', `janus session ${this.id}`);
    const reply = await post(url, { ...body, transaction: transaction() });
    const error = janusError(reply);
    if (error) throw error;
    return reply;
  }

  /**
   * A plugin request: resolves with the plugin's reply, which comes either in
   * the HTTP response (synchronous requests such as `create`) or, after an
   * `ack`, as an event on the long poll (join, configure, start, …).
   */
  message(handle: number, body: Json, jsep?: Jsep): Promise<JanusMessage> {
    if (this.closed) return Promise.reject(new BenchError('session_closed', `janus session ${this.id}`));
    const tx = transaction();
    return new Promise<JanusMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(tx);
        reject(new BenchError('timeout', `no reply to ${String(body.request)} (${tx})`));
      }, REQUEST_TIMEOUT_MS);
      // Registered first: the event can beat the HTTP response.
      this.#pending.set(tx, { resolve, reject, timer });
      post(`${this.#url}/${handle}`, { janus: 'message', transaction: tx, body, ...(jsep ? { jsep } : {}) }).then(
        (reply) => {
          if (reply.janus !== 'ack') this.#settle(reply);
        },
        (error: Error) => this.#settle({ janus: 'error', transaction: tx, error: { code: 0, reason: error.message } }),
      );
    });
  }

  #settle(message: JanusMessage): boolean {
    const pending = message.transaction !== undefined ? this.#pending.get(message.transaction) : undefined;
    if (!pending) return false;
    this.#pending.delete(message.transaction!);
    clearTimeout(pending.timer);
    const error = janusError(message);
    if (error) pending.reject(error);
    else pending.resolve(message);
    return true;
  }

  async #poll(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let events: JanusMessage[];
      try {
        const response = await fetch(`${this.#url}?maxev=${MAX_EVENTS}&rid=${Date.now()}`, { signal: this.#abort.signal });
        const body = (await response.json()) as JanusMessage | JanusMessage[];
        events = Array.isArray(body) ? body : [body];
        failures = 0;
      } catch {
        if (this.closed) return;
        // Janus gone (stopped or crashed): give up after about 5 s.
        if (++failures >= 50) return this.#close('janus_unreachable');
        await sleep(100);
        continue;
      }
      for (const event of events) {
        if (event.janus === 'keepalive' || event.janus === 'ack') continue;
        if (event.janus === 'error' && event.error?.code === 458) {
          // No such session (timed out or destroyed).
          this.#close('session_gone');
          return;
        }
        // A plugin reply to a request of ours (an `event` carrying its transaction).
        if (event.janus === 'event' && this.#settle(event)) continue;
        if (event.sender !== undefined) this.#handlers.get(event.sender)?.(event);
      }
    }
  }

  #close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#abort.abort();
    for (const [tx, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new BenchError('session_closed', reason));
      this.#pending.delete(tx);
    }
  }

  destroy(): void {
    if (this.closed) return;
    post(this.#url, { janus: 'destroy', transaction: transaction() }).catch(() => undefined);
    this.#close('client_closed');
  }
}

// --- the load client ------------------------------------------------------------------

let clientCount = 0;

/** What one publish() made: its handle and PeerConnection. */
interface PublisherHandle {
  key: StreamKey;
  feed: Feed | undefined;
  handle: number | undefined;
  pc: PeerConnection;
  tracks: Track[];
}

export class JanusClient implements LoadClient {
  readonly #target: JanusTarget;
  readonly #session: JanusSession;
  readonly #serial = ++clientCount;
  #nextSsrc: number;
  #nextPc = 1;
  readonly #publishers: PublisherHandle[] = [];
  /** Subscriber handle by room (created on the first subscription there). */
  readonly #subscribers = new Map<number, Promise<SubscriberHandle>>();
  #closed = false;

  constructor(target: JanusTarget, session: JanusSession) {
    this.#target = target;
    this.#session = session;
    this.#nextSsrc = 0x20000000 + this.#serial * 0x100;
  }

  #peerConnection(role: string): PeerConnection {
    return new PeerConnection(`janus-${this.#serial}-${role}-${this.#nextPc++}`, {
      iceServers: [],
      bindAddress: '127.0.0.1',
      // Negotiation is driven by the Janus API only.
      disableAutoNegotiation: true,
      forceMediaTransport: true,
    });
  }

  /** A VideoRoom publisher: its own handle and PeerConnection, sendonly Opus and/or VP8 with fixed SSRCs. */
  async publish(key: StreamKey, kinds: { audio: boolean; video: boolean }): Promise<Publication> {
    if (this.#closed) throw new BenchError('session_closed', 'client closed');
    const pc = this.#peerConnection('pub');
    const publisher: PublisherHandle = { key, feed: undefined, handle: undefined, pc, tracks: [] };
    this.#publishers.push(publisher);
    const publication: Publication = { key };
    const cname = `janus-bench-${this.#serial}`;
    if (kinds.audio) publication.audio = this.#addSendTrack(publisher, 'audio', cname);
    if (kinds.video) publication.video = this.#addSendTrack(publisher, 'video', cname);
    try {
      const handle = await this.#session.attach(() => undefined);
      publisher.handle = handle;
      const room = await this.#target.room(key.callId, async (id) => {
        try {
          await this.#session.message(handle, {
            request: 'create',
            room: id,
            description: key.callId.slice(0, 100),
            publishers: 1000,
            audiocodec: 'opus',
            videocodec: 'vp8',
            bitrate: 0,
            notify_joining: false,
            // No transport-cc on any target: see bench/transport-cc.ts.
            transport_wide_cc_ext: false,
          });
        } catch (error) {
          if (!(error instanceof BenchError && error.code === 'videoroom_427')) throw error; // 427: exists
        }
      });
      pc.setLocalDescription('offer');
      const offer = await localSdp(pc);
      const reply = await this.#session.message(
        handle,
        { request: 'joinandconfigure', ptype: 'publisher', room, display: `${key.deviceId}|${key.purpose}` },
        { type: 'offer', sdp: offer },
      );
      const data = reply.plugindata?.data ?? {};
      if (typeof data.id !== 'number' || reply.jsep?.type !== 'answer') throw new BenchError('janus_publish', `unexpected reply: ${JSON.stringify(data)}`);
      pc.setRemoteDescription(reply.jsep.sdp, 'answer');
      await Promise.all(publisher.tracks.map((t) => waitOpen(t)));
      publisher.feed = { room, feed: data.id };
      this.#target.addFeed(key, publisher.feed);
      return publication;
    } catch (error) {
      this.#closePublisher(publisher);
      throw error;
    }
  }

  #addSendTrack(publisher: PublisherHandle, kind: 'audio' | 'video', cname: string): SendTrack {
    // Janus asks for a key frame (PLI) when a subscriber's PeerConnection comes up.
    const { track, handle } = addSendTrack(publisher.pc, { kind, mid: kind === 'audio' ? 'a' : 'v', ssrc: this.#nextSsrc++, cname, streamId: `${cname}-stream` });
    publisher.tracks.push(track);
    return handle;
  }

  /**
   * Subscribes to a published key. Resolves once Janus has the answer
   * (`started`), the tracks are open and, for a new PeerConnection, Janus
   * reported it up (`webrtcup`): media flows from then on.
   */
  async subscribe(key: StreamKey, options: { onPacket?: (p: ReceivedPacket) => void } = {}): Promise<Subscription> {
    // Janus answers "No such feed" (428) until a new publisher's media is up; under load that takes a while.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#subscribeOnce(key, options);
      } catch (error) {
        if (attempt >= 50 || !/videoroom_428/.test((error as Error).message)) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async #subscribeOnce(key: StreamKey, options: { onPacket?: (p: ReceivedPacket) => void }): Promise<Subscription> {
    if (this.#closed) throw new BenchError('session_closed', 'client closed');
    const feed = await this.#target.feed(key);
    let subscriber = this.#subscribers.get(feed.room);
    if (!subscriber) {
      const created = SubscriberHandle.create(this.#session, feed.room, this.#peerConnection('sub'));
      this.#subscribers.set(feed.room, created);
      created.then(
        (handle) => (handle.onClosed = () => this.#subscribers.get(feed.room) === created && this.#subscribers.delete(feed.room)),
        () => this.#subscribers.delete(feed.room),
      );
      subscriber = created;
    }
    return (await subscriber).add(feed.feed, key, options.onPacket);
  }

  #closePublisher(publisher: PublisherHandle): void {
    if (publisher.feed) this.#target.removeFeed(publisher.key, publisher.feed);
    if (publisher.handle !== undefined) this.#session.detach(publisher.handle);
    closePeer(publisher.pc, publisher.tracks);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Destroying the session first: Janus drops its handles with it, so none is detached one by one.
    this.#session.destroy();
    for (const p of this.#publishers) this.#closePublisher(p);
    for (const s of this.#subscribers.values()) s.then((h) => h.close(), () => undefined);
    this.#target.forget(this);
  }
}

/** Runs tasks one after another. */
class Lock {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

interface SubscriptionWaiter {
  feed: number;
  key: StreamKey;
  onPacket: Subscription['onPacket'];
  resolve: (subscription: Subscription) => void;
  reject: (error: Error) => void;
}

/**
 * A client's subscriber handle in one room: one PeerConnection, all the
 * feeds it subscribes to as m-sections. Every offer Janus sends on it
 * (answers to join/subscribe, or its own renegotiations) is answered with a
 * `start` request.
 */
class SubscriberHandle {
  readonly #session: JanusSession;
  readonly #room: number;
  readonly #pc: PeerConnection;
  #handle = 0;
  #joined = false;
  readonly #lock = new Lock();
  /** Offers are answered one at a time, in arrival order. */
  readonly #offers = new Lock();
  readonly #tracks = new Map<string, Track>();
  readonly #retired: Track[] = [];
  readonly #trackWaiters = new Map<string, { resolve: (track: Track) => void; reject: (error: Error) => void }>();
  readonly #receivers = new Map<string, { track: RecvTrack; subscription: Subscription }>();
  readonly #waiters: SubscriptionWaiter[] = [];
  #webrtcUp: () => void = () => undefined;
  readonly #up: Promise<void>;
  #closed = false;
  /** Called once when the handle closes (Janus hung up, or the client closed). */
  onClosed: (() => void) | undefined;

  private constructor(session: JanusSession, room: number, pc: PeerConnection) {
    this.#session = session;
    this.#room = room;
    this.#pc = pc;
    this.#up = new Promise((resolve) => (this.#webrtcUp = resolve));
    pc.onTrack((remote) => {
      const track = retain(remote);
      const mid = track.mid();
      this.#tracks.set(mid, track);
      this.#wireRemoteTrack(mid, track);
      this.#trackWaiters.get(mid)?.resolve(track);
      this.#trackWaiters.delete(mid);
    });
  }

  static async create(session: JanusSession, room: number, pc: PeerConnection): Promise<SubscriberHandle> {
    const subscriber = new SubscriberHandle(session, room, pc);
    try {
      subscriber.#handle = await session.attach((event) => subscriber.#onEvent(event));
    } catch (error) {
      subscriber.close();
      throw error;
    }
    return subscriber;
  }

  #onEvent(event: JanusMessage): void {
    if (event.janus === 'webrtcup') this.#webrtcUp();
    else if (event.janus === 'hangup') this.close();
    else if (event.jsep?.type === 'offer') this.#answer(event).catch((e: Error) => console.error(`[janus bench] answering a renegotiation failed: ${e.message}`));
  }

  add(feed: number, key: StreamKey, onPacket: Subscription['onPacket']): Promise<Subscription> {
    return this.#lock.run(async () => {
      if (this.#closed) throw new BenchError('session_closed', 'subscriber closed');
      let waiter!: SubscriptionWaiter;
      const subscription = new Promise<Subscription>((resolve, reject) => {
        waiter = { feed, key, onPacket, resolve, reject };
        this.#waiters.push(waiter);
      });
      subscription.catch(() => undefined); // rejected by close() before it is awaited: not unhandled
      const first = !this.#joined;
      const request = first ? { request: 'join', ptype: 'subscriber', room: this.#room, streams: [{ feed }] } : { request: 'subscribe', streams: [{ feed }] };
      try {
        this.#joined = true;
        const reply = await this.#session.message(this.#handle, request);
        // Without an offer ("updating"), Janus renegotiates later on its own: #onEvent answers that.
        if (reply.jsep?.type === 'offer') await this.#answer(reply);
        const result = await withTimeout(subscription, `janus sent no offer for feed ${feed}`);
        await Promise.all(result.mids.map((mid) => this.#trackFor(mid).then((t) => waitOpen(t))));
        if (first) await withTimeout(this.#up, 'janus did not report the subscriber PeerConnection up');
        return result;
      } catch (error) {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        if (first && !this.#pc.remoteDescription()) this.#joined = false;
        throw error;
      }
    });
  }

  /** Answers an offer and sends the answer with `start`; waiting subscriptions whose feed it carries are settled. */
  #answer(event: JanusMessage): Promise<void> {
    return this.#offers.run(async () => {
      if (this.#closed) return;
      const sdp = event.jsep!.sdp;
      const streams = (event.plugindata?.data.streams as Json[] | undefined) ?? [];
      this.#dropClosedTracks(sdp);
      // Receivers exist before the answer leaves, so no early packet goes uncounted.
      const sections = sdpTransform.parse(sdp).media;
      const settled: { waiter: SubscriptionWaiter; subscription: Subscription }[] = [];
      for (const waiter of [...this.#waiters]) {
        const mids = streams
          .filter((s) => s.feed_id === waiter.feed && s.active !== false && (s.type === 'audio' || s.type === 'video'))
          .map((s) => String(s.mid))
          .filter((mid) => !this.#receivers.has(mid));
        if (mids.length === 0) continue;
        const subscription: Subscription = { key: waiter.key, streamId: String(waiter.feed), mids, tracks: [], onPacket: waiter.onPacket };
        for (const mid of mids) {
          const m = sections.find((s) => String(s.mid) === mid);
          if (!m || (m.type !== 'audio' && m.type !== 'video')) continue;
          const fid = m.ssrcGroups?.find((g) => g.semantics === 'FID')?.ssrcs.split(' ').map(Number);
          const ssrc = fid?.[0] ?? Number(m.ssrcs?.[0]?.id ?? 0);
          const track: RecvTrack = { mid, kind: m.type, ssrc, rtxSsrc: fid?.[1], packets: 0, bytes: 0, rtxPackets: 0 };
          subscription.tracks.push(track);
          this.#receivers.set(mid, { track, subscription });
        }
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        settled.push({ waiter, subscription });
      }
      // A new PeerConnection: libjuice sends its DTLS ClientHello as soon as
      // its first check succeeds, before it nominates the pair; Janus (ICE
      // Lite, libnice) only starts DTLS once the pair is nominated and drops
      // that ClientHello, so the handshake waited for the 1 s DTLS
      // retransmission. Reading Janus's `actpass` as `active` makes us the
      // DTLS server and Janus the client, as on the publisher side (Janus
      // answers `active` there). And Janus's candidates are held back until
      // Janus has our answer, so ICE starts only once Janus knows us.
      const first = !this.#pc.remoteDescription();
      const { sdp: offer, candidates } = first ? takeCandidates(sdp.replace(/a=setup:actpass/g, 'a=setup:active')) : { sdp, candidates: [] };
      this.#pc.setRemoteDescription(offer, 'offer');
      this.#pc.setLocalDescription('answer');
      try {
        const answer = await localSdp(this.#pc);
        await this.#session.message(this.#handle, { request: 'start' }, { type: 'answer', sdp: answer });
        for (const c of candidates) this.#pc.addRemoteCandidate(c.candidate, c.mid);
      } catch (error) {
        for (const { waiter } of settled) waiter.reject(error as Error);
        throw error;
      }
      for (const { waiter, subscription } of settled) waiter.resolve(subscription);
    });
  }

  /** As BenchClient: releases our Track of every section Janus closed (port 0) or dropped, so the answer rejects it too. */
  #dropClosedTracks(sdp: string): void {
    const offered = sdpTransform.parse(sdp).media;
    const closed = new Set(offered.filter((m) => m.port === 0).map((m) => String(m.mid)));
    const present = new Set(offered.map((m) => String(m.mid)));
    const previous = sdpTransform.parse(this.#pc.remoteDescription()?.sdp ?? '').media ?? [];
    for (const m of previous) if (!present.has(String(m.mid))) closed.add(String(m.mid));
    for (const mid of closed) {
      const track = this.#tracks.get(mid);
      if (!track) continue;
      track.close();
      this.#retired.push(track);
      this.#tracks.delete(mid);
      this.#receivers.delete(mid);
    }
  }

  #wireRemoteTrack(mid: string, track: Track): void {
    countOnTrack(track, () => this.#receivers.get(mid));
  }

  #trackFor(mid: string): Promise<Track> {
    const known = this.#tracks.get(mid);
    if (known) return Promise.resolve(known);
    if (this.#closed) return Promise.reject(new BenchError('session_closed', 'subscriber closed'));
    return withTimeout(new Promise<Track>((resolve, reject) => this.#trackWaiters.set(mid, { resolve, reject })), `no track for mid ${mid}`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new BenchError('session_closed', 'subscriber closed');
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closed);
    for (const waiter of this.#trackWaiters.values()) waiter.reject(closed);
    this.#trackWaiters.clear();
    if (this.#handle) this.#session.detach(this.#handle);
    closePeer(this.#pc, [...this.#tracks.values(), ...this.#retired]);
    this.onClosed?.();
  }
}

// --- helpers ------------------------------------------------------------------------

/** The local description once ICE gathering is complete (Janus is half-trickle: candidates go in the SDP). */
async function localSdp(pc: PeerConnection): Promise<string> {
  const deadline = performance.now() + 5_000;
  while (pc.gatheringState() !== 'complete' && performance.now() < deadline) await sleep(2);
  const description = pc.localDescription();
  if (!description) throw new BenchError('no_description', 'no local description');
  return description.sdp;
}

/** Removes the ICE candidates (and end-of-candidates) from an SDP, returning them with their section's mid. */
function takeCandidates(sdp: string): { sdp: string; candidates: { candidate: string; mid: string }[] } {
  const candidates: { candidate: string; mid: string }[] = [];
  const kept: string[] = [];
  // Sections: the session part, then one per m= line.
  const sections: string[][] = [[]];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1]!.push(line);
  }
  for (const lines of sections) {
    const mid = lines.find((l) => l.startsWith('a=mid:'))?.slice(6).trim() ?? '';
    for (const line of lines) {
      if (line.startsWith('a=candidate:')) candidates.push({ candidate: line.slice(2), mid });
      else if (line !== 'a=end-of-candidates') kept.push(line);
    }
  }
  return { sdp: kept.join('\r\n'), candidates };
}

function closePeer(pc: PeerConnection, tracks: Track[]): void {
  for (const track of tracks) {
    try {
      track.close();
    } catch {
      // already closed with the connection
    }
  }
  try {
    pc.close();
  } catch {
    // already closed
  }
}

/**
 * The node-datachannel 0.33.4 workaround BenchClient documents (retain() in
 * bench/client.ts): every Track gets an onClosed handler, and stays
 * referenced until its PeerConnection is closed, or cleanup() segfaults.
 */
function retain<T extends Track>(track: T): T {
  track.onClosed(() => undefined);
  return track;
}

function waitOpen(track: Track): Promise<void> {
  if (track.isOpen()) return Promise.resolve();
  const mid = track.mid();
  let poll: NodeJS.Timeout | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    track.onOpen(() => resolve());
    track.onError((e) => reject(new BenchError('track_error', e)));
    // The open event can fire before onOpen is registered; polling covers
    // that, and a close (a destroyed track throws on every call).
    poll = setInterval(() => {
      let state: 'open' | 'closed' | 'pending';
      try {
        state = track.isOpen() ? 'open' : track.isClosed() ? 'closed' : 'pending';
      } catch {
        state = 'closed';
      }
      if (state === 'open') resolve();
      else if (state === 'closed') reject(new BenchError('session_closed', `track ${mid} closed`));
    }, 10);
  });
  return withTimeout(opened, `track ${mid} did not open`).finally(() => clearInterval(poll));
}

function withTimeout<T>(promise: Promise<T>, message: string, ms = REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchError('timeout', message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPUs in a taskset list ("0", "0-3", "0,2-3"). */
function cpuCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return Math.max(1, n);
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
