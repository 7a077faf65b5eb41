// How the tests start Debian's Firefox ESR: headless, driven by puppeteer-core
// over WebDriver BiDi, with a fresh profile per launch, fake camera and
// microphone, no permission prompts, and nothing that calls home (these
// machines have no network beyond loopback).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/** Preferences on top of puppeteer's own test profile (which already turns off most background traffic). */
export const FIREFOX_PREFS: Record<string, unknown> = {
  // Fake camera and microphone, granted without a prompt.
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // A page without camera/microphone permission gathers ICE candidates on the
  // default route's address only (never loopback); granting both by default
  // lets a subscribe-only page reach a focus on 127.0.0.1 as well.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  // Remote audio plays without a click, so its energy can be measured.
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.autoplay.block-webaudio': false,
  // The focus listens on 127.0.0.1: Firefox leaves loopback out of ICE unless told,
  // and would hide host addresses behind mDNS names.
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.peerconnection.ice.no_host': false,
  // Nothing that calls home.
  'app.update.auto': false,
  'app.update.enabled': false,
  'app.update.staging.enabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.coverage.opt-out': true,
  'toolkit.coverage.opt-out': true,
  'datareporting.usage.uploadEnabled': false,
  'browser.ping-centre.telemetry': false,
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.safebrowsing.update.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'network.trr.mode': 5,
  'captivedetect.canonicalURL': '',
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.aboutHomeSnippets.updateUrl': '',
  'browser.newtabpage.activity-stream.feeds.snippets': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.discovery.enabled': false,
  'extensions.blocklist.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'extensions.getAddons.showPane': false,
  'media.gmp-gmpopenh264.enabled': false,
  'media.gmp-gmpopenh264.autoupdate': false,
  'media.gmp-widevinecdm.enabled': false,
  'media.eme.enabled': false,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'services.sync.enabled': false,
  'identity.fxaccounts.enabled': false,
  'geo.enabled': false,
};

/** A headless Firefox ESR with a fresh temporary profile (puppeteer removes it on close). */
export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: FIREFOX_PATH,
    headless: true,
    extraPrefsFirefox: FIREFOX_PREFS,
    // Firefox starts slowly on a loaded 2-core machine. FIREFOX_MOZ_LOG (e.g.
    // "nicer:5,jsep:5") writes Firefox's own logs to $TMPDIR/firefox-moz.log*.
    timeout: 60_000,
    ...(process.env.FIREFOX_MOZ_LOG ? { env: { ...process.env, MOZ_LOG: process.env.FIREFOX_MOZ_LOG, MOZ_LOG_FILE: join(tmpdir(), 'firefox-moz.log') } } : {}),
    protocolTimeout: 60_000,
  });
}
