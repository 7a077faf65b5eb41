// Route-level tests of the HTTP edge with app.request(): no socket, no worker.
// The session manager is a stub: these tests cover the HTTP contract only.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { createApp, type AppDeps } from '../../src/http/app.ts';
import type { Session } from '../../src/signaling/session.ts';
import { fixture } from './support.ts';

const ANSWER = 'v=0\r\no=foci 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const OFFER = fixture('datachannel-only.offer.sdp');

interface Harness {
  app: ReturnType<typeof createApp>;
  /** The offers sessions.create was called with. */
  calls: string[];
  registry: Registry;
  config: Config;
}

interface HarnessOptions {
  config?: Partial<Config>;
  /** Replaces the stub's default answer, e.g. to throw. */
  create?: (sdp: string) => Promise<{ session: Session; answer: string }>;
  healthy?: boolean;
  draining?: boolean;
  log?: AppDeps['log'];
}

/** What the app needs of a created session: `closed` and its close event. */
function fakeSession(): Session {
  return Object.assign(new EventEmitter(), { closed: false }) as unknown as Session;
}

function harness(options: HarnessOptions = {}): Harness {
  const config = loadConfig({}, options.config ?? {});
  const calls: string[] = [];
  const registry = new Registry();
  const deps: AppDeps = {
    config,
    log: options.log ?? pino({ level: 'silent' }),
    sessions: {
      draining: options.draining ?? false,
      create: async (sdp: string) => {
        calls.push(sdp);
        if (options.create) return options.create(sdp);
        return { session: fakeSession(), answer: ANSWER };
      },
    },
    pool: { healthy: options.healthy ?? true },
    metrics: {
      registry,
      createSessionErrors: new Counter({
        name: 'foci_create_session_errors_total',
        help: 'Refused createSession requests, by code',
        labelNames: ['code'],
        registers: [registry],
      }),
    },
  };
  return { app: createApp(deps), calls, registry, config };
}

function postOffer(h: Harness, body: string | Uint8Array<ArrayBuffer>, contentType: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  return Promise.resolve(
    h.app.request('/createSession', {
      method: 'POST',
      body,
      headers: { ...(contentType === undefined ? {} : { 'Content-Type': contentType }), ...headers },
    }),
  );
}

const throwing = (error: unknown) => async (): Promise<never> => {
  throw error;
};

describe('POST /createSession: request bodies', () => {
  it('answers a raw application/sdp offer with an application/sdp answer', async () => {
    const h = harness();
    const res = await postOffer(h, OFFER, 'application/sdp');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/sdp');
    expect(await res.text()).toBe(ANSWER);
  });

  it('hands the raw offer text to sessions.create unchanged', async () => {
    const h = harness();
    await postOffer(h, OFFER, 'application/sdp');
    expect(h.calls).toEqual([OFFER]);
  });

  it('accepts a text/plain offer the same way', async () => {
    const h = harness();
    const res = await postOffer(h, OFFER, 'text/plain');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/sdp');
    expect(h.calls).toEqual([OFFER]);
  });

  it('ignores content-type parameters and case', async () => {
    const h = harness();
    const res = await postOffer(h, OFFER, 'Application/SDP; charset=utf-8');
    expect(res.status).toBe(200);
  });

  it('answers a JSON {type:"offer",sdp} with JSON {type:"answer",sdp}', async () => {
    const h = harness();
    const res = await postOffer(h, JSON.stringify({ type: 'offer', sdp: OFFER }), 'application/json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ type: 'answer', sdp: ANSWER });
    expect(h.calls).toEqual([OFFER]);
  });

  it.each([
    ['type "answer"', { type: 'answer', sdp: 'v=0' }],
    ['no sdp', { type: 'offer' }],
    ['a numeric sdp', { type: 'offer', sdp: 42 }],
    ['an array', ['offer', 'v=0']],
    ['null', null],
    ['a string', 'v=0'],
  ])('refuses JSON with the wrong shape (%s) with 400 bad_request', async (_label, body) => {
    const h = harness();
    const res = await postOffer(h, JSON.stringify(body), 'application/json');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    expect(h.calls).toEqual([]);
  });

  it('refuses malformed JSON with 400 bad_request', async () => {
    const h = harness();
    const res = await postOffer(h, '{"type":"offer",', 'application/json');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'bad_request', message: 'body is not valid JSON' } });
  });

  it('refuses a form body with 415 unsupported_content_type', async () => {
    const h = harness();
    const res = await postOffer(h, 'sdp=v%3D0', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_content_type');
    expect(h.calls).toEqual([]);
  });

  it('refuses a body without a content type with 415', async () => {
    const h = harness();
    // Bytes, not a string: fetch gives a string body text/plain by default.
    const res = await postOffer(h, new TextEncoder().encode(OFFER), undefined);
    expect(res.status).toBe(415);
  });
});

