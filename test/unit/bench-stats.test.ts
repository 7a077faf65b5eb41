// The benchmark's arithmetic: nearest-rank percentiles, signed loss, the
// load-bound rule, merging repeated runs and like-for-like ratios.
import { describe, expect, it } from 'vitest';
import { type Row, aggregate, isLoadBound, linearFit, nearestRank, ratiosAtCommonSteps, signedLoss, slopes, spread, summarize, usable } from '../../bench/stats.ts';
import { ProbeWindow } from '../../bench/window.ts';
import { withoutTransportCc } from '../../bench/transport-cc.ts';

/** A packet whose probe says it was sent at `at` (epoch ms), as bench/media.ts writes it. */
function probed(at: number): Buffer {
  const packet = Buffer.alloc(12 + 20);
  packet.writeUInt32BE(0x464f4349, packet.length - 12);
  packet.writeDoubleBE(at, packet.length - 8);
  return packet;
}

describe('bench statistics', () => {
  it('takes percentiles by nearest rank, so p99 of 100 samples is the 99th, not the maximum', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(nearestRank(values, 0.5)).toBe(50);
    expect(nearestRank(values, 0.99)).toBe(99);
    expect(nearestRank(values, 1)).toBe(100);
    expect(nearestRank([7], 0.99)).toBe(7);
    expect(summarize([]).n).toBe(0);
    expect(Number.isNaN(summarize([]).p50)).toBe(true);
  });

  it('keeps loss signed: more received than expected is negative, not zero', () => {
    expect(signedLoss(1000, 990)).toBeCloseTo(0.01);
    expect(signedLoss(1000, 1010)).toBeCloseTo(-0.01);
    expect(signedLoss(0, 0)).toBe(0);
  });

  it('marks a window load-bound above 80 % of a core or at any load drop', () => {
    expect(isLoadBound({ loadMainThreadCore: 0.5, loadCoreShare: 0.5, loadDrops: 0 })).toBe(false);
    expect(isLoadBound({ loadMainThreadCore: 0.81, loadCoreShare: 0.5, loadDrops: 0 })).toBe(true);
    expect(isLoadBound({ loadMainThreadCore: 0.5, loadCoreShare: 0.9, loadDrops: 0 })).toBe(true);
    expect(isLoadBound({ loadMainThreadCore: 0.1, loadCoreShare: 0.1, loadDrops: 3 })).toBe(true);
  });

  it('fits a line by least squares', () => {
    const fit = linearFit([0, 50, 100, 200], [100, 150, 200, 300]);
    expect(fit.slope).toBeCloseTo(1);
    expect(fit.intercept).toBeCloseTo(100);
    expect(Number.isNaN(linearFit([1], [1]).slope)).toBe(true);
  });

  it('merges repeated runs into medians with their range, load-bound if any run was, failures noted', () => {
    const runs: Row[][] = [
      [{ subscribers: 10, lossPct: 0.1, sfuCpuPct: 20, loadBound: false }, { subscribers: 20, lossPct: 0.2, sfuCpuPct: 40, loadBound: false }],
      [{ subscribers: 10, lossPct: 0.3, sfuCpuPct: 22, loadBound: false }, { subscribers: 20, lossPct: 0.4, sfuCpuPct: 44, loadBound: true }],
      [{ subscribers: 10, lossPct: 0.2, sfuCpuPct: 30, loadBound: false }, { subscribers: 20, note: 'failed: timeout' }],
    ];
    const [ten, twenty] = aggregate(runs, 'subscribers');
    expect(ten).toMatchObject({ subscribers: 10, runs: 3, lossPct: 0.2, lossPctMin: 0.1, lossPctMax: 0.3, sfuCpuPct: 22, loadBound: false });
    expect(twenty).toMatchObject({ subscribers: 20, runs: 2, sfuCpuPct: 42, loadBound: true });
    expect(String(twenty!.note)).toMatch(/^1 of 3 runs: failed/);
    expect(usable(ten)).toBe(true);
    expect(usable(twenty)).toBe(false);
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
  });

  it('compares two SFUs only at steps both passed unsaturated in the same run, never last step against last step', () => {
    const foci: Row[][] = [[
      { subscribers: 10, lossPct: 0, sfuUsPerPacket: 20, forwardedPps: 1000, sfuCpuPct: 2 },
      { subscribers: 20, lossPct: 0.5, sfuUsPerPacket: 15, forwardedPps: 2000, sfuCpuPct: 3 },
      { subscribers: 40, lossPct: 0.5, sfuUsPerPacket: 10, forwardedPps: 4000, sfuCpuPct: 4, loadBound: true },
    ]];
    const janus: Row[][] = [[
      { subscribers: 10, lossPct: 0, sfuUsPerPacket: 25, forwardedPps: 1000, sfuCpuPct: 2.5 },
      { subscribers: 20, lossPct: 2, sfuUsPerPacket: 12, forwardedPps: 2000, sfuCpuPct: 2.4 },
    ]];
    const ratios = ratiosAtCommonSteps(foci, janus, 'subscribers', 'sfuUsPerPacket');
    expect([...ratios.keys()]).toEqual([10]);
    expect(ratios.get(10)![0]).toBeCloseTo(0.8);
    // The load-bound step does not enter the slope: 1 %-point of CPU per 1000 pps = 10 µs per packet.
    expect(slopes(foci, 'forwardedPps', 'sfuCpuPct')[0]).toBeCloseTo(0.001);
    // A negative loss is not usable either: it is a counting bug.
    expect(usable({ subscribers: 1, lossPct: -0.5 })).toBe(false);
  });
});

describe('ProbeWindow', () => {
  it('counts sent and received packets by the send time they carry, whenever they arrive', () => {
    const w = new ProbeWindow();
    w.countSent(probed(999)); // before the window opened
    w.open(1000);
    w.countSent(probed(999)); // sent before the window, arriving inside it: not counted
    w.countReceived({ packet: probed(999) });
    for (const at of [1000, 1500, 1999]) w.countSent(probed(at));
    w.close(2000);
    w.countSent(probed(2000)); // after the window
    // Arrivals after the window closed still count if they were sent inside it.
    for (const at of [1000, 1999, 2000]) w.countReceived({ packet: probed(at) });
    w.countReceived({ packet: probed(1500), rtx: true }); // a retransmission is the same packet again
    w.countReceived({ packet: Buffer.alloc(40) }); // no probe
    expect(w.sent).toBe(3);
    expect(w.received).toBe(2);
    w.open(3000);
    expect([w.sent, w.received]).toEqual([0, 0]);
  });
});

describe('withoutTransportCc', () => {
  it('removes the transport-wide-cc extension and transport-cc feedback and nothing else', () => {
    const sdp = [
      'v=0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=rtpmap:96 VP8/90000',
      'a=rtcp-fb:96 nack',
      'a=rtcp-fb:96 transport-cc',
      'a=extmap:5 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid',
      '',
    ].join('\r\n');
    const out = withoutTransportCc(sdp);
    expect(out).not.toMatch(/transport-cc|transport-wide-cc/);
    expect(out).toContain('a=rtcp-fb:96 nack\r\n');
    expect(out).toContain('a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n');
  });
});
