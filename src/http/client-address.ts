// Who is asking: the client address a limit is charged to. IPv4 addresses
// stand for themselves; IPv6 addresses are grouped by /64 (one host or one
// LAN usually owns a whole /64, so finer keys are free for it to rotate);
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4. X-Forwarded-For is believed only
// from a trusted proxy, and then only up to the first hop that is not one.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** An address normalised for matching: family and canonical text. */
interface Parsed {
  family: 'ipv4' | 'ipv6';
  address: string;
}

function parse(raw: string | undefined): Parsed | undefined {
  if (!raw) return undefined;
  let a = raw.trim();
  // "[v6]" or "[v6]:port" (some proxies write it so), and a zone id.
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracket) a = bracket[1]!;
  a = a.replace(/%.*$/, '');
  // "a.b.c.d:port"
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(a);
  if (v4port) a = v4port[1]!;
  if (isIPv4(a)) return { family: 'ipv4', address: a };
  if (!isIPv6(a)) return undefined;
  const groups = expandIPv6(a);
  // ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6]!, groups[7]!];
    return { family: 'ipv4', address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
  }
  return { family: 'ipv6', address: groups.map((g) => g.toString(16)).join(':') };
}

/** The eight 16-bit groups of a valid IPv6 address (with "::" and a dotted IPv4 tail). */
function expandIPv6(a: string): number[] {
  let text = a.toLowerCase();
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1]!.length) + `${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

/** The key a limit is charged to: "a.b.c.d", or "x:x:x:x::/64" for IPv6; "unknown" without an address. */
export function addressKey(raw: string | undefined): string {
  const p = parse(raw);
  if (!p) return 'unknown';
  if (p.family === 'ipv4') return p.address;
  return p.address.split(':').slice(0, 4).join(':') + '::/64';
}

/** A set of CIDRs (or single addresses), IPv4 and IPv6; IPv4-mapped addresses match IPv4 entries. */
export class CidrSet {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) {
      const [addr, bits, extra] = entry.trim().split('/');
      const p = parse(addr);
      const prefix = bits === undefined ? undefined : Number(bits);
      const max = p?.family === 'ipv4' ? 32 : 128;
      if (!p || extra !== undefined || (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > max || bits === ''))) {
        throw new Error(`not an address or CIDR: ${JSON.stringify(entry)}`);
      }
      this.#list.addSubnet(p.address, prefix ?? max, p.family);
    }
    this.size = cidrs.length;
  }

  /** Parses "10.0.0.0/8, ::1" style lists (empty string: the empty set). */
  static parse(list: string): CidrSet {
    return new CidrSet(list.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }

  has(raw: string | undefined): boolean {
    const p = parse(raw);
    return p !== undefined && this.#list.check(p.address, p.family);
  }
}

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy,
 * in which case the right-most X-Forwarded-For entry that is not a trusted
 * proxy (a client can write anything at the left end, so only the hops our
 * own proxies appended count). If every hop is trusted, the left-most one.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | undefined, trusted: CidrSet): string | undefined {
  if (trusted.size === 0 || !trusted.has(peer) || !forwardedFor) return peer;
  const hops = forwardedFor.split(',').map((h) => h.trim()).filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!parse(hop)) return hop; // garbage from an untrusted writer: charge it as its own key ("unknown")
    if (!trusted.has(hop)) return hop;
  }
  return hops[0] ?? peer;
}
