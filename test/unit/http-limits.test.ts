// The abuse limits of POST /createSession with app.request(): per-address
// live sessions and rate, address grouping, trusted proxies, and the
// text/plain and Origin rules. The client address is the socket peer that
// @hono/node-server hands the app (c.env.incoming.socket), passed in here.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { createApp } from '../../src/http/app.ts';
import type { Session } from '../../src/signaling/session.ts';
import { fixture } from './support.ts';

const OFFER = fixture('datachannel-only.offer.sdp');

type FakeSession = EventEmitter & { closed: boolean; close(): void };

function harness(config: Partial<Config> = {}, create?: () => Promise<never>) {
  const sessions: FakeSession[] = [];
  const registry = new Registry();
  const app = createApp({
    config: loadConfig({}, config),
    log: pino({ level: 'silent' }),
    sessions: {
      draining: false,
      create: async () => {
        if (create) return create();
        const s = Object.assign(new EventEmitter(), {
          closed: false,
          close() {
            s.closed = true;
            s.emit('close', 'dtls_failed');
          },
        });
        sessions.push(s);
        return { session: s as unknown as Session, answer: 'v=0\r\n' };
      },
    },
    pool: { healthy: true },
    metrics: { registry, createSessionErrors: new Counter({ name: 'e', help: 'e', labelNames: ['code'], registers: [registry] }) },
  });
  const post = async (from: string, headers: Record<string, string> = {}, body: string = OFFER) => {
    const res = await app.request(
      '/createSession',
      { method: 'POST', body, headers: { 'Content-Type': 'application/sdp', ...headers } },
      { incoming: { socket: { remoteAddress: from, remotePort: 40000, remoteFamily: from.includes(':') ? 'IPv6' : 'IPv4' } } },
    );
    const json = res.status === 200 ? undefined : ((await res.json()) as { error: { code: string; message: string } });
    return { status: res.status, code: json?.error.code, retryAfter: res.headers.get('retry-after') };
  };
  return { app, post, sessions, registry };
}

describe('createSession: live sessions per address', () => {
  it('refuses an address over its share with 429 too_many_sessions before creating anything; others still get in', async () => {
    const h = harness({ maxSessionsPerAddress: 3 });
    for (let i = 0; i < 3; i++) expect((await h.post('198.51.100.1')).status).toBe(200);
    const refused = await h.post('198.51.100.1');
    expect(refused).toEqual({ status: 429, code: 'too_many_sessions', retryAfter: null });
    expect(h.sessions).toHaveLength(3);
    expect((await h.post('198.51.100.2')).status).toBe(200);
    expect(await h.registry.metrics()).toContain('e{code="too_many_sessions"} 1');
  });

  it('counts a session until it closes (half-open ones too), then frees its slot', async () => {
    const h = harness({ maxSessionsPerAddress: 2 });
    await h.post('198.51.100.1');
    await h.post('198.51.100.1');
    expect((await h.post('198.51.100.1')).code).toBe('too_many_sessions');
    h.sessions[0]!.close(); // e.g. its connect timeout fired
    expect((await h.post('198.51.100.1')).status).toBe(200);
  });

  it('does not charge a request that failed', async () => {
    const h = harness({ maxSessionsPerAddress: 1 }, async () => {
      throw new AppError('invalid_sdp', 'no');
    });
    for (let i = 0; i < 3; i++) expect((await h.post('198.51.100.1')).code).toBe('invalid_sdp');
  });

  it('groups IPv6 clients by /64 and treats IPv4-mapped addresses as IPv4', async () => {
    const h = harness({ maxSessionsPerAddress: 2 });
    await h.post('2001:db8:5:6::1');
    await h.post('2001:db8:5:6:aaaa::2');
    expect((await h.post('2001:db8:5:6:ffff::3')).code).toBe('too_many_sessions');
    expect((await h.post('2001:db8:5:7::1')).status).toBe(200);
    await h.post('203.0.113.4');
    await h.post('::ffff:203.0.113.4');
    expect((await h.post('203.0.113.4')).code).toBe('too_many_sessions');
  });
});

