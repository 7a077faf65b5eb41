// HTTP edge: createSession, health, metrics and the demo. Routes stay thin;
// errors are AppErrors mapped to a status in onError, the one place.
import { readFileSync } from 'node:fs';
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError, publicError, toAppError, type ErrorCode } from '../errors.ts';
import { AddressLimiter } from '../limits/address-limits.ts';
import { bodyHygiene, readBodyText, type BodyLimits } from './body.ts';
import { addressKey, CidrSet, clientAddress } from './client-address.ts';
import type { Metrics } from '../metrics.ts';
import type { WorkerPool } from '../media/worker-pool.ts';
import type { SessionManager } from '../signaling/sessions.ts';

export interface AppDeps {
  config: Config;
  log: Logger;
  sessions: Pick<SessionManager, 'create' | 'draining'>;
  pool: Pick<WorkerPool, 'healthy'>;
  metrics: Pick<Metrics, 'registry' | 'createSessionErrors'>;
}

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  too_large: 413,
  unsupported_content_type: 415,
  unknown_event: 400,
  invalid_sdp: 400,
  unsupported_media: 400,
  stream_exists: 409,
  stream_not_found: 404,
  not_publisher: 403,
  not_subscribed: 404,
  already_subscribed: 409,
  unknown_request: 400,
  negotiation_timeout: 504,
  negotiation_failed: 409,
  over_capacity: 503,
  rate_limited: 429,
  too_many_sessions: 429,
  origin_not_allowed: 403,
  session_closed: 410,
  internal: 500,
};

const PUBLIC_DIR = new URL('../../public/', import.meta.url);

/** Reads the offer from a raw SDP body or `{"type":"offer","sdp":…}`. */
async function readOffer(type: string, body: () => Promise<string>): Promise<{ sdp: string; json: boolean }> {
  if (type === 'application/sdp' || type === 'text/plain') return { sdp: await body(), json: false };
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await body());
    } catch {
      throw new AppError('bad_request', 'body is not valid JSON');
    }
    const offer = parsed as { type?: unknown; sdp?: unknown };
    if (typeof parsed !== 'object' || parsed === null || offer.type !== 'offer' || typeof offer.sdp !== 'string') {
      throw new AppError('bad_request', 'JSON body must be {"type":"offer","sdp":"…"}');
    }
    return { sdp: offer.sdp, json: true };
  }
  throw new AppError('unsupported_content_type', 'send the offer as application/sdp, text/plain or application/json');
}

/** The socket peer's address; undefined outside a Node server (app.request() without env). */
function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

export function createApp(deps: AppDeps): Hono {
  const { config, sessions, pool, metrics } = deps;
  const app = new Hono();
  const openCors = config.corsOrigins.trim() === '*';
  const origins = openCors ? '*' : config.corsOrigins.split(',').map((o) => o.trim()).filter((o) => o !== '');
  // CORS-simple (no preflight), so any page could post it: only in the open default or when allowed explicitly.
  const textPlainAllowed = openCors || config.allowTextPlainOffers;
  const trustedProxies = CidrSet.parse(config.trustedProxies);
  const limiter = new AddressLimiter(config);
  const bodyLimits: BodyLimits = { maxBytes: config.maxSessionOfferBytes + 1024, maxDiscardBytes: config.maxDiscardBodyBytes };
  app.use('/createSession', cors({ origin: origins, allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Authorization'], maxAge: 600 }));

  app.post('/createSession', bodyHygiene(bodyLimits), async (c) => {
    // CORS headers only stop a page reading the answer; a simple request is still processed.
    const origin = c.req.header('origin');
    if (origin !== undefined && origins !== '*' && !origins.includes(origin)) {
      throw new AppError('origin_not_allowed', `origin ${JSON.stringify(origin.slice(0, 200))} may not create sessions here`);
    }
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'text/plain' && !textPlainAllowed) {
      throw new AppError('unsupported_content_type', 'this focus takes the offer as application/sdp or application/json (text/plain is refused once an origin allow-list is set)');
    }
    if (type !== 'application/sdp' && type !== 'text/plain' && type !== 'application/json') {
      throw new AppError('unsupported_content_type', 'send the offer as application/sdp, text/plain or application/json');
    }
    // Before anything touches a worker: the address's rate and live-session share.
    const release = limiter.acquire(addressKey(clientAddress(peerAddress(c), c.req.header('x-forwarded-for'), trustedProxies)));
    try {
      const offer = await readOffer(type, () => readBodyText(c.req.raw, bodyLimits));
      const { session, answer } = await sessions.create(offer.sdp);
      if (session.closed) release();
      else session.once('close', release);
      if (offer.json) return c.json({ type: 'answer', sdp: answer });
      return c.body(answer, 200, { 'Content-Type': 'application/sdp' });
    } catch (error) {
      release();
      throw error;
    }
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const ready = pool.healthy && !sessions.draining;
    return c.json({ status: ready ? 'ready' : 'not_ready', workers: pool.healthy, draining: sessions.draining }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  if (config.demo) {
    const page = readFileSync(new URL('demo.html', PUBLIC_DIR), 'utf8');
    const client = readFileSync(new URL('foci-client.js', PUBLIC_DIR), 'utf8');
    app.get('/', (c) => c.html(page));
    app.get('/demo', (c) => c.html(page));
    app.get('/foci-client.js', (c) => c.body(client, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  }

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'no such route' } }, 404));
  app.onError((error, c) => {
    const appError = toAppError(error);
    const { code, message, ref } = publicError(appError);
    if (ref !== undefined) deps.log.error({ err: error, ref, path: c.req.path }, 'request failed');
    if (c.req.path === '/createSession') metrics.createSessionErrors.inc({ code });
    if (appError.retryAfterS !== undefined) c.header('Retry-After', String(appError.retryAfterS));
    return c.json({ error: { code, message } }, STATUS[code]);
  });
  return app;
}
