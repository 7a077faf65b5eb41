// `npm start`: a focus with the embedded defaults, overridable by FOCI_* env vars.
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startFoci } from './server.ts';

const config = loadConfig();
const log = createLogger(config.logLevel);
const foci = await startFoci(config, log);
log.info({ url: foci.url, workers: config.workers, mediaPort: config.mediaPort }, 'foci is running');
if (config.demo) console.log(`\nFoci is running. Open ${foci.url}/ in two browser tabs to try a call.\n`);

// One session's stray failure must not end every call on this focus.
process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'shutting down');
    foci.close().then(() => process.exit(0));
  });
}
