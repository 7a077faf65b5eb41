// The floor under Foci in the benchmarks: the same mediasoup worker and router
// codecs, driven directly, with plain RTP transports instead of WebRTC (no
// ICE, no DTLS, no SRTP, no signaling). Run as a child of bench/run.ts; it
// takes one JSON request per stdin line and answers one JSON line on stdout
// (bench/child-rpc.ts).
//
//   {"id":1,"method":"produce","params":{"audioSsrc":1,"videoSsrc":2}}
//   {"id":2,"method":"consume","params":{"producerIds":["…"],"port":40000}}
//   {"id":3,"method":"close","params":{"transportId":"…"}}
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { MEDIA_CODECS } from '../src/media/codecs.ts';
import { serveRpc } from './child-rpc.ts';

const LISTEN: types.TransportListenInfo = { protocol: 'udp', ip: '127.0.0.1' };

const worker = await mediasoup.createWorker({ logLevel: 'warn' });
const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
const transports = new Map<string, types.PlainTransport>();
const producers = new Map<string, types.Producer>();

function codec(mimeType: string): types.RtpCodecParameters {
  const capability = router.rtpCapabilities.codecs!.find((c) => c.mimeType === mimeType)!;
  return {
    mimeType,
    payloadType: capability.preferredPayloadType!,
    clockRate: capability.clockRate,
    ...(capability.channels ? { channels: capability.channels } : {}),
    rtcpFeedback: (capability.rtcpFeedback ?? []).filter((f) => f.type !== 'transport-cc'),
  };
}

/**
 * What the consumers are told the receiver supports: the router's codecs and
 * extensions without transport-cc, as the load clients negotiate with every
 * target (bench/transport-cc.ts).
 */
const RECEIVE_CAPABILITIES: types.RtpCapabilities = {
  codecs: (router.rtpCapabilities.codecs ?? []).map((c) => ({ ...c, rtcpFeedback: (c.rtcpFeedback ?? []).filter((f) => f.type !== 'transport-cc') })),
  headerExtensions: (router.rtpCapabilities.headerExtensions ?? []).filter((e) => !e.uri.includes('transport-wide-cc')),
};

const methods = {
  /** One plain transport that learns the sender's address from its first packet (comedia). */
  async produce({ audioSsrc, videoSsrc }: { audioSsrc?: number; videoSsrc?: number }) {
    const transport = await router.createPlainTransport({ listenInfo: LISTEN, rtcpMux: true, comedia: true });
    transports.set(transport.id, transport);
    const made: { kind: 'audio' | 'video'; producerId: string; payloadType: number }[] = [];
    for (const [kind, ssrc, mime] of [['audio', audioSsrc, 'audio/opus'], ['video', videoSsrc, 'video/VP8']] as const) {
      if (ssrc === undefined) continue;
      const parameters = codec(mime);
      const producer = await transport.produce({ kind, rtpParameters: { codecs: [parameters], encodings: [{ ssrc }] } });
      producers.set(producer.id, producer);
      made.push({ kind, producerId: producer.id, payloadType: parameters.payloadType });
    }
    return { transportId: transport.id, port: transport.tuple.localPort, producers: made };
  },

  /** One plain transport per subscriber, sending every given producer to 127.0.0.1:port. */
  async consume({ producerIds, port }: { producerIds: string[]; port: number }) {
    const transport = await router.createPlainTransport({ listenInfo: LISTEN, rtcpMux: true, comedia: false });
    transports.set(transport.id, transport);
    await transport.connect({ ip: '127.0.0.1', port });
    const tracks = [];
    for (const producerId of producerIds) {
      const consumer = await transport.consume({ producerId, rtpCapabilities: RECEIVE_CAPABILITIES });
      const encoding = consumer.rtpParameters.encodings![0]!;
      tracks.push({ kind: consumer.kind, ssrc: encoding.ssrc!, rtxSsrc: encoding.rtx?.ssrc, mid: consumer.rtpParameters.mid ?? String(tracks.length) });
    }
    return { transportId: transport.id, tracks };
  },

  async close({ transportId }: { transportId: string }) {
    transports.get(transportId)?.close();
    transports.delete(transportId);
    return {};
  },
};

serveRpc(methods, worker.pid, () => worker.close());
