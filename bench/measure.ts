// Reading the machine: per-thread CPU time and anonymous memory from /proc,
// socket drops, and the facts recorded with every result.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import os from 'node:os';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time of a set of processes, summed over all their threads. */
export interface CpuSample {
  /** Scheduler run time in nanoseconds (/proc/PID/task/TID/schedstat, first field). */
  ns: number;
  /** utime and stime clock ticks (/proc/PID/task/TID/stat fields 14 and 15): only their ratio is used. */
  userTicks: number;
  systemTicks: number;
  /** Run time of the first process's main thread (the load's JavaScript thread). */
  mainThreadNs: number;
}

/**
 * Reads every thread of the processes. The scheduler's run time is exact to
 * the nanosecond, unlike utime+stime, which are sampled at each timer tick
 * (HZ=250 here, 4 ms); the ticks only split the total into user and system.
 * A thread that exits inside a window takes its time with it.
 */
export function cpuSample(pids: number[]): CpuSample {
  const sample: CpuSample = { ns: 0, userTicks: 0, systemTicks: 0, mainThreadNs: 0 };
  for (const [i, pid] of pids.entries()) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // the process is gone
    }
    for (const tid of tids) {
      try {
        const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        sample.ns += ns;
        if (i === 0 && tid === String(pid)) sample.mainThreadNs = ns;
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        sample.userTicks += Number(fields[11]);
        sample.systemTicks += Number(fields[12]);
      } catch {
        // the thread is gone
      }
    }
  }
  return sample;
}

/** What a set of processes used between two samples: total, user and system microseconds, and the main thread's. */
export function cpuBetween(a: CpuSample, b: CpuSample): { us: number; userUs: number; systemUs: number; mainThreadUs: number } {
  const us = (b.ns - a.ns) / 1000;
  const user = b.userTicks - a.userTicks;
  const system = b.systemTicks - a.systemTicks;
  // The ticks split the exact total; with no tick in the window the split is unknown (reported as all user).
  const userShare = user + system > 0 ? user / (user + system) : 1;
  return { us, userUs: us * userShare, systemUs: us * (1 - userShare), mainThreadUs: (b.mainThreadNs - a.mainThreadNs) / 1000 };
}

/** Clock ticks per second of utime/stime, for the record. */
export const clockTicks = CLK_TCK;

/**
 * Anonymous resident memory (RssAnon: heap, stacks, buffers; not the shared
 * libraries and files mapped in) of the processes, in bytes.
 */
export function rssAnonBytes(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const match = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      kb += Number(match?.[1] ?? 0);
    } catch {
      // the process is gone
    }
  }
  return kb * 1024;
}

/** CPUs this process may run on (its affinity), from /proc/self/status. */
export function allowedCpus(pid = process.pid): number {
  try {
    const list = /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
    let n = 0;
    for (const part of list.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n || os.cpus().length;
  } catch {
    return os.cpus().length;
  }
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'not found';
  }
}

export function machineFacts(): Record<string, string | number> {
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    mediasoup: pkg('mediasoup'),
    nodeDatachannel: pkg('node-datachannel'),
    janus: version('janus', ['--help']),
  };
}

/** Socket inodes the processes hold open. */
function socketInodes(pids: number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // the process is gone
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  return inodes;
}

/**
 * Datagrams the kernel dropped at the processes' UDP sockets because their
 * receive buffers were full (the `drops` column of /proc/net/udp{,6}). Tells
 * whether loss happened at the SFU's door, at the load's, or neither.
 */
export function udpDrops(pids: number[]): number {
  const inodes = socketInodes(pids);
  let drops = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // … uid timeout inode ref pointer drops
      if (fields.length >= 13 && inodes.has(fields[9]!)) drops += Number(fields[12]);
    }
  }
  return drops;
}
