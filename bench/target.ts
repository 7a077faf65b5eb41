// What a benchmark scenario drives: an SFU under test (Foci, or for comparison
// Janus and a bare mediasoup worker) and the load clients that speak its
// signaling. Scenarios only see this interface, so the same load runs against
// each of them in one run.
import type { Publication, StreamKey, Subscription, ReceivedPacket } from './client.ts';

export type { Publication, StreamKey, Subscription, ReceivedPacket };

/** One WebRTC endpoint of the load (one peer connection). */
export interface LoadClient {
  publish(key: StreamKey, media: { audio: boolean; video: boolean }): Promise<Publication>;
  subscribe(key: StreamKey, options?: { onPacket?: (p: ReceivedPacket) => void }): Promise<Subscription>;
  close(): void;
}

export interface SfuTarget {
  readonly name: string;
  /** Starts the SFU on loopback, pinned to `cpus` when given (taskset list, e.g. "0"). */
  start(options: { cpus?: string }): Promise<void>;
  /** Settings that could differ between SFUs (log level, socket buffers), stated with the results. */
  readonly settings?: string;
  /** Scenarios this target cannot run, with the reason printed in their place. */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** A connected client; for Foci this includes POST /createSession and the channel. */
  connect(): Promise<LoadClient>;
  /** Every process of the SFU: CPU time and memory are read from all of them (Foci: main + workers; Janus: janus). */
  pids(): number[];
  /** Worker processes only (their CPU is reported apart as mediaCpuPct). */
  mediaPids(): number[];
  /** Sessions the SFU has closed so far, by its reason (where it says). */
  closedSessions?(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}
