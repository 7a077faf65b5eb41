// A benchmark server in its own process (so its CPU time is its own), spoken
// to over stdin/stdout: one JSON request per line in, one JSON line out per
// request. The child's first line is {"ready":true,"workerPid":…}.
//
//   → {"id":1,"method":"produce","params":{…}}
//   ← {"id":1,"result":{…}}   or   {"id":1,"error":"…"}
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BenchError, type StreamKey } from './client.ts';
import { childPids } from './foci-target.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export class ChildRpc {
  readonly #script: string;
  readonly #label: string;
  #child: ChildProcess | undefined;
  #workerPid = 0;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  /** `script` relative to the repository root; `label` names it in errors. */
  constructor(script: string, label: string) {
    this.#script = script;
    this.#label = label;
  }

  /** Starts the child, pinned to `cpus` (taskset list) when given, and waits for its ready line. */
  async start({ cpus }: { cpus?: string } = {}): Promise<void> {
    const node = process.execPath;
    const child = cpus
      ? spawn('taskset', ['-c', cpus, node, this.#script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(node, [this.#script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    this.#child = child;
    // Never leave a server behind if the bench itself dies.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => {
      process.off('exit', killOnExit);
      for (const p of this.#pending.values()) p.reject(new BenchError('session_closed', `${this.#label} exited`));
      this.#pending.clear();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.#label} did not start within 20 s`)), 20_000);
      child.once('exit', (code) => reject(new Error(`${this.#label} exited with ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const message = JSON.parse(line) as { ready?: boolean; workerPid?: number; id?: number; result?: unknown; error?: string };
        if (message.ready) {
          this.#workerPid = message.workerPid!;
          clearTimeout(timer);
          resolve();
          return;
        }
        const pending = this.#pending.get(message.id!);
        this.#pending.delete(message.id!);
        if (message.error !== undefined) pending?.reject(new BenchError('request_failed', message.error));
        else pending?.resolve(message.result);
      });
    });
  }

  request<T>(method: string, params: Record<string, unknown>): Promise<T> {
    const child = this.#child;
    if (!child?.stdin || child.exitCode !== null) return Promise.reject(new BenchError('session_closed', `${this.#label} is not running`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.stdin!.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  /** The child and its mediasoup worker. */
  pids(): number[] {
    const pid = this.#child?.pid;
    return pid ? [pid, ...childPids(pid)] : [];
  }

  /** The mediasoup worker only. */
  mediaPids(): number[] {
    return this.#workerPid ? [this.#workerPid] : [];
  }

  /** Ends the child by closing its stdin (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.#child = undefined;
  }
}

/** Serves `methods` on stdin/stdout for a ChildRpc parent; announces `workerPid` first. Exits (after `onEnd`) when stdin ends. */
export function serveRpc(methods: Record<string, (params: never) => Promise<unknown>>, workerPid: number, onEnd: () => void): void {
  process.stdout.write(JSON.stringify({ ready: true, workerPid }) + '\n');
  createInterface({ input: process.stdin }).on('line', (line) => {
    const request = JSON.parse(line) as { id: number; method: string; params: never };
    const method = methods[request.method];
    (method ? method(request.params) : Promise.reject(new Error(`unknown method ${request.method}`))).then(
      (result) => process.stdout.write(JSON.stringify({ id: request.id, result }) + '\n'),
      (error: Error) => process.stdout.write(JSON.stringify({ id: request.id, error: error.message }) + '\n'),
    );
  });
  process.stdin.once('end', () => {
    onEnd();
    process.exit(0);
  });
}

/**
 * A benchmark target served by a child process (the bare floors): its RPC, the
 * process ids the harness measures, and the streams published through it, so
 * subscribers in the same bench process can find what they consume.
 */
export abstract class ChildRpcTarget<Stream> {
  readonly rpc: ChildRpc;
  readonly #streams = new Map<string, Stream>();

  constructor(script: string, label: string) {
    this.rpc = new ChildRpc(script, label);
  }

  start(options: { cpus?: string } = {}): Promise<void> {
    return this.rpc.start(options);
  }

  /** Remembers a published stream by its key. */
  published(key: StreamKey, stream: Stream): void {
    this.#streams.set(keyOf(key), stream);
  }

  /** A published stream, or `stream_not_found`. */
  stream(key: StreamKey): Stream {
    const stream = this.#streams.get(keyOf(key));
    if (stream === undefined) throw new BenchError('stream_not_found', `no stream ${keyOf(key)}`);
    return stream;
  }

  pids(): number[] {
    return this.rpc.pids();
  }

  mediaPids(): number[] {
    return this.rpc.mediaPids();
  }

  async stop(): Promise<void> {
    await this.rpc.stop();
    this.#streams.clear();
  }
}

const keyOf = (key: StreamKey) => `${key.callId}|${key.deviceId}|${key.purpose}`;
