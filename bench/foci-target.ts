// Foci as a benchmark target: `node src/main.ts` in its own process (so its
// CPU time is its own, not the load's), loopback only, one worker by default,
// optionally pinned to a core.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { BenchClient } from './client.ts';
import type { LoadClient, SfuTarget } from './target.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Child pids of a process (the mediasoup workers of a focus). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class FociTarget implements SfuTarget {
  readonly name = 'foci' as const;
  readonly #workers: number;
  #child: ChildProcess | undefined;
  #url: string | undefined;

  constructor(options: { workers?: number } = {}) {
    this.#workers = options.workers ?? 1;
  }

  get url(): string {
    if (!this.#url) throw new Error('foci is not running');
    return this.#url;
  }

  /** Stated with the results: what this target runs with that could differ between SFUs. */
  readonly settings = 'log level warn (FOCI_BENCH_LOG), UDP socket buffers 4 MiB (FOCI_UDP_SOCKET_BUFFER_BYTES, the production default), one worker';

  async start({ cpus }: { cpus?: string } = {}): Promise<void> {
    const node = process.execPath;
    const command = cpus ? 'taskset' : node;
    const args = cpus ? ['-c', cpus, node, 'src/main.ts'] : ['src/main.ts'];
    // Logged at warn like Janus (warnings only), so the figures carry no logging
    // the peers do not pay; the port is chosen here since no info line says it.
    const port = await freePort();
    const child = spawn(command, args, {
      cwd: ROOT,
      // Its log (warnings only) goes to our stderr, not through a pipe the load reads.
      stdio: ['ignore', 2, 'inherit'],
      env: {
        ...process.env,
        FOCI_LISTEN_HOST: '127.0.0.1',
        FOCI_LISTEN_PORT: String(port),
        FOCI_MEDIA_LISTEN_IP: '127.0.0.1',
        FOCI_MEDIA_PORT: '0',
        FOCI_WORKERS: String(this.#workers),
        FOCI_MAX_SESSIONS: '5000',
        FOCI_MAX_CONSUMERS_PER_WORKER: '100000',
        // Every load client comes from 127.0.0.1: the per-address abuse limits
        // (sized for people behind one NAT) would cap the load, not the SFU.
        FOCI_MAX_SESSIONS_PER_ADDRESS: '0',
        FOCI_CREATE_SESSION_RATE_PER_S: '0',
        FOCI_LOG_LEVEL: process.env.FOCI_BENCH_LOG ?? 'warn',
        FOCI_DEMO: 'false',
      },
    });
    this.#child = child;
    // Never leave a focus behind if the bench itself dies.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    const url = `http://127.0.0.1:${port}`;
    let exited: number | null | undefined;
    child.once('exit', (code) => (exited = code));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`foci exited with ${exited}`);
      if (Date.now() > deadline) throw new Error('foci did not start within 20 s');
      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ready) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    this.#url = url;
  }

  async connect(): Promise<LoadClient> {
    return BenchClient.connect(this.url, { bindAddress: '127.0.0.1' });
  }

  pids(): number[] {
    const pid = this.#child?.pid;
    return pid ? [pid, ...this.mediaPids()] : [];
  }

  mediaPids(): number[] {
    const pid = this.#child?.pid;
    if (!pid) return [];
    // Under taskset the node process is the child itself (taskset execs).
    return childPids(pid);
  }

  /** From /metrics: foci_sessions_closed_total by reason. */
  async closedSessions(): Promise<Record<string, number>> {
    const text = await (await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const closed: Record<string, number> = {};
    for (const match of text.matchAll(/^foci_sessions_closed_total\{reason="([^"]+)"\} (\d+)/gm)) closed[match[1]!] = Number(match[2]);
    return closed;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.#child = undefined;
  }
}

/** A TCP port free on loopback right now (the focus binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
