// Oversized createSession bodies over a real socket with Node's fetch
// (undici, keep-alive): the 413 arrives and the connection carries the next
// request, or, past the discard bound, the reply says Connection: close and
// the next request opens a new connection cleanly.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo, Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { createApp } from '../../src/http/app.ts';
import type { Session } from '../../src/signaling/session.ts';

let server: ServerType | undefined;
afterEach(async () => {
  (server as import('node:http').Server | undefined)?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function start(config: Partial<Config> = {}) {
  const registry = new Registry();
  const app = createApp({
    config: loadConfig({}, config),
    log: pino({ level: 'silent' }),
    sessions: { draining: false, create: async () => ({ session: Object.assign(new EventEmitter(), { closed: false }) as unknown as Session, answer: 'v=0\r\n' }) },
    pool: { healthy: true },
    metrics: { registry, createSessionErrors: new Counter({ name: 'e', help: 'e', labelNames: ['code'], registers: [registry] }) },
  });
  const connections: Socket[] = [];
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, connections };
}

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('createSession: oversized bodies over a real connection', () => {
  it('answers a 300 KB body sent by fetch without an explicit content type with 413, and the same connection carries the next request', async () => {
    const { url, connections } = await start();
    // fetch gives a string body text/plain;charset=UTF-8, as the MSC3401 SFU's own client posts its offer.
    const res = await fetch(`${url}/createSession`, { method: 'POST', body: 'x'.repeat(300_000) });
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('too_large');
    expect(res.headers.get('connection')).not.toBe('close');
    // Straight after, on the kept-alive connection.
    const next = await fetch(`${url}/healthz`);
    expect(next.status).toBe(200);
    const again = await fetch(`${url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
    expect(again.status).toBe(200);
    // The server closed nothing (undici may open a second connection of its own accord).
    expect(connections.filter((c) => c.destroyed)).toHaveLength(0);
  });

  it('answers a streamed (chunked) oversized body with 413 too', async () => {
    const { url } = await start();
    const chunk = new Uint8Array(32 * 1024).fill(120);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 10) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('too_large');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('past the discard bound, says Connection: close; the next request gets a fresh connection and works', async () => {
    const { url, connections } = await start({ maxDiscardBodyBytes: 64 * 1024 });
    const res = await fetch(`${url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: new Uint8Array(4 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await errorCode(res)).toBe('too_large');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(connections.length).toBeGreaterThanOrEqual(2);
    expect(connections[0]!.destroyed).toBe(true);
  });

  it('discards the body of a request refused before reading it (429), keeping the connection', async () => {
    const { url, connections } = await start({ createSessionRatePerS: 0.01, createSessionBurst: 1 });
    const post = () => fetch(`${url}/createSession`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' + 'a=x\r\n'.repeat(2000) });
    expect((await post()).status).toBe(200);
    const refused = await post();
    expect(refused.status).toBe(429);
    expect(await errorCode(refused)).toBe('rate_limited');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(connections.filter((c) => c.destroyed)).toHaveLength(0);
  });
});
