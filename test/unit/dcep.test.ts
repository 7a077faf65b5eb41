import { describe, expect, it } from 'vitest';
import { decodeDcepOpenLabel, encodeDcepOpen } from '../../src/media/sctp-link.ts';

// DATA_CHANNEL_OPEN (RFC 8832 §5.1):
//   0: message type (0x03)   1: channel type   2-3: priority   4-7: reliability
//   8-9: label length        10-11: protocol length            12…: label, protocol
describe('encodeDcepOpen', () => {
  const open = encodeDcepOpen('signaling');

  it('is 12 header bytes followed by the label', () => {
    expect(open).toHaveLength(12 + 9);
  });

  it('starts with message type 0x03 (DATA_CHANNEL_OPEN)', () => {
    expect(open[0]).toBe(0x03);
  });

  it('asks for a reliable, ordered channel (type 0x00) with priority 0 and reliability 0', () => {
    expect(open[1]).toBe(0x00);
    expect(open.readUInt16BE(2)).toBe(0);
    expect(open.readUInt32BE(4)).toBe(0);
  });

  it('writes the label length (9) at offset 8 and protocol length 0 at offset 10', () => {
    expect(open.readUInt16BE(8)).toBe(9);
    expect(open.readUInt16BE(10)).toBe(0);
  });

  it('writes the label at offset 12', () => {
    expect(open.subarray(12).toString('utf8')).toBe('signaling');
  });

  it('is exactly these bytes', () => {
    expect(open.toString('hex')).toBe('03' + '00' + '0000' + '00000000' + '0009' + '0000' + Buffer.from('signaling').toString('hex'));
  });

  it('writes the protocol after the label, with its length at offset 10', () => {
    const withProtocol = encodeDcepOpen('signaling', 'json');
    expect(withProtocol.readUInt16BE(10)).toBe(4);
    expect(withProtocol.subarray(12 + 9).toString('utf8')).toBe('json');
  });

  it('counts the label length in UTF-8 bytes', () => {
    expect(encodeDcepOpen('é').readUInt16BE(8)).toBe(2);
  });
});

describe('decodeDcepOpenLabel', () => {
  it.each(['signaling', 'probe', '', 'canal-é'])('round-trips the label %j', (label) => {
    expect(decodeDcepOpenLabel(encodeDcepOpen(label))).toBe(label);
  });

  it('reads the label of an OPEN that also has a protocol', () => {
    expect(decodeDcepOpenLabel(encodeDcepOpen('signaling', 'json'))).toBe('signaling');
  });

  it('returns undefined for DATA_CHANNEL_ACK (a single 0x02 byte)', () => {
    expect(decodeDcepOpenLabel(Buffer.from([0x02]))).toBeUndefined();
  });

  it('returns undefined for a 12-byte message whose type is not 0x03', () => {
    const notOpen = Buffer.from(encodeDcepOpen('signaling'));
    notOpen[0] = 0x02;
    expect(decodeDcepOpenLabel(notOpen)).toBeUndefined();
  });

  it('returns undefined when the header is truncated', () => {
    expect(decodeDcepOpenLabel(encodeDcepOpen('signaling').subarray(0, 11))).toBeUndefined();
  });

  it('returns undefined when the label is truncated', () => {
    expect(decodeDcepOpenLabel(encodeDcepOpen('signaling').subarray(0, 12 + 8))).toBeUndefined();
  });

  it('returns undefined for an empty buffer', () => {
    expect(decodeDcepOpenLabel(Buffer.alloc(0))).toBeUndefined();
  });
});
