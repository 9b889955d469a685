// The real client address, for both transports: the direct peer, unless it
// is a trusted proxy (AIRLOCK_TRUSTED_PROXIES), in which case x-forwarded-for
// (the HTTP header, or the gRPC metadata of the same name) is walked from the
// right, skipping trusted hops. Addresses are compared and rate limited by
// network: an IPv4 address exactly, an IPv6 address by its /64 (one
// household, one phone), an IPv4-mapped IPv6 address as the IPv4 it carries.
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** Parses one CIDR ("10.0.0.0/8", "2001:db8::/32") or bare address; throws on anything else. */
export function parseCidr(text: string): Cidr {
  const trimmed = text.trim();
  if (!trimmed.includes('/')) {
    const address = ipaddr.parse(trimmed);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  }
  return ipaddr.parseCIDR(trimmed);
}

/** The address without IPv6 dressing: an IPv4-mapped IPv6 address becomes its IPv4 address. */
function normalised(address: Address): Address {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) return (address as ipaddr.IPv6).toIPv4Address();
  return address;
}

/**
 * Parses an address as peers and proxies write it: plain, bracketed IPv6,
 * with a port ("[2001:db8::1]:443", "203.0.113.7:5000") or an IPv6 zone.
 * Undefined for anything malformed (e.g. "unknown", an obfuscated RFC 7239 node).
 */
export function parseAddress(text: string): Address | undefined {
  let value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) value = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  value = value.replace(/%[\w.-]+$/, '');
  if (!ipaddr.isValid(value)) return undefined;
  // ipaddr.isValid accepts "1" or "0x7f.1" (inet_aton forms) for IPv4: only the four-part dotted form is an address here.
  if (!value.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(value)) return undefined;
  return normalised(ipaddr.parse(value));
}

/** The address as the domain gets it: canonical text, IPv4-mapped IPv6 as IPv4; '' when unknown. */
export function canonicalAddress(text: string): string {
  return parseAddress(text)?.toString() ?? '';
}

export class ClientAddressResolver {
  readonly #trusted: Cidr[];

  /** `trustedProxies`: CIDRs (or addresses) of the proxies whose x-forwarded-for is believed. */
  constructor(trustedProxies: readonly string[]) {
    this.#trusted = trustedProxies.map(parseCidr);
  }

  #isTrusted(address: Address): boolean {
    return this.#trusted.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }

  /**
   * The client's address. `peer` is the socket's remote address; `forwardedFor`
   * the x-forwarded-for values (several headers are read in order, as one
   * list). The header is read only when the peer is trusted; walking from the
   * right, each trusted hop is skipped and the first untrusted address is the
   * client. A malformed value ends the walk: what lies left of it was written
   * by no one we trust, so the last trusted hop is the answer.
   */
  resolve(peer: string, forwardedFor: string | readonly string[] | undefined): string {
    const direct = parseAddress(peer);
    if (!direct) return '';
    if (!forwardedFor || !this.#isTrusted(direct)) return direct.toString();
    const hops = (typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor).flatMap((value) => value.split(','));
    let client = direct;
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!this.#isTrusted(client)) break;
      const hop = parseAddress(hops[i]!);
      if (!hop) break;
      client = hop;
    }
    return client.toString();
  }
}

/**
 * The key a client's network is counted and compared by: an IPv4 address
 * itself, an IPv6 address its /64 prefix ("2001:db8:1:2::/64"). Unparseable
 * input keys as 'unknown' (one shared bucket, never an open door).
 */
export function networkKey(address: string): string {
  const parsed = parseAddress(address);
  if (!parsed) return 'unknown';
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const prefix = ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`);
  return `${prefix.toString()}/64`;
}

/** True when both addresses are known and on the same network (IPv4 exact, IPv6 same /64). */
export function sameNetwork(a: string, b: string): boolean {
  const key = networkKey(a);
  return key !== 'unknown' && key === networkKey(b);
}

/**
 * A coarse description of an address's network, shown to a user: the IPv4
 * /24 ("203.0.113.x") or the IPv6 /48 ("2001:db8:1::/48"), never the exact
 * address. Loopback and private ranges are named as such.
 */
export function describeNetwork(address: string): string {
  const parsed = parseAddress(address);
  if (!parsed) return 'an unknown network';
  const range = parsed.range();
  if (range === 'loopback') return 'this computer (loopback)';
  if (parsed.kind() === 'ipv4') {
    const [a, b, c] = (parsed as ipaddr.IPv4).octets;
    const masked = `${a}.${b}.${c}.x`;
    return range === 'private' ? `a private network (${masked})` : masked;
  }
  const prefix = ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/48`);
  const masked = `${prefix.toString()}/48`;
  return range === 'uniqueLocal' || range === 'linkLocal' ? `a private network (${masked})` : masked;
}
