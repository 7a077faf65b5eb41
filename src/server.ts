// The composition root: builds every service from the config and wires them.
// main.ts runs it; tests start it in-process on ephemeral ports.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { PublicationRegistry } from './media/registry.ts';
import { WorkerPool } from './media/worker-pool.ts';
import { SessionManager } from './signaling/sessions.ts';
import { createApp } from './http/app.ts';

export interface Foci {
  url: string;
  config: Config;
  log: Logger;
  pool: WorkerPool;
  registry: PublicationRegistry;
  sessions: SessionManager;
  close(): Promise<void>;
}

export async function startFoci(config: Config, log: Logger = createLogger(config.logLevel)): Promise<Foci> {
  const pool = await WorkerPool.start(
    {
      workers: config.workers,
      listenIp: config.mediaListenIp,
      announcedAddress: config.announcedAddress,
      basePort: config.mediaPort,
      udpSocketBufferBytes: config.udpSocketBufferBytes,
    },
    log,
  );
  const registry = new PublicationRegistry();
  const sessions = new SessionManager(config, log, pool, registry);
  const metrics = createMetrics(sessions, registry, pool);
  const app = createApp({ config, log, sessions, pool, metrics });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: config.listenHost, port: config.listenPort }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    config,
    log,
    pool,
    registry,
    sessions,
    close() {
      closing ??= (async () => {
        sessions.closeAll('server_shutdown');
        await new Promise<void>((resolve) => server.close(() => resolve()));
        pool.close();
      })();
      return closing;
    },
  };
}
