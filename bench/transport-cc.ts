// The load clients negotiate no transport-wide congestion control, on every
// target: libdatachannel sends no transport-cc feedback, and a sender that
// negotiated it without getting feedback keeps a long send history (mediasoup:
// 60 s), which would dominate memory figures and differ between SFUs. Leaving
// it out of what the clients say they receive makes every SFU send without it.
const TRANSPORT_CC_EXTENSION = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

/** The description without the transport-wide-cc header extension and transport-cc feedback lines. */
export function withoutTransportCc(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(/\r?\n/)
    .filter((line) => !(line.startsWith('a=extmap:') && line.includes(TRANSPORT_CC_EXTENSION)) && !/^a=rtcp-fb:\S+ transport-cc\s*$/.test(line))
    .join(eol);
}
