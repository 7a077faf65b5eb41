import { defineConfig } from 'vitest/config';

// test/unit: no sockets, no workers. test/integration: real mediasoup worker,
// no browser. test/e2e: real server and headless Chromium.
export default defineConfig({
  // public/ holds the browser client served by the focus, not Vite assets.
  publicDir: false,
  test: {
    // One file at a time: the e2e and bench files each load both cores.
    fileParallelism: false,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 } },
      // The benchmark harness in its smoke profile (spawns its own focus and Janus).
      { test: { name: 'bench', include: ['test/bench/**/*.test.ts'], testTimeout: 330_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 90_000,
          hookTimeout: 60_000,
          // Each file drives its own Chromium; two at once fit in 2 cores.
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
