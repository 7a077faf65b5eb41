// One measurement window: what was sent, what arrived, and what the SFU and
// the load spent meanwhile.
//
// How loss is made exact. Every packet carries its send time (the probe of
// bench/media.ts, written into the packet just before it is sent). A window
// is a send-time interval [from, to): the sender side counts the packets it
// sent whose probe falls in it, the receivers count the packets that arrived
// whose probe falls in it. Both counters therefore count the same packets,
// whatever was in flight at either edge; after `to`, media keeps flowing and
// we wait a drain (default 500 ms) for the window's last packets to arrive
// before reading. A packet later than the drain counts as lost, as it would
// be for a real-time receiver. Loss is 1 − received / (sent × fan-out), not
// clipped: below zero means a packet was counted twice, which is a bug.
// Retransmissions (RTX) are not counted: they would be the same packets again.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Publication, ReceivedPacket, SendTrack } from './client.ts';
import { nowEpochMs, readProbe } from './media.ts';
import { allowedCpus, cpuBetween, cpuSample, udpDrops } from './measure.ts';
import { isLoadBound, signedLoss } from './stats.ts';
import type { SfuTarget } from './target.ts';

/** Counts sent and received packets by the send time their probe carries. */
export class ProbeWindow {
  #from = Number.POSITIVE_INFINITY;
  #to = Number.POSITIVE_INFINITY;
  sent = 0;
  received = 0;

  #inWindow(packet: Uint8Array): boolean {
    const at = readProbe(packet);
    return at !== undefined && at >= this.#from && at < this.#to;
  }

  /** Starts counting packets sent from `at` (epoch ms) on; resets both counters. */
  open(at: number): void {
    this.#from = at;
    this.#to = Number.POSITIVE_INFINITY;
    this.sent = 0;
    this.received = 0;
  }

  /** Stops counting packets sent from `at` on; those sent before still count when they arrive. */
  close(at: number): void {
    this.#to = at;
  }

  /** For the sending side: one packet the transport accepted. */
  countSent(packet: Uint8Array): void {
    if (this.#inWindow(packet)) this.sent++;
  }

  /** For a subscription's onPacket. */
  readonly countReceived = (p: Pick<ReceivedPacket, 'packet'> & { rtx?: boolean }): void => {
    if (!p.rtx && this.#inWindow(p.packet)) this.received++;
  };
}

/** The publication with every accepted packet counted into `window`. */
export function counted(publication: Publication, window: ProbeWindow): Publication {
  const wrap = (track: SendTrack | undefined): SendTrack | undefined =>
    track && {
      ...track,
      send: (packet: Uint8Array) => {
        const ok = track.send(packet);
        if (ok) window.countSent(packet);
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
  return wrapped;
}

/** Raw counts and times of a window, saved with every row so it can be rechecked. */
export interface Window {
  seconds: number;
  sent: number;
  received: number;
  /** sent × the number of subscribers each packet goes to. */
  expected: number;
  sfuCpuUs: number;
  sfuUserUs: number;
  sfuSystemUs: number;
  /** The part of sfuCpuUs spent in media processes (Foci: the workers, not Node's main thread). */
  mediaCpuUs: number;
  loadCpuUs: number;
  loadMainThreadUs: number;
  /** CPUs the load may run on. */
  loadCpus: number;
  /** Datagrams dropped at full receive buffers: the SFU's sockets, and the load's. */
  sfuDrops: number;
  loadDrops: number;
}

export async function measureWindow(target: SfuTarget, seconds: number, window: ProbeWindow, fanout: () => number, drainMs = 500): Promise<Window> {
  const pids = target.pids();
  const mediaPids = target.mediaPids();
  const loadPids = [process.pid];
  const start = { cpu: cpuSample(pids), media: cpuSample(mediaPids), load: cpuSample(loadPids), sfuDrops: udpDrops(pids), loadDrops: udpDrops(loadPids) };
  const from = nowEpochMs();
  window.open(from);
  await sleep(seconds * 1000);
  const to = nowEpochMs();
  window.close(to);
  const cpu = cpuBetween(start.cpu, cpuSample(pids));
  const media = cpuBetween(start.media, cpuSample(mediaPids));
  const load = cpuBetween(start.load, cpuSample(loadPids));
  const sfuDrops = udpDrops(pids) - start.sfuDrops;
  const loadDrops = udpDrops(loadPids) - start.loadDrops;
  await sleep(drainMs);
  return {
    seconds: (to - from) / 1000,
    sent: window.sent,
    received: window.received,
    expected: window.sent * fanout(),
    sfuCpuUs: cpu.us,
    sfuUserUs: cpu.userUs,
    sfuSystemUs: cpu.systemUs,
    mediaCpuUs: media.us,
    loadCpuUs: load.us,
    loadMainThreadUs: load.mainThreadUs,
    loadCpus: allowedCpus(),
    sfuDrops,
    loadDrops,
  };
}

export type WindowFigures = {
  sent: number;
  received: number;
  expected: number;
  seconds: number;
  forwardedPps: number;
  lossPct: number;
  sfuCpuPct: number;
  sfuUserPct: number;
  sfuSystemPct: number;
  sfuUsPerPacket: number;
  mediaCpuPct: number;
  /** The load's CPU as a share of the cores it may use, and its JavaScript thread's share of one core. */
  loadCpuPct: number;
  loadMainThreadPct: number;
  sfuDrops: number;
  loadDrops: number;
  loadBound: boolean;
};

const pct = (us: number, seconds: number) => +((us / (seconds * 1e6)) * 100).toFixed(1);

export function windowRow(w: Window): WindowFigures {
  const loss = signedLoss(w.expected, w.received);
  const loadCpuPct = pct(w.loadCpuUs / w.loadCpus, w.seconds);
  const loadMainThreadPct = pct(w.loadMainThreadUs, w.seconds);
  return {
    sent: w.sent,
    received: w.received,
    expected: w.expected,
    seconds: +w.seconds.toFixed(3),
    forwardedPps: Math.round(w.received / w.seconds),
    lossPct: +(loss * 100).toFixed(3),
    sfuCpuPct: pct(w.sfuCpuUs, w.seconds),
    sfuUserPct: pct(w.sfuUserUs, w.seconds),
    sfuSystemPct: pct(w.sfuSystemUs, w.seconds),
    sfuUsPerPacket: w.received > 0 ? +(w.sfuCpuUs / w.received).toFixed(2) : 0,
    mediaCpuPct: pct(w.mediaCpuUs, w.seconds),
    loadCpuPct,
    loadMainThreadPct,
    sfuDrops: w.sfuDrops,
    loadDrops: w.loadDrops,
    loadBound: isLoadBound({ loadMainThreadCore: loadMainThreadPct / 100, loadCoreShare: loadCpuPct / 100, loadDrops: w.loadDrops }),
  };
}
