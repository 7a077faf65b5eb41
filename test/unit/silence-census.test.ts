import { describe, expect, it } from 'vitest';
import { SilenceCensus } from '../../src/media/silence-census.ts';

const census = () => new SilenceCensus({ quietMs: 1500, minPeers: 3, fraction: 0.1 });
const peers = (n: number) => Array.from({ length: n }, () => ({}));

describe('SilenceCensus', () => {
  it('calls one quiet peer among many an individual silence (fast leave goes ahead)', () => {
    const c = census();
    const all = peers(6);
    for (const p of all) c.join(p);
    c.quiet(all[0]!, 0);
    expect(c.widespread(5000)).toBe(false);
  });

  it('calls many peers quiet at once a widespread silence', () => {
    const c = census();
    const all = peers(20);
    for (const p of all) c.join(p);
    for (const p of all.slice(0, 3)) c.quiet(p, 0);
    expect(c.widespread(1499)).toBe(false); // not quiet long enough yet
    expect(c.widespread(1500)).toBe(true);
  });

  it('needs a share of the worker, not only a count', () => {
    const c = census();
    const all = peers(100);
    for (const p of all) c.join(p);
    for (const p of all.slice(0, 9)) c.quiet(p, 0);
    expect(c.widespread(5000)).toBe(false);
    c.quiet(all[9]!, 0);
    expect(c.widespread(5000)).toBe(true);
  });

  it('forgets peers that are heard again or leave', () => {
    const c = census();
    const all = peers(10);
    for (const p of all) c.join(p);
    for (const p of all.slice(0, 4)) c.quiet(p, 0);
    expect(c.widespread(2000)).toBe(true);
    c.heard(all[0]!);
    c.leave(all[1]!);
    expect(c.widespread(2000)).toBe(false);
  });

  it('ignores quiet reports from peers that never joined (or already left)', () => {
    const c = census();
    const stray = peers(5);
    for (const p of stray) c.quiet(p, 0);
    expect(c.widespread(5000)).toBe(false);
  });
});
