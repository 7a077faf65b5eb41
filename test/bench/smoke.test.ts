// The benchmark harness runs end to end in its smoke profile, so it cannot rot.
// No timing is asserted here: figures come from `npm run bench`.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCENARIOS = ['fanout', 'calls', 'latency', 'session', 'memory'];

describe('npm run bench (smoke profile)', () => {
  it('runs every scenario on Foci, Janus, both bare mediasoup floors and the p2p baseline and writes results and plots', async () => {
    const out = mkdtempSync(join(tmpdir(), 'foci-bench-'));
    const { stdout } = await run(process.execPath, ['bench/run.ts', '--profile', 'smoke', '--out', out, '--max-minutes', '4'], {
      cwd: new URL('../..', import.meta.url).pathname,
      timeout: 300_000,
    });
    expect(stdout).toContain('== fanout');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.machine.mediasoup).toBe('3.27.1');
    for (const scenario of SCENARIOS) {
      const foci = results.scenarios[scenario].foci;
      expect(Array.isArray(foci), `${scenario} on foci: ${JSON.stringify(foci)}`).toBe(true);
      expect(foci.length).toBeGreaterThan(0);
      // A step that failed is reported as a row with a note; on the smoke load none may fail.
      expect(foci.filter((row: { note?: string }) => row.note), `${scenario} on foci`).toEqual([]);
      // The peers either produced figures or say why not; they are never silently absent.
      for (const peer of ['janus', 'mediasoup', 'mediasoup-webrtc', 'p2p']) {
        const figures = results.scenarios[scenario][peer];
        expect(Array.isArray(figures) || typeof figures?.skipped === 'string', `${scenario} on ${peer}`).toBe(true);
      }
      expect(existsSync(join(out, `${scenario}.svg`))).toBe(true);
    }
    // Media really flowed through Foci and the bare worker in the fan-out.
    expect(results.scenarios.fanout.foci[0].forwardedPps).toBeGreaterThan(0);
    expect(results.scenarios.fanout.mediasoup[0].forwardedPps).toBeGreaterThan(0);
    // The WebRTC floor forwarded in fan-out and calls, every step under 5 % loss.
    for (const scenario of ['fanout', 'calls']) {
      const floor = results.scenarios[scenario]['mediasoup-webrtc'];
      expect(Array.isArray(floor) && floor.length > 0, `${scenario} on mediasoup-webrtc: ${JSON.stringify(floor)}`).toBe(true);
      for (const row of floor) {
        expect(row.note, `${scenario} on mediasoup-webrtc`).toBeUndefined();
        expect(row.forwardedPps).toBeGreaterThan(0);
        expect(row.lossPct).toBeLessThan(5);
      }
    }
    // The direct baseline measured packets, and the SFUs' latency rows are read against it.
    const latency = results.scenarios.latency;
    expect(latency.p2p[0].packets).toBeGreaterThan(0);
    expect(Number.isFinite(latency.foci[0].addedP50Ms) && Number.isFinite(latency.foci[0].addedP99Ms)).toBe(true);
    expect(latency['mediasoup-webrtc'][0].packets).toBeGreaterThan(0);
  });
});
