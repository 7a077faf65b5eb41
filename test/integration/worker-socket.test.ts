// The socket every session of a worker shares gets the kernel buffers the
// config asks for: with the kernel's default, bursts from many publishers
// overflow it (see docs/performance.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Foci } from '../../src/server.ts';
import { startTestFoci } from '../helpers/browser.ts';

let foci: Foci | undefined;
afterEach(async () => {
  await foci?.close();
  foci = undefined;
});

/** rcvbuf and sndbuf, as the kernel reports them, of the UDP sockets a process holds. */
function udpBuffers(pid: number): { rb: number; tb: number }[] {
  const text = execFileSync('ss', ['-u', '-a', '-m', '-n', '-p'], { encoding: 'utf8' });
  const out: { rb: number; tb: number }[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.includes(`pid=${pid},`)) continue;
    const mem = /rb(\d+),t\d+,tb(\d+)/.exec(lines[i + 1] ?? '');
    if (mem) out.push({ rb: Number(mem[1]), tb: Number(mem[2]) });
  }
  return out;
}

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));

describe('worker UDP socket', () => {
  it('has the configured receive and send buffers (the kernel doubles them, up to its maximum)', async () => {
    const requested = 1024 * 1024;
    foci = await startTestFoci({ workers: 1, udpSocketBufferBytes: requested });
    const [socket, ...others] = udpBuffers(foci.pool.workers[0]!.pid);
    expect(others).toEqual([]);
    expect(socket).toEqual({ rb: 2 * Math.min(requested, sysctl('rmem_max')), tb: 2 * Math.min(requested, sysctl('wmem_max')) });
  });
});
