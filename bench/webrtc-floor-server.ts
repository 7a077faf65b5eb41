// The WebRTC floor under Foci in the benchmarks: the same mediasoup worker,
// router codecs and transport settings as a Foci worker, with a WebRtcServer
// and one WebRtcTransport per client (ICE-lite, DTLS-SRTP), answering the
// clients' offers with SDP built by src/sdp. No data channel, no signaling
// channel, no session logic: the load's offers arrive over stdin (see
// bench/child-rpc.ts) and answers go back the same way. Run as a child of
// bench/run.ts (bench/webrtc-floor.ts).
//
//   open      {}                                   → {transportId, headerExtensions: [{kind, uri, id}], vp8Rtx}
//   publish   {transportId, sdp}                   → {sdp, producers: [{kind, producerId}]}
//   subscribe {transportId, sdp, producers}        → {sdp, consumers: [{consumerId, mid, kind, ssrc, rtxSsrc}]}
//   resume    {transportId, consumerIds}           → {}   (after the client applied the answer)
//   close     {transportId}                        → {}
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { loadConfig } from '../src/config.ts';
import { MEDIA_CODECS } from '../src/media/codecs.ts';
import { capabilitiesFromAnswer, chooseCodecs, producerParameters } from '../src/sdp/codecs.ts';
import { parseSdp, remoteReceives, remoteSends, remoteTransportInfo, senderInfo, type MediaDescription, type SessionDescription } from '../src/sdp/parse.ts';
import { SessionSdp } from '../src/sdp/session-sdp.ts';
import { consumerSection } from '../src/signaling/subscribe.ts';
import { serveRpc } from './child-rpc.ts';

// Foci's own defaults (or FOCI_* overrides): socket buffers, SDP limits, consent timeout, start bitrate.
const config = loadConfig();
const worker = await mediasoup.createWorker({ logLevel: 'warn' });
const webRtcServer = await worker.createWebRtcServer({
  listenInfos: [
    { protocol: 'udp', ip: '127.0.0.1', recvBufferSize: config.udpSocketBufferBytes, sendBufferSize: config.udpSocketBufferBytes },
    { protocol: 'tcp', ip: '127.0.0.1' },
  ],
});
const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });

interface Client {
  transport: types.WebRtcTransport;
  sdp: SessionSdp;
  connected: boolean;
  consumers: Map<string, types.Consumer>;
}
const clients = new Map<string, Client>();

function client(transportId: string): Client {
  const c = clients.get(transportId);
  if (!c) throw new Error(`no transport ${transportId}`);
  return c;
}

/** Parses an offer; the first one also connects DTLS (our answers say a=setup:passive, so the client is the DTLS client). */
async function offerOf(c: Client, text: string): Promise<SessionDescription> {
  const offer = parseSdp(text, config);
  if (!c.connected) {
    await c.transport.connect({ dtlsParameters: { role: 'client', fingerprints: remoteTransportInfo(offer).fingerprints } });
    c.connected = true;
  }
  return offer;
}

/** The offer's sections this connection has not seen yet, in offer order. */
function fresh(c: Client, offer: SessionDescription): MediaDescription[] {
  return offer.media.filter((m) => !c.sdp.find(String(m.mid)));
}

