import type { types } from 'mediasoup';

// The codecs every router forwards. Payload types follow Chromium's defaults
// where it has one, so the ids a browser learns from our offers rarely collide
// with the ones it picks itself. mediasoup adds RTX for each video codec (its
// payload types come from mediasoup's pool; the priming offer teaches them to
// the browser before it picks its own).
export const MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 111, parameters: { minptime: 10, useinbandfec: 1 } },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 96 },
  { kind: 'video', mimeType: 'video/VP9', clockRate: 90000, preferredPayloadType: 98, parameters: { 'profile-id': 0 } },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    preferredPayloadType: 108,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    preferredPayloadType: 116,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '4d001f', 'level-asymmetry-allowed': 1 },
  },
];