describe('POST /createSession: body size', () => {
  it('refuses a body over maxSessionOfferBytes + 1024 with 413 too_large (streamed, no Content-Length)', async () => {
    const h = harness();
    const res = await postOffer(h, 'v=0\r\n' + 'a'.repeat(h.config.maxSessionOfferBytes + 1024), 'application/sdp');
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_large');
    expect(h.calls).toEqual([]);
  });

  it('refuses a body whose Content-Length is over the limit with 413 too_large', async () => {
    const h = harness();
    const body = 'v=0\r\n' + 'a'.repeat(h.config.maxSessionOfferBytes + 1024);
    const res = await postOffer(h, body, 'application/sdp', { 'Content-Length': String(Buffer.byteLength(body)) });
    expect(res.status).toBe(413);
    expect(h.calls).toEqual([]);
  });

  it('lets a body of exactly maxSessionOfferBytes + 1024 bytes through (the JSON envelope allowance)', async () => {
    const h = harness();
    const body = 'v=0\r\n' + 'a'.repeat(h.config.maxSessionOfferBytes + 1024 - 5);
    expect(Buffer.byteLength(body)).toBe(h.config.maxSessionOfferBytes + 1024);
    const res = await postOffer(h, body, 'application/sdp');
    expect(res.status).toBe(200);
    expect(h.calls).toHaveLength(1);
  });

  it('follows the configured maxSessionOfferBytes', async () => {
    const h = harness({ config: { maxSessionOfferBytes: 100 } });
    const res = await postOffer(h, 'x'.repeat(1125), 'application/sdp');
    expect(res.status).toBe(413);
  });
});

describe('POST /createSession: errors from the session manager', () => {
  it('maps AppError invalid_sdp to 400 with {error:{code,message}}', async () => {
    const h = harness({ create: throwing(new AppError('invalid_sdp', 'sdp must start with v=0')) });
    const res = await postOffer(h, 'hello', 'application/sdp');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'invalid_sdp', message: 'sdp must start with v=0' } });
  });

  it('maps AppError over_capacity to 503', async () => {
    const h = harness({ create: throwing(new AppError('over_capacity', 'this focus is shutting down')) });
    const res = await postOffer(h, OFFER, 'application/sdp');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: { code: 'over_capacity', message: 'this focus is shutting down' } });
  });

  it('maps AppError unsupported_media to 400', async () => {
    const h = harness({ create: throwing(new AppError('unsupported_media', 'no codec')) });
    expect((await postOffer(h, OFFER, 'application/sdp')).status).toBe(400);
  });

  it('maps a plain Error to 500 internal without its message, with a reference that is logged beside the error', async () => {
    const logged: Record<string, unknown>[] = [];
    const h = harness({
      create: throwing(new Error('mediasoup: Channel request handler with id 123 not found')),
      log: pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
    });
    const res = await postOffer(h, OFFER, 'application/sdp');
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('internal');
    expect(body.error.message).not.toContain('mediasoup');
    const ref = /\(ref ([0-9a-f]{8})\)/.exec(body.error.message)?.[1];
    expect(ref).toBeDefined();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ ref, msg: 'request failed', err: { message: 'mediasoup: Channel request handler with id 123 not found' } });
  });

  it('answers errors as JSON for JSON requests too', async () => {
    const h = harness({ create: throwing(new AppError('invalid_sdp', 'bad')) });
    const res = await postOffer(h, JSON.stringify({ type: 'offer', sdp: 'bad' }), 'application/json');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'invalid_sdp', message: 'bad' } });
  });

  it('counts refused requests by code in foci_create_session_errors_total', async () => {
    const h = harness({ create: throwing(new AppError('invalid_sdp', 'bad')) });
    await postOffer(h, OFFER, 'application/sdp');
    await postOffer(h, OFFER, 'application/sdp');
    await postOffer(h, OFFER, 'application/x-www-form-urlencoded');
    const text = await h.registry.metrics();
    expect(text).toContain('foci_create_session_errors_total{code="invalid_sdp"} 2');
    expect(text).toContain('foci_create_session_errors_total{code="unsupported_content_type"} 1');
  });
});

