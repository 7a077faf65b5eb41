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
  readonly name: 'foci' | 'janus' | 'mediasoup' | 'mediasoup-webrtc' | 'p2p';
  /** Starts the SFU on loopback, pinned to `cpus` when given (taskset list, e.g. "0"). */
  start(options: { cpus?: string }): Promise<void>;
  /** Scenarios this target cannot run, with the reason printed in their place. */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** A connected client; for Foci this includes POST /createSession and the channel. */
  connect(): Promise<LoadClient>;
  /** Processes whose CPU time and memory are the SFU's (Foci: main + workers; Janus: janus). */
  pids(): number[];
  /** Worker processes only (memory per consumer is read from these). */
  mediaPids(): number[];
  /** Sessions the SFU has closed so far, by its reason (where it says). */
  closedSessions?(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}
