// How every project tool starts Debian's Chromium: headless, no network
// chatter (the machines have no internet), fake camera, microphone and screen.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // getDisplayMedia() picks a source without a picker dialog.
  '--auto-select-desktop-capture-source=Entire screen',
  '--auto-accept-this-tab-capture',
  // Remote audio plays without a click, so its energy can be measured.
  '--autoplay-policy=no-user-gesture-required',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** A Chromium in its own process group, so a test can make it vanish. */
export interface ChromiumProcess {
  browser: Browser;
  /** The browser's main process; its helpers share its process group. */
  pid: number;
  /**
   * SIGKILLs the whole process group (browser, renderers, network service):
   * the browser sends nothing more, no DTLS close alert, no SCTP ABORT.
   */
  kill(): void;
  close(): Promise<void>;
}

/**
 * Launches Chromium as a browser server (playwright spawns it as a process
 * group leader) and connects to it.
 */
export async function launchChromiumProcess(): Promise<ChromiumProcess> {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  const pid = server.process().pid;
  if (pid === undefined) {
    await server.close();
    throw new Error('Chromium did not start');
  }
  const browser = await chromium.connect(server.wsEndpoint());
  let killed = false;
  return {
    browser,
    pid,
    kill() {
      if (killed) return;
      killed = true;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        server.process().kill('SIGKILL');
      }
    },
    async close() {
      if (!killed) await browser.close().catch(() => undefined);
      await server.close().catch(() => undefined);
      if (!killed) {
        killed = true;
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}
