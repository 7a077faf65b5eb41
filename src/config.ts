// The one typed configuration module: defaults that work on a laptop, each
// overridable from the environment, validated once at start-up.
import os from 'node:os';
import { z } from 'zod';
import { CidrSet } from './http/client-address.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const cidrList = z.string().refine(
  (v) => {
    try {
      CidrSet.parse(v);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'a comma-separated list of addresses or CIDRs (e.g. "10.0.0.0/8, ::1")' },
);
const bool = z.union([z.boolean(), z.enum(['1', '0', 'true', 'false'])]).transform((v) => v === true || v === '1' || v === 'true');

export const ConfigSchema = z.object({
  /** Address and port of the HTTP API (createSession, health, demo). */
  listenHost: z.string().min(1).default('127.0.0.1'),
  listenPort: port.default(8080),
  /** Address the media sockets bind to. */
  mediaListenIp: z.string().min(1).default('127.0.0.1'),
  /** Address put in ICE candidates (a public IP behind NAT); defaults to mediaListenIp. */
  announcedAddress: z.string().min(1).optional(),
  /** First media port: worker i listens on UDP and TCP port mediaPort + i. */
  mediaPort: port.default(40000),
  /**
   * Kernel send and receive buffer (SO_SNDBUF/SO_RCVBUF) of each worker's UDP
   * socket. Every session on a worker shares that one socket, so frames that
   * many publishers send at the same moment arrive together; with the kernel's
   * default (~208 KiB) a burst from a few dozen publishers overflows it. The
   * kernel caps it at net.core.rmem_max / wmem_max.
   */
  udpSocketBufferBytes: positiveInt.default(4 * 1024 * 1024),
  /** mediasoup workers; one per core by default. */
  workers: positiveInt.default(Math.max(1, os.availableParallelism())),
  /** Capacity limits: over them, publish/subscribe/createSession answer over_capacity. */
  maxSessions: positiveInt.default(500),
  maxTracksPerSession: positiveInt.default(32),
  maxConsumersPerWorker: positiveInt.default(2000),
  /**
   * Signaling limits. Sized from measured Chromium offers (fixtures/sdp/README.md):
   * every member's connection carries every subscribed track, ~5.4 KB of offer
   * per remote member (audio + video); a member of a 25-member call re-offers
   * ~146 KB with a screenshare, ~40 members reach the SDP cap. A message can be
   * no larger than the data channel's max-message-size (256 KiB); JSON escaping
   * adds ~7 % to Chromium's SDP, so the SDP cap (224 KiB) still fits in a
   * message under the message cap (250 KiB), and each answers with its own
   * typed error instead of the browser's send() throwing.
   */
  maxMessageBytes: positiveInt.default(250 * 1024),
  maxSdpBytes: positiveInt.default(224 * 1024),
  /** The createSession body: a datachannel-only offer (~600 bytes from Chromium). */
  maxSessionOfferBytes: positiveInt.default(16 * 1024),
  maxSdpLineBytes: positiveInt.default(4096),
  maxKeyLength: positiveInt.default(255),
  /** A server offer not answered within this time fails its request. */
  negotiationTimeoutMs: positiveInt.default(15_000),
  /** A session whose signaling channel is not open this soon after createSession is closed. */
  connectTimeoutMs: positiveInt.default(20_000),
  /** A peer whose ICE consent checks stop is gone after this many seconds (mediasoup's iceConsentTimeout). */
  iceConsentTimeoutS: positiveInt.default(15),
  /**
   * Fast leave: a client counts as gone once nothing at all (media, RTCP, STUN,
   * SCTP) has arrived from it for peerSilenceTimeoutMs and a heartbeat sent on
   * its channel went unacknowledged for peerProbeGraceMs; the byte counter is
   * read every livenessIntervalMs. A closed tab ends its streams for
   * everyone in about peerSilenceTimeoutMs + livenessIntervalMs.
   */
  livenessIntervalMs: positiveInt.default(500),
  peerSilenceTimeoutMs: positiveInt.default(2500),
  peerProbeGraceMs: positiveInt.default(1000),
  /** How often the worker-side signaling data consumer is checked (the worker can drop it silently). */
  channelCheckIntervalMs: positiveInt.default(5_000),
  /** Start bitrate the SFU assumes towards a subscriber before its estimate converges. */
  initialOutgoingBitrate: positiveInt.default(1_500_000),
  /** CORS: '*' or a comma-separated list of origins. */
  corsOrigins: z.string().default('*'),
  /**
   * text/plain createSession bodies are CORS-simple: any page can make its
   * visitors' browsers post one without a preflight. They are accepted while
   * corsOrigins is '*' (the open default); once an origin allow-list is set
   * they are refused (415) unless this is on.
   */
  allowTextPlainOffers: bool.default(false),
  /**
   * Abuse limits on createSession, per client address (IPv4 address, or IPv6
   * /64), checked before any worker object is made. Sized so that a busy
   * office behind one NAT (100+ people joining a meeting within a minute, or
   * all reconnecting at once after a network blip) gets through, while one
   * host cannot hold more than its share of maxSessions: a half-open session
   * holds worker objects for connectTimeoutMs. 0 turns a limit off.
   */
  maxSessionsPerAddress: nonNegativeInt.default(200),
  createSessionRatePerS: z.coerce.number().min(0).default(3),
  createSessionBurst: positiveInt.default(150),
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses or
   * CIDRs). Empty: the socket peer is the client.
   */
  trustedProxies: cidrList.default(''),
  /**
   * An oversized createSession body is read and thrown away up to this many
   * bytes, so the 413 arrives and the connection stays usable; a larger one
   * gets its 413 with Connection: close.
   */
  maxDiscardBodyBytes: positiveInt.default(1024 * 1024),
  /** Signaling messages per session: sustained rate and burst (token bucket); 0 turns it off. */
  maxMessagesPerS: z.coerce.number().min(0).default(50),
  messageBurst: positiveInt.default(200),
  /** Streams one session may subscribe to at once. */
  maxSubscriptionsPerSession: positiveInt.default(128),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Serve the demo page at / and /demo. */
  demo: bool.default(true),
}).refine((c) => c.mediaPort === 0 || c.mediaPort + c.workers - 1 <= 65535, {
  message: 'mediaPort + workers - 1 must be a port (≤ 65535)',
  path: ['mediaPort'],
});

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variable for each config key (FOCI_ prefix, SCREAMING_SNAKE_CASE). */
export function envName(key: string): string {
  return 'FOCI_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Builds the config from defaults, then the environment, then explicit overrides (tests). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const fromEnv: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const value = env[envName(key)]?.trim();
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const parsed = ConfigSchema.safeParse({ ...fromEnv, ...overrides });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${envName(String(i.path[0]))}: ${i.message}`);
    throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
