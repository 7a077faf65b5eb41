// The benchmark harness runs end to end in its smoke profile, so it cannot rot,
// and what it measures must hold: media flows with little loss through Foci and
// the floors, every session try succeeds, latency and memory have figures, and
// Janus, when installed, produces rows (a Janus failure fails this test).
// No speed is asserted: figures come from `npm run bench`.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCENARIOS = ['fanout', 'calls', 'latency', 'session', 'memory'];

type Row = Record<string, string | number | boolean>;
interface TargetResult {
  runs: unknown[];
  summary: Row[];
  skipped?: string;
}

describe('npm run bench (smoke profile)', () => {
  it('runs every scenario on Foci, Janus, both bare mediasoup floors and the p2p baseline, with low loss, no missed session try and real figures', async () => {
    const out = mkdtempSync(join(tmpdir(), 'foci-bench-'));
    const { stdout } = await run(process.execPath, ['bench/run.ts', '--profile', 'smoke', '--out', out, '--max-minutes', '4'], {
      cwd: new URL('../..', import.meta.url).pathname,
      timeout: 300_000,
    });
    expect(stdout).toContain('== fanout');
    expect(stdout).toContain('loadBound');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.machine.mediasoup).toBe('3.27.1');
    const janusInstalled = results.machine.janus !== 'not found';
    for (const scenario of SCENARIOS) {
      const byTarget = results.scenarios[scenario] as Record<string, TargetResult>;
      expect(Object.keys(byTarget)).toContain('foci');
      for (const [name, result] of Object.entries(byTarget)) {
        const label = `${scenario} on ${name}: ${JSON.stringify(result.skipped ?? result.summary)}`;
        // Only a scenario a target declares it cannot run may be skipped: the bare floors have
        // no session path, and the p2p baseline serves the latency scenario alone.
        const declared = (scenario === 'session' && name !== 'foci' && name !== 'janus') || (name === 'p2p' && scenario !== 'latency');
        if (name === 'janus' && !janusInstalled) continue;
        if (declared && result.skipped) continue;
        expect(result.skipped, label).toBeUndefined();
        expect(result.summary.length, label).toBeGreaterThan(0);
        // A step that failed is reported as a row with a note; on the smoke load none may fail.
        expect(result.summary.filter((row) => row.note !== undefined), label).toEqual([]);
        for (const row of result.summary) {
          if (scenario === 'fanout' || scenario === 'calls') {
            // Raw counts are saved, and loss is signed: negative would be a counting bug.
            expect(row.sent, label).toBeGreaterThan(0);
            expect(row.expected, label).toBeGreaterThan(0);
            expect(row.received, label).toBeGreaterThan(0);
            expect(row.lossPct, label).toBeGreaterThanOrEqual(0);
            expect(row.forwardedPps, label).toBeGreaterThan(0);
            expect(row.sfuCpuPct, label).toBeGreaterThan(0);
            expect(typeof row.loadBound, label).toBe('boolean');
            if (name !== 'janus') expect(row.lossPct, label).toBeLessThan(5);
          }
          if (scenario === 'latency') {
            expect(row.packets, label).toBeGreaterThan(0);
            expect(row.p50Ms, label).toBeGreaterThan(0);
          }
          if (scenario === 'session') {
            expect(row.tries, label).toBeGreaterThan(0);
            expect(row.misses, label).toBe(0);
            expect(row.p50Ms, label).toBeGreaterThan(0);
          }
          if (scenario === 'memory') {
            expect(row.rssAnonMiB, label).toBeGreaterThan(0);
            expect(Number.isFinite(row.miBPerConsumer), label).toBe(true);
          }
        }
      }
      expect(existsSync(join(out, `${scenario}.svg`))).toBe(true);
    }
    // Foci's renegotiation path is its own row beside the cold one.
    expect(results.scenarios.session.foci.summary.map((r: Row) => r.step)).toHaveLength(2);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('### fanout');
    // The WebRTC floor ran the media scenarios, and every SFU's latency is read against the direct baseline.
    for (const scenario of ['fanout', 'calls', 'latency']) expect(results.scenarios[scenario]['mediasoup-webrtc'].summary.length).toBeGreaterThan(0);
    const fociLatency = results.scenarios.latency.foci.summary[0];
    expect(Number.isFinite(Number(fociLatency.addedP50Ms)) && Number.isFinite(Number(fociLatency.addedP99Ms))).toBe(true);
  });
});
