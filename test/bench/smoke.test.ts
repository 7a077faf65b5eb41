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
  it('runs every scenario on Foci, Janus and bare mediasoup and writes results and plots', async () => {
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
      for (const peer of ['janus', 'mediasoup']) {
        const figures = results.scenarios[scenario][peer];
        expect(Array.isArray(figures) || typeof figures?.skipped === 'string', `${scenario} on ${peer}`).toBe(true);
      }
      expect(existsSync(join(out, `${scenario}.svg`))).toBe(true);
    }
    // Media really flowed through Foci and the bare worker in the fan-out.
    expect(results.scenarios.fanout.foci[0].forwardedPps).toBeGreaterThan(0);
    expect(results.scenarios.fanout.mediasoup[0].forwardedPps).toBeGreaterThan(0);
  });
});
