// Text messages over the WebRTC data channel named `signaling`, spoken with
// the worker's SCTP stack. mediasoup does not implement DCEP (RFC 8832), so the
// DATA_CHANNEL_OPEN/ACK messages are written here by hand.
//
// Streams: as DTLS server the SFU owns odd stream ids, the browser even ones.
//   stream 1: the channel the server opens (OPEN sent once SCTP is connected).
//   stream 0: a channel the client may open itself; it is `signaling` only if
//             its OPEN says so (a client's throwaway channel also lands here).
// Outbound streams are DataConsumers of a DataProducer that never sends; the
// transport hands out stream ids 0, 1, 2… in creation order. Inbound streams
// are DataProducers on the WebRtcTransport, consumed by the router's
// DirectTransport so that Node sees each message.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';

const PPID_DCEP = 50;
const PPID_STRING = 51;
const PPID_BINARY = 53;
const PPID_STRING_EMPTY = 56;
const PPID_BINARY_EMPTY = 57;
const DCEP_OPEN = 0x03;
const DCEP_ACK = 0x02;
const SERVER_STREAM = 1;
const CLIENT_STREAM = 0;

export const SIGNALING_LABEL = 'signaling';

export type SctpLinkCloseReason = 'transport_closed' | 'sctp_closed' | 'channel_lost';

export interface SctpLinkEvents {
  /** The server-opened channel is announced and usable. */
  open: [];
  /** A text message on a `signaling` channel; `stream` is where to reply. */
  message: [text: string, stream: number];
  /** The client opened its own `signaling` channel: server messages go there from now on. */
  primarychange: [stream: number];
  close: [reason: SctpLinkCloseReason];
}

/** Encodes DATA_CHANNEL_OPEN for a reliable, ordered channel (RFC 8832 §5.1). */
export function encodeDcepOpen(label: string, protocol = ''): Buffer {
  const labelBytes = Buffer.from(label, 'utf8');
  const protocolBytes = Buffer.from(protocol, 'utf8');
  const header = Buffer.alloc(12);
  header.writeUInt8(DCEP_OPEN, 0);
  header.writeUInt8(0x00, 1); // DATA_CHANNEL_RELIABLE
  header.writeUInt16BE(0, 2); // priority
  header.writeUInt32BE(0, 4); // reliability parameter
  header.writeUInt16BE(labelBytes.length, 8);
  header.writeUInt16BE(protocolBytes.length, 10);
  return Buffer.concat([header, labelBytes, protocolBytes]);
}

/** The label of a DATA_CHANNEL_OPEN, or undefined if the bytes are not one. */
export function decodeDcepOpenLabel(data: Buffer): string | undefined {
  if (data.length < 12 || data.readUInt8(0) !== DCEP_OPEN) return undefined;
  const labelLength = data.readUInt16BE(8);
  if (data.length < 12 + labelLength) return undefined;
  return data.subarray(12, 12 + labelLength).toString('utf8');
}

export class SctpLink extends EventEmitter<SctpLinkEvents> {
  readonly #transport: types.WebRtcTransport;
  readonly #outbound: Map<number, types.DataConsumer>;
  readonly #inbound: types.DataProducer[];
  readonly #taps: types.DataConsumer[];
  /** Streams carrying a `signaling` channel. */
  readonly #signalingStreams = new Set<number>([SERVER_STREAM]);
  #primary = SERVER_STREAM;
  #open = false;
  #closed = false;
  #healthTimer: NodeJS.Timeout | undefined;

  private constructor(
    transport: types.WebRtcTransport,
    outbound: Map<number, types.DataConsumer>,
    inbound: types.DataProducer[],
    taps: types.DataConsumer[],
  ) {
    super();
    this.#transport = transport;
    this.#outbound = outbound;
    this.#inbound = inbound;
    this.#taps = taps;
  }

