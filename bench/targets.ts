// Choosing and placing what is measured: the SFU under test by name, and the
// core split between it and the load (shared by `npm run bench` and
// `npm run bench:profile`).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { FociTarget } from './foci-target.ts';
import type { SfuTarget } from './target.ts';

export const TARGET_NAMES = ['foci', 'janus', 'mediasoup', 'mediasoup-webrtc', 'p2p'] as const;

/** The target, or why it cannot run here. */
export async function makeTarget(name: string): Promise<SfuTarget | string> {
  if (name === 'foci') return new FociTarget({ workers: 1 });
  if (name === 'janus') {
    try {
      const { JanusTarget } = await import('./janus.ts');
      return new JanusTarget();
    } catch (error) {
      return `Janus target unavailable: ${(error as Error).message}`;
    }
  }
  if (name === 'mediasoup') {
    const { BareMediasoupTarget } = await import('./bare-mediasoup.ts');
    return new BareMediasoupTarget();
  }
  if (name === 'mediasoup-webrtc') {
    const { WebRtcFloorTarget } = await import('./webrtc-floor.ts');
    return new WebRtcFloorTarget();
  }
  if (name === 'p2p') {
    const { P2pTarget } = await import('./p2p.ts');
    return new P2pTarget();
  }
  return `unknown target ${name}`;
}

/**
 * Moves this (load) process off core 0 and returns "0" for the SFU, so neither
 * steals the other's time; undefined on one core or without taskset.
 */
export function splitCores(warn: (message: string) => void): string | undefined {
  const cores = os.cpus().length;
  if (cores < 2) return undefined;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', `1-${cores - 1}`, String(process.pid)], { stdio: 'ignore' });
    return '0';
  } catch {
    warn('taskset unavailable: SFU and load share cores');
    return undefined;
  }
}
