// Which address a createSession is charged to: grouping, trusted proxies,
// X-Forwarded-For; and the per-address limiter with a fake clock.
import { describe, expect, it } from 'vitest';
import { addressKey, CidrSet, clientAddress } from '../../src/http/client-address.ts';
import { AddressLimiter } from '../../src/limits/address-limits.ts';
import { AppError } from '../../src/errors.ts';
import { TokenBucket } from '../../src/limits/token-bucket.ts';

describe('addressKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['[2001:db8:1:2::9]:443', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['198.51.100.1:5000', '198.51.100.1'],
    ['not an address', 'unknown'],
    [undefined, 'unknown'],
  ])('%s → %s', (raw, key) => {
    expect(addressKey(raw)).toBe(key);
  });

  it('puts two hosts of one /64 together and hosts of neighbouring /64s apart', () => {
    expect(addressKey('2001:db8:a:b::1')).toBe(addressKey('2001:db8:a:b:dead:beef:0:2'));
    expect(addressKey('2001:db8:a:b::1')).not.toBe(addressKey('2001:db8:a:c::1'));
  });
});

describe('CidrSet', () => {
  it('matches IPv4 and IPv6 subnets, single addresses, and IPv4-mapped peers', () => {
    const set = CidrSet.parse('10.0.0.0/8, 192.0.2.5, fd00::/8');
    expect(set.has('10.200.3.4')).toBe(true);
    expect(set.has('::ffff:10.1.1.1')).toBe(true);
    expect(set.has('192.0.2.5')).toBe(true);
    expect(set.has('192.0.2.6')).toBe(false);
    expect(set.has('fd12::1')).toBe(true);
    expect(set.has('2001:db8::1')).toBe(false);
    expect(set.has(undefined)).toBe(false);
  });

  it.each(['10.0.0.0/33', 'banana', '10.0.0.0/', '::/129', '1.2.3.4/8/9'])('refuses %s', (bad) => {
    expect(() => CidrSet.parse(bad)).toThrow(/not an address or CIDR/);
  });

  it('is empty for an empty string', () => {
    expect(CidrSet.parse('').size).toBe(0);
  });
});

describe('clientAddress', () => {
  const proxies = CidrSet.parse('10.0.0.0/8');

  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(clientAddress('10.0.0.2', '198.51.100.1', CidrSet.parse(''))).toBe('10.0.0.2');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress('203.0.113.9', '198.51.100.1', proxies)).toBe('203.0.113.9');
  });

  it('takes the right-most untrusted hop from a trusted proxy (a client-written left part does not count)', () => {
    expect(clientAddress('10.0.0.2', '1.1.1.1, 198.51.100.1', proxies)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.2', '1.1.1.1, 198.51.100.1, 10.0.0.3', proxies)).toBe('198.51.100.1');
  });

  it('falls back to the peer without the header, and to the left-most hop if every hop is trusted', () => {
    expect(clientAddress('10.0.0.2', undefined, proxies)).toBe('10.0.0.2');
    expect(clientAddress('10.0.0.2', '10.0.0.7, 10.0.0.3', proxies)).toBe('10.0.0.7');
  });

  it('trusts an IPv4-mapped proxy peer', () => {
    expect(clientAddress('::ffff:10.0.0.2', '2001:db8::5', proxies)).toBe('2001:db8::5');
  });
});

describe('TokenBucket', () => {
  it('gives the burst at once, then the sustained rate', () => {
    const b = new TokenBucket(2, 3, 0);
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false]);
    expect(b.waitS(0)).toBeCloseTo(0.5);
    expect(b.take(499)).toBe(false);
    expect(b.take(500)).toBe(true);
    expect(b.full(500 + 1500)).toBe(true);
  });
});

describe('AddressLimiter', () => {
  function limiter(opts: Partial<{ maxSessionsPerAddress: number; createSessionRatePerS: number; createSessionBurst: number }> = {}) {
    let t = 0;
    const l = new AddressLimiter({ maxSessionsPerAddress: 3, createSessionRatePerS: 1, createSessionBurst: 5, ...opts }, () => t);
    return { l, advance: (ms: number) => void (t += ms) };
  }
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e instanceof AppError ? [e.code, e.retryAfterS] : ['not an AppError', undefined];
    }
    return ['none', undefined];
  };

  it('caps live sessions per address and frees a slot on release (once)', () => {
    const { l } = limiter();
    const releases = [l.acquire('a'), l.acquire('a'), l.acquire('a')];
    expect(codeOf(() => l.acquire('a'))).toEqual(['too_many_sessions', undefined]);
    expect(l.acquire('b')).toBeTypeOf('function');
    releases[0]!();
    releases[0]!();
    expect(l.live('a')).toBe(2);
    expect(l.acquire('a')).toBeTypeOf('function');
  });

  it('refuses past the burst with rate_limited and a Retry-After, and recovers at the sustained rate', () => {
    const { l, advance } = limiter({ maxSessionsPerAddress: 0 });
    for (let i = 0; i < 5; i++) l.acquire('a')();
    expect(codeOf(() => l.acquire('a'))).toEqual(['rate_limited', 1]);
    expect(codeOf(() => l.acquire('b'))).toEqual(['none', undefined]);
    advance(1000);
    expect(codeOf(() => l.acquire('a'))).toEqual(['none', undefined]);
    expect(codeOf(() => l.acquire('a'))).toEqual(['rate_limited', 1]);
  });

  it('forgets an address once it holds nothing', () => {
    const { l, advance } = limiter({ createSessionRatePerS: 0 });
    const release = l.acquire('a');
    expect(l.size).toBe(1);
    release();
    expect(l.size).toBe(0);
    l.acquire('b')();
    advance(10_000);
    expect(l.size).toBe(0);
  });

  it('lets an office of 120 behind one NAT join within a minute with the defaults', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    const c = loadConfig({}, {});
    let t = 0;
    const l = new AddressLimiter(c, () => t);
    // 100 at once (the meeting starts), then 20 more over the next 30 s.
    for (let i = 0; i < 100; i++) l.acquire('office');
    for (let i = 0; i < 20; i++) {
      t += 1500;
      l.acquire('office');
    }
    expect(l.live('office')).toBe(120);
    // …but one host cannot hold maxSessions.
    expect(c.maxSessionsPerAddress).toBeLessThan(c.maxSessions / 2);
  });
});