  /** Sets up the streams; call before the transport's SCTP association connects. */
  static async create(
    transport: types.WebRtcTransport,
    direct: types.DirectTransport,
    silentSource: types.DataProducer,
    healthCheckIntervalMs: number,
  ): Promise<SctpLink> {
    const outbound = new Map<number, types.DataConsumer>();
    for (const expected of [CLIENT_STREAM, SERVER_STREAM]) {
      const consumer = await transport.consumeData({ dataProducerId: silentSource.id });
      const streamId = consumer.sctpStreamParameters?.streamId;
      if (streamId !== expected) throw new Error(`expected outbound SCTP stream ${expected}, got ${streamId}`);
      outbound.set(streamId, consumer);
    }
    const inbound: types.DataProducer[] = [];
    const taps: types.DataConsumer[] = [];
    for (const streamId of [CLIENT_STREAM, SERVER_STREAM]) {
      const producer = await transport.produceData({
        sctpStreamParameters: { streamId, ordered: true },
        label: SIGNALING_LABEL,
      });
      inbound.push(producer);
      taps.push(await direct.consumeData({ dataProducerId: producer.id }));
    }
    const link = new SctpLink(transport, outbound, inbound, taps);
    link.#wire(healthCheckIntervalMs);
    return link;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Where server-initiated messages go: the client's own channel if it opened one. */
  get primaryStream(): number {
    return this.#primary;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wire(healthCheckIntervalMs: number): void {
    this.#taps.forEach((tap, i) => {
      const streamId = this.#inbound[i]!.sctpStreamParameters!.streamId;
      tap.on('message', (data, ppid) => this.#onMessage(streamId, data, ppid));
    });
    this.#transport.on('sctpstatechange', (state) => {
      if (state === 'connected') this.#announce();
      else if (state === 'closed' || state === 'failed') this.close('sctp_closed');
    });
    this.#transport.observer.once('close', () => this.close('transport_closed'));
    if (this.#transport.sctpState === 'connected') this.#announce();
    // The worker drops a DataConsumer when the browser resets its stream and
    // does not tell Node; asking it for stats notices.
    this.#healthTimer = setInterval(() => {
      const consumer = this.#outbound.get(SERVER_STREAM);
      consumer?.getStats().catch(() => this.close('channel_lost'));
    }, healthCheckIntervalMs);
    this.#healthTimer.unref();
  }

  #announce(): void {
    if (this.#open || this.#closed) return;
    // An OPEN sent before SCTP is connected is lost silently, hence the wait.
    this.#outbound
      .get(SERVER_STREAM)!
      .send(encodeDcepOpen(SIGNALING_LABEL), PPID_DCEP)
      .then(
        () => {
          // The client's own OPEN may have opened the link meanwhile.
          if (this.#open || this.#closed) return;
          this.#open = true;
          this.emit('open');
        },
        () => this.close('channel_lost'),
      );
  }

  #onMessage(streamId: number, data: Buffer, ppid: number): void {
    if (this.#closed) return;
    if (ppid === PPID_DCEP) {
      // The browser's own OPEN: stream 0 becomes a signaling channel only if so
      // labelled. ACKs of our OPEN need nothing.
      if (decodeDcepOpenLabel(data) === SIGNALING_LABEL && streamId === CLIENT_STREAM) {
        this.#signalingStreams.add(streamId);
        this.#outbound.get(streamId)!.send(Buffer.from([DCEP_ACK]), PPID_DCEP).catch(() => undefined);
        this.#primary = streamId;
        if (this.#open) this.emit('primarychange', streamId);
        else {
          this.#open = true;
          this.emit('open');
        }
      }
      return;
    }
    if (!this.#signalingStreams.has(streamId)) return;
    if (ppid === PPID_STRING || ppid === PPID_BINARY) this.emit('message', data.toString('utf8'), streamId);
    else if (ppid === PPID_STRING_EMPTY || ppid === PPID_BINARY_EMPTY) this.emit('message', '', streamId);
  }

  /** Sends text on a signaling stream (the primary one unless a reply goes elsewhere). */
  async send(text: string, streamId: number = this.#primary): Promise<void> {
    if (this.#closed) return;
    const consumer = this.#outbound.get(streamId);
    if (!consumer || !this.#signalingStreams.has(streamId)) throw new Error(`no signaling channel on stream ${streamId}`);
    try {
      await consumer.send(text, PPID_STRING);
    } catch (error) {
      this.close('channel_lost');
      throw error;
    }
  }

  close(reason: SctpLinkCloseReason = 'transport_closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#healthTimer);
    for (const tap of this.#taps) tap.close();
    for (const producer of this.#inbound) producer.close();
    for (const consumer of this.#outbound.values()) consumer.close();
    this.emit('close', reason);
  }
}