describe('createSession: rate per address', () => {
  it('allows the burst, then answers 429 rate_limited with Retry-After; other addresses are unaffected', async () => {
    const h = harness({ createSessionRatePerS: 0.5, createSessionBurst: 4, maxSessionsPerAddress: 0 });
    for (let i = 0; i < 4; i++) expect((await h.post('198.51.100.1')).status).toBe(200);
    const refused = await h.post('198.51.100.1');
    expect(refused).toEqual({ status: 429, code: 'rate_limited', retryAfter: '2' });
    expect(h.sessions).toHaveLength(4);
    expect((await h.post('198.51.100.9')).status).toBe(200);
  });
});

describe('createSession: trusted proxies and X-Forwarded-For', () => {
  it('charges the proxy itself when it is not trusted (X-Forwarded-For is ignored)', async () => {
    const h = harness({ maxSessionsPerAddress: 1 });
    expect((await h.post('10.0.0.2', { 'X-Forwarded-For': '198.51.100.1' })).status).toBe(200);
    expect((await h.post('10.0.0.2', { 'X-Forwarded-For': '198.51.100.2' })).code).toBe('too_many_sessions');
  });

  it('charges the right-most untrusted hop behind a trusted proxy, whatever the client wrote to its left', async () => {
    const h = harness({ maxSessionsPerAddress: 1, trustedProxies: '10.0.0.0/8' });
    expect((await h.post('10.0.0.2', { 'X-Forwarded-For': '198.51.100.1' })).status).toBe(200);
    expect((await h.post('10.0.0.2', { 'X-Forwarded-For': '198.51.100.2' })).status).toBe(200);
    // A forged left-most entry does not buy a fresh share.
    expect((await h.post('10.0.0.2', { 'X-Forwarded-For': '192.0.2.99, 198.51.100.1' })).code).toBe('too_many_sessions');
    // A peer outside the trusted list cannot use the header.
    expect((await h.post('203.0.113.50', { 'X-Forwarded-For': '192.0.2.1' })).status).toBe(200);
    expect((await h.post('203.0.113.50', { 'X-Forwarded-For': '192.0.2.2' })).code).toBe('too_many_sessions');
  });

  it('refuses a trustedProxies setting that is not a CIDR list at start-up', () => {
    expect(() => loadConfig({ FOCI_TRUSTED_PROXIES: '10.0.0.0/99' })).toThrow(/FOCI_TRUSTED_PROXIES/);
  });
});

describe('createSession: text/plain and Origin', () => {
  // What the original MSC3401 SFU's browser client sends: fetch with a string body.
  const textPlain = { 'Content-Type': 'text/plain;charset=UTF-8' };

  it('accepts text/plain in the open default (corsOrigins *)', async () => {
    expect((await harness().post('198.51.100.1', textPlain)).status).toBe(200);
  });

  it('refuses text/plain with 415 once an origin allow-list is set, before creating anything', async () => {
    const h = harness({ corsOrigins: 'https://call.example' });
    expect(await h.post('198.51.100.1', { ...textPlain, Origin: 'https://call.example' })).toMatchObject({ status: 415, code: 'unsupported_content_type' });
    expect(h.sessions).toHaveLength(0);
    expect((await h.post('198.51.100.1', { Origin: 'https://call.example' })).status).toBe(200);
  });

  it('accepts text/plain with an allow-list when allowTextPlainOffers is on', async () => {
    const h = harness({ corsOrigins: 'https://call.example', allowTextPlainOffers: true });
    expect((await h.post('198.51.100.1', { ...textPlain, Origin: 'https://call.example' })).status).toBe(200);
  });

  it('refuses a POST from an origin not on the allow-list with 403 origin_not_allowed (CORS alone would process it)', async () => {
    const h = harness({ corsOrigins: 'https://call.example', allowTextPlainOffers: true });
    expect(await h.post('198.51.100.1', { ...textPlain, Origin: 'https://evil.example' })).toMatchObject({ status: 403, code: 'origin_not_allowed' });
    expect(await h.post('198.51.100.1', { Origin: 'https://evil.example' })).toMatchObject({ status: 403, code: 'origin_not_allowed' });
    expect(h.sessions).toHaveLength(0);
    // No Origin: not a browser page (a native client, curl); CORS has nothing to say.
    expect((await h.post('198.51.100.1')).status).toBe(200);
  });

  it('takes any Origin in the open default', async () => {
    expect((await harness().post('198.51.100.1', { Origin: 'https://anything.example' })).status).toBe(200);
  });
});