describe('POST /createSession: CORS', () => {
  const preflight = (h: Harness, origin: string) =>
    h.app.request('/createSession', {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });

  it('answers a preflight with 204 and allow-origin * by default', async () => {
    const res = await preflight(harness(), 'https://app.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('allows POST and the Content-Type header in a preflight', async () => {
    const res = await preflight(harness(), 'https://app.example');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
  });

  it('sets allow-origin on the POST response itself', async () => {
    const res = await postOffer(harness(), OFFER, 'application/sdp', { Origin: 'https://app.example' });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('echoes a listed origin', async () => {
    const res = await preflight(harness({ config: { corsOrigins: 'https://a.example' } }), 'https://a.example');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://a.example');
  });

  it('gives an unlisted origin no allow-origin header', async () => {
    const h = harness({ config: { corsOrigins: 'https://a.example' } });
    expect((await preflight(h, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const res = await postOffer(h, OFFER, 'application/sdp', { Origin: 'https://evil.example' });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads a comma-separated origin list, trimming spaces', async () => {
    const h = harness({ config: { corsOrigins: 'https://a.example, https://b.example' } });
    expect((await preflight(h, 'https://b.example')).headers.get('access-control-allow-origin')).toBe('https://b.example');
  });
});

describe('health, readiness and metrics', () => {
  it('GET /healthz answers 200 {status:"ok"}', async () => {
    const res = await harness().app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the pool is healthy and not draining', async () => {
    const res = await harness().app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', workers: true, draining: false });
  });

  it('GET /readyz answers 503 when the worker pool is unhealthy', async () => {
    const res = await harness({ healthy: false }).app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not_ready', workers: false, draining: false });
  });

  it('GET /readyz answers 503 while draining', async () => {
    const res = await harness({ draining: true }).app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not_ready', workers: true, draining: true });
  });

  it('GET /metrics answers the registry in Prometheus text format', async () => {
    const res = await harness().app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# HELP foci_create_session_errors_total Refused createSession requests, by code');
    expect(text).toContain('# TYPE foci_create_session_errors_total counter');
  });
});

describe('demo and client', () => {
  it.each(['/', '/demo'])('GET %s answers the demo page, which loads foci-client.js', async (path) => {
    const res = await harness().app.request(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('foci-client.js');
  });

  it('GET /foci-client.js answers JavaScript', async () => {
    const res = await harness().app.request('/foci-client.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await res.text()).toContain('FociClient');
  });

  it.each(['/', '/demo', '/foci-client.js'])('GET %s answers 404 when the demo is off', async (path) => {
    const res = await harness({ config: { demo: false } }).app.request(path);
    expect(res.status).toBe(404);
  });
});

describe('unknown routes', () => {
  it('answers 404 with a JSON error', async () => {
    const res = await harness().app.request('/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no such route' } });
  });

  it('answers GET /createSession with 404 (POST only)', async () => {
    const res = await harness().app.request('/createSession');
    expect(res.status).toBe(404);
  });
});
