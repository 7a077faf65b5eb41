import { describe, expect, it } from 'vitest';
import { ConfigSchema, envName, loadConfig } from '../../src/config.ts';

describe('envName', () => {
  it.each([
    ['maxSdpBytes', 'FOCI_MAX_SDP_BYTES'],
    ['listenPort', 'FOCI_LISTEN_PORT'],
    ['demo', 'FOCI_DEMO'],
    ['iceConsentTimeoutS', 'FOCI_ICE_CONSENT_TIMEOUT_S'],
    ['udpSocketBufferBytes', 'FOCI_UDP_SOCKET_BUFFER_BYTES'],
  ])('maps %s to %s', (key, name) => {
    expect(envName(key)).toBe(name);
  });

  it('gives every config key its own variable', () => {
    const names = Object.keys(ConfigSchema.shape).map(envName);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('loadConfig: defaults', () => {
  const config = loadConfig({}, {});

  it('listens on 127.0.0.1:8080', () => {
    expect([config.listenHost, config.listenPort]).toEqual(['127.0.0.1', 8080]);
  });

  it('binds media on 127.0.0.1 from port 40000 with no announced address', () => {
    expect([config.mediaListenIp, config.mediaPort, config.announcedAddress]).toEqual(['127.0.0.1', 40000, undefined]);
  });

  it('caps SDP at 224 KiB with 4096-byte lines, in messages of at most 250 KiB (the channel\'s max-message-size)', () => {
    expect([config.maxSdpBytes, config.maxSdpLineBytes, config.maxMessageBytes]).toEqual([224 * 1024, 4096, 250 * 1024]);
    expect(config.maxMessageBytes).toBeLessThanOrEqual(262144);
  });

  it('allows any CORS origin, logs at info and serves the demo', () => {
    expect([config.corsOrigins, config.logLevel, config.demo]).toEqual(['*', 'info', true]);
  });

  it('gives each worker socket 4 MiB of kernel buffer', () => {
    expect(config.udpSocketBufferBytes).toBe(4 * 1024 * 1024);
  });

  it('runs at least one worker', () => {
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });
});

describe('loadConfig: environment', () => {
  it('reads FOCI_LISTEN_PORT as a number', () => {
    expect(loadConfig({ FOCI_LISTEN_PORT: '9000' }).listenPort).toBe(9000);
  });

  it('reads FOCI_LISTEN_HOST, FOCI_ANNOUNCED_ADDRESS and FOCI_CORS_ORIGINS as strings', () => {
    const config = loadConfig({ FOCI_LISTEN_HOST: '0.0.0.0', FOCI_ANNOUNCED_ADDRESS: '203.0.113.7', FOCI_CORS_ORIGINS: 'https://a.example' });
    expect([config.listenHost, config.announcedAddress, config.corsOrigins]).toEqual(['0.0.0.0', '203.0.113.7', 'https://a.example']);
  });

  it('reads FOCI_MAX_SDP_BYTES', () => {
    expect(loadConfig({ FOCI_MAX_SDP_BYTES: '1000' }).maxSdpBytes).toBe(1000);
  });

  it.each([
    ['false', false],
    ['0', false],
    ['true', true],
    ['1', true],
  ])('reads FOCI_DEMO=%s as %s', (value, expected) => {
    expect(loadConfig({ FOCI_DEMO: value }).demo).toBe(expected);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ FOCI_LISTEN_PORT: '' }).listenPort).toBe(8080);
  });

  it('ignores variables without the FOCI_ prefix', () => {
    expect(loadConfig({ LISTEN_PORT: '1', PORT: '2' }).listenPort).toBe(8080);
  });

  it('lets explicit overrides win over the environment', () => {
    expect(loadConfig({ FOCI_LISTEN_PORT: '9000' }, { listenPort: 9001 }).listenPort).toBe(9001);
  });
});

describe('loadConfig: invalid values', () => {
  it.each([
    ['FOCI_LISTEN_PORT', 'abc'],
    ['FOCI_LISTEN_PORT', '70000'],
    ['FOCI_LISTEN_PORT', '80.5'],
    ['FOCI_MEDIA_PORT', '-1'],
    ['FOCI_MAX_SDP_BYTES', '0'],
    ['FOCI_WORKERS', 'many'],
    ['FOCI_LOG_LEVEL', 'loud'],
    ['FOCI_DEMO', 'yes'],
  ])('rejects %s=%s with an error naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`invalid configuration:[\\s\\S]*${name}`));
  });

  it('lists every invalid variable in one error', () => {
    let message = '';
    try {
      loadConfig({ FOCI_LISTEN_PORT: 'abc', FOCI_LOG_LEVEL: 'loud' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('FOCI_LISTEN_PORT');
    expect(message).toContain('FOCI_LOG_LEVEL');
  });

  it('does not read a whitespace-only FOCI_LISTEN_PORT as port 0', () => {
    let port: number | undefined;
    try {
      port = loadConfig({ FOCI_LISTEN_PORT: ' ' }).listenPort;
    } catch {
      port = undefined; // rejecting the value is fine too
    }
    expect(port).not.toBe(0);
  });

  it('names the variable for an invalid override too', () => {
    expect(() => loadConfig({}, { maxSdpLineBytes: -5 })).toThrow(/FOCI_MAX_SDP_LINE_BYTES/);
  });
});
