// mediasoup workers, each with one WebRtcServer (one UDP and one TCP port:
// edge hosts open few ports) and one router. Sessions go to the least-loaded
// worker; a stream published on one worker reaches subscribers on another
// through pipeToRouter (see Publication.ensureOn).
import { EventEmitter } from 'node:events';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from 'pino';
import { MEDIA_CODECS } from './codecs.ts';
import { SilenceCensus, type CensusOptions } from './silence-census.ts';

export interface WorkerPoolOptions {
  workers: number;
  listenIp: string;
  announcedAddress?: string | undefined;
  /** Worker i listens on basePort + i (UDP and TCP); 0 picks free ports. */
  basePort: number;
  /** SO_SNDBUF/SO_RCVBUF of the shared UDP socket; the kernel's default when absent. */
  udpSocketBufferBytes?: number;
  logLevel?: types.WorkerLogLevel;
  /** When a silence counts as widespread (fast leave then waits for ICE consent). */
  census?: CensusOptions;
}

const DEFAULT_CENSUS: CensusOptions = { quietMs: 1500, minPeers: 3, fraction: 0.1 };


export class MediaWorker extends EventEmitter<{ died: [Error] }> {
  readonly index: number;
  readonly worker: types.Worker;
  readonly webRtcServer: types.WebRtcServer;
  readonly router: types.Router;
  /** Node-side endpoint for the SCTP messages of the sessions on this worker. */
  readonly direct: types.DirectTransport;
  /** A DataProducer that never sends; sessions consume it to get outbound SCTP streams. */
  readonly silentSource: types.DataProducer;
  /** Sessions placed here: the load the pool balances. */
  sessions = 0;
  /** Consumers (forwarded tracks) on this worker, for the capacity limit. */
  consumers = 0;
  /** Which of this worker's peers are quiet: a fast-leave verdict waits while many are. */
  readonly census: SilenceCensus;
  /** Peers whose fast-leave verdict was held back by a widespread silence (a metric). */
  fastLeaveDeferrals = 0;

  private constructor(
    index: number,
    worker: types.Worker,
    webRtcServer: types.WebRtcServer,
    router: types.Router,
    direct: types.DirectTransport,
    silentSource: types.DataProducer,
    census: CensusOptions,
  ) {
    super();
    this.index = index;
    this.worker = worker;
    this.webRtcServer = webRtcServer;
    this.router = router;
    this.direct = direct;
    this.silentSource = silentSource;
    this.census = new SilenceCensus(census);
    worker.on('died', (error) => this.emit('died', error));
  }

  static async start(index: number, options: WorkerPoolOptions): Promise<MediaWorker> {
    const worker = await mediasoup.createWorker({ logLevel: options.logLevel ?? 'warn' });
    try {
      const port = options.basePort === 0 ? undefined : options.basePort + index;
      const listen = (protocol: 'udp' | 'tcp'): types.TransportListenInfo => ({
        protocol,
        ip: options.listenIp,
        ...(options.announcedAddress ? { announcedAddress: options.announcedAddress } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(protocol === 'udp' && options.udpSocketBufferBytes
          ? { recvBufferSize: options.udpSocketBufferBytes, sendBufferSize: options.udpSocketBufferBytes }
          : {}),
      });
      const webRtcServer = await worker.createWebRtcServer({ listenInfos: [listen('udp'), listen('tcp')] });
      const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
      const direct = await router.createDirectTransport();
      const silentSource = await direct.produceData({ label: 'foci-silent' });
      return new MediaWorker(index, worker, webRtcServer, router, direct, silentSource, options.census ?? DEFAULT_CENSUS);
    } catch (error) {
      worker.close();
      throw error;
    }
  }

  get pid(): number {
    return this.worker.pid;
  }

  close(): void {
    this.worker.close();
  }
}

export class WorkerPool {
  readonly #workers: MediaWorker[];
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  #closed = false;

  private constructor(workers: MediaWorker[], options: WorkerPoolOptions, log: Logger) {
    this.#workers = workers;
    this.#options = options;
    this.#log = log;
    for (const w of workers) this.#watch(w);
  }

  static async start(options: WorkerPoolOptions, log: Logger): Promise<WorkerPool> {
    const workers: MediaWorker[] = [];
    try {
      for (let i = 0; i < options.workers; i++) workers.push(await MediaWorker.start(i, options));
    } catch (error) {
      for (const w of workers) w.close();
      throw error;
    }
    log.info({ workers: workers.map((w) => w.pid) }, 'media workers started');
    return new WorkerPool(workers, options, log);
  }

  get workers(): readonly MediaWorker[] {
    return this.#workers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while every worker slot has a live worker. */
  get healthy(): boolean {
    return !this.#closed && this.#workers.every((w) => !w.worker.closed);
  }

  leastLoaded(): MediaWorker {
    const live = this.#workers.filter((w) => !w.worker.closed);
    const best = live.reduce<MediaWorker | undefined>((a, b) => (a === undefined || b.sessions < a.sessions ? b : a), undefined);
    if (!best) throw new Error('no live mediasoup worker');
    return best;
  }

  #watch(w: MediaWorker): void {
    w.once('died', (error) => {
      this.#log.error({ pid: w.pid, err: error }, 'mediasoup worker died; replacing it');
      if (!this.#closed) void this.#replace(w);
    });
  }

  async #replace(dead: MediaWorker): Promise<void> {
    for (let attempt = 1; attempt <= 5 && !this.#closed; attempt++) {
      try {
        const fresh = await MediaWorker.start(dead.index, this.#options);
        if (this.#closed) return fresh.close();
        this.#workers[dead.index] = fresh;
        this.#watch(fresh);
        this.#log.info({ pid: fresh.pid, index: dead.index }, 'mediasoup worker replaced');
        return;
      } catch (error) {
        this.#log.error({ err: error, attempt }, 'could not start a replacement worker');
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.close();
  }
}
