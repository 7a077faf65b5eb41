// A light call member for tests with many members: a bench client
// (node-datachannel, bench/client.ts) that publishes real, decodable media at
// low rates (a looped 160x90 VP8 clip at 5 fps and Opus silence, bench/clip.ts)
// and counts what it receives.
import { BenchClient, type Publication, type StreamKey, type Subscription } from '../../bench/client.ts';
import { CLIP_160X90, readIvf, sendOpusSilence, sendVp8Clip, type Vp8Clip } from '../../bench/clip.ts';
import type { StreamStats } from '../../bench/media.ts';

let clip: Vp8Clip | undefined;

export class LightMember {
  readonly client: BenchClient;
  readonly key: StreamKey;
  publication: Publication | undefined;
  readonly subscriptions = new Map<string, Subscription>();
  readonly #stop = new AbortController();
  #senders: Promise<StreamStats>[] = [];

  private constructor(client: BenchClient, key: StreamKey) {
    this.client = client;
    this.key = key;
  }

  static async join(url: string, key: StreamKey): Promise<LightMember> {
    return new LightMember(await BenchClient.connect(url, { bindAddress: '127.0.0.1' }), key);
  }

  /** Publishes audio + video under its key and starts sending the clip and silence. */
  async publish(options: { fps?: number; audioIntervalMs?: number } = {}): Promise<void> {
    clip ??= readIvf(CLIP_160X90);
    this.publication = await this.client.publish(this.key, { audio: true, video: true });
    const signal = this.#stop.signal;
    this.#senders = [
      sendVp8Clip(this.publication.video!, clip, { signal, ...(options.fps ? { fps: options.fps } : {}) }),
      sendOpusSilence(this.publication.audio!, { signal, ...(options.audioIntervalMs ? { intervalMs: options.audioIntervalMs } : {}) }),
    ];
  }

  async subscribe(key: StreamKey): Promise<Subscription> {
    const subscription = await this.client.subscribe(key);
    this.subscriptions.set(JSON.stringify(key), subscription);
    return subscription;
  }

  /** RTP packets (not RTX) received so far on a subscription's tracks of `kind`. */
  packets(key: StreamKey, kind?: 'audio' | 'video'): number {
    const sub = this.subscriptions.get(JSON.stringify(key));
    return (sub?.tracks ?? []).filter((t) => !kind || t.kind === kind).reduce((n, t) => n + t.packets, 0);
  }

  /** Stops sending and closes the connection; resolves with what was sent. */
  async leave(): Promise<StreamStats[]> {
    this.#stop.abort();
    const sent = await Promise.all(this.#senders);
    this.client.close();
    return sent;
  }
}