const methods = {
  async open() {
    const transport = await router.createWebRtcTransport({
      webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      iceConsentTimeout: config.iceConsentTimeoutS,
      initialAvailableOutgoingBitrate: config.initialOutgoingBitrate,
    });
    const sdp = new SessionSdp({
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      fingerprints: transport.dtlsParameters.fingerprints,
      // No m=application section is ever rendered.
      sctpPort: 0,
      maxMessageSize: 0,
    });
    clients.set(transport.id, { transport, sdp, connected: false, consumers: new Map() });
    // What Foci's priming offer teaches a client: the router's header extensions and ids.
    const headerExtensions = (router.rtpCapabilities.headerExtensions ?? []).filter((e) => e.direction !== 'inactive').map((e) => ({ kind: e.kind, uri: e.uri, id: e.preferredId }));
    // And the RTX payload type the router pairs with VP8 (the load's video codec).
    const vp8 = router.rtpCapabilities.codecs!.find((k) => k.mimeType === 'video/VP8')!;
    const vp8Rtx = router.rtpCapabilities.codecs!.find((k) => k.mimeType === 'video/rtx' && Number(k.parameters?.apt) === vp8.preferredPayloadType)?.preferredPayloadType;
    return { transportId: transport.id, headerExtensions, vp8Rtx };
  },

  /** A producer for every new send-only section of the offer. */
  async publish({ transportId, sdp }: { transportId: string; sdp: string }) {
    const c = client(transportId);
    const offer = await offerOf(c, sdp);
    const producers: { kind: types.MediaKind; producerId: string }[] = [];
    for (const m of fresh(c, offer)) {
      if ((m.type !== 'audio' && m.type !== 'video') || !remoteSends(m)) throw new Error(`publish offer section ${m.mid} does not send media`);
      const chosen = chooseCodecs(m, router.rtpCapabilities);
      const producer = await c.transport.produce({ kind: m.type, rtpParameters: producerParameters(m, chosen) });
      producers.push({ kind: producer.kind, producerId: producer.id });
      c.sdp.sections.push({ kind: m.type, mid: String(m.mid), closed: false, codecs: chosen.codecs, headerExtensions: chosen.headerExtensions, recv: { rids: senderInfo(m).rids } });
    }
    return { sdp: c.sdp.render(offer), producers };
  },

  /** A paused consumer of one of `producers` (matched by kind, in order) in every new receive-only section. */
  async subscribe({ transportId, sdp, producers }: { transportId: string; sdp: string; producers: { kind: types.MediaKind; producerId: string }[] }) {
    const c = client(transportId);
    const offer = await offerOf(c, sdp);
    const left = [...producers];
    const consumers = [];
    for (const m of fresh(c, offer)) {
      if ((m.type !== 'audio' && m.type !== 'video') || remoteSends(m) || !remoteReceives(m)) throw new Error(`subscribe offer section ${m.mid} is not receive-only media`);
      const index = left.findIndex((p) => p.kind === m.type);
      if (index < 0) throw new Error(`no ${m.type} track left for section ${m.mid}`);
      const caps = capabilitiesFromAnswer([m], router.rtpCapabilities);
      const consumer = await c.transport.consume({
        producerId: left.splice(index, 1)[0]!.producerId,
        rtpCapabilities: caps,
        paused: true,
        mid: String(m.mid),
        enableRtx: (caps.codecs ?? []).some((k) => /\/rtx$/i.test(k.mimeType)),
      });
      c.consumers.set(consumer.id, consumer);
      c.sdp.sections.push(consumerSection(consumer, String(m.mid), `floor-${transportId.slice(0, 8)}`));
      const encoding = consumer.rtpParameters.encodings![0]!;
      consumers.push({ consumerId: consumer.id, mid: String(m.mid), kind: consumer.kind, ssrc: encoding.ssrc!, rtxSsrc: encoding.rtx?.ssrc });
    }
    return { sdp: c.sdp.render(offer), consumers };
  },

  async resume({ transportId, consumerIds }: { transportId: string; consumerIds: string[] }) {
    const c = client(transportId);
    for (const id of consumerIds) {
      const consumer = c.consumers.get(id);
      if (!consumer) continue;
      await consumer.resume();
      if (consumer.kind === 'video') await consumer.requestKeyFrame();
    }
    return {};
  },

  async close({ transportId }: { transportId: string }) {
    clients.get(transportId)?.transport.close();
    clients.delete(transportId);
    return {};
  },
};

serveRpc(methods, worker.pid, () => worker.close());
