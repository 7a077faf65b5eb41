// HTTP edge: createSession, health, metrics and the demo. Routes stay thin;
// errors are AppErrors mapped to a status in onError, the one place.
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError, toAppError, type ErrorCode } from '../errors.ts';
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
  session_closed: 410,
  internal: 500,
};

const PUBLIC_DIR = new URL('../../public/', import.meta.url);

/** Reads the offer from a raw SDP body or `{"type":"offer","sdp":…}`. */
async function readOffer(contentType: string, body: () => Promise<string>): Promise<{ sdp: string; json: boolean }> {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
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

export function createApp(deps: AppDeps): Hono {
  const { config, sessions, pool, metrics } = deps;
  const app = new Hono();
  const origins = config.corsOrigins.trim() === '*' ? '*' : config.corsOrigins.split(',').map((o) => o.trim());
  app.use('/createSession', cors({ origin: origins, allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'Authorization'], maxAge: 600 }));

  app.post(
    '/createSession',
    bodyLimit({
      maxSize: config.maxSessionOfferBytes + 1024,
      onError: () => {
        throw new AppError('too_large', `body is larger than ${config.maxSessionOfferBytes} bytes`);
      },
    }),
    async (c) => {
      const offer = await readOffer(c.req.header('content-type') ?? '', () => c.req.text());
      const { answer } = await sessions.create(offer.sdp);
      if (offer.json) return c.json({ type: 'answer', sdp: answer });
      return c.body(answer, 200, { 'Content-Type': 'application/sdp' });
    },
  );

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
    if (appError.code === 'internal') deps.log.error({ err: error }, 'request failed');
    if (c.req.path === '/createSession') metrics.createSessionErrors.inc({ code: appError.code });
    return c.json({ error: { code: appError.code, message: appError.message } }, STATUS[appError.code]);
  });
  return app;
}
