// The fetch the OAuth library uses for everything a user's identifier leads
// to (DID documents, PDS and authorization server metadata, PAR, tokens).
// Outside development mode it refuses, before connecting, any URL whose host
// is or resolves to a loopback, private, link-local or otherwise non-public
// address, and pins that check at connect time (DNS rebinding) through
// @atproto-labs/fetch-node's unicast dispatcher. Every request has a deadline.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { unicastFetchWrap } from '@atproto-labs/fetch-node';

/** The URL leads to an address Airlock must not contact. Nothing was sent. */
export class ForbiddenAddressError extends Error {
  override name = 'ForbiddenAddressError';
  readonly host: string;
  constructor(host: string, why: string) {
    super(`${host} ${why}`);
    this.host = host;
  }
}

export interface GuardedFetchOptions {
  /** Per-request deadline. */
  timeoutMs: number;
  /** Refuse non-public addresses (everything but development mode). */
  ssrfProtection: boolean;
  allowHttp: boolean;
  /** Origins the operator configured (PLC directory, handle resolver): not checked. */
  trustedOrigins: string[];
}

// IANA special-purpose ranges: nothing a public PDS can live at.
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  // IPv4-mapped addresses (::ffff:0:0/96) are judged by the IPv4 they carry, below.
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64],
  ['2001::', 23], ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return !NON_PUBLIC.check(mapped[1]!, 'ipv4');
  return !NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

async function assertPublicHost(hostname: string): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    if (!isPublicAddress(host)) throw new ForbiddenAddressError(host, 'is a loopback, private or link-local address');
    return;
  }
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost') || !lower.includes('.')) {
    throw new ForbiddenAddressError(host, 'is a local name, not a public one');
  }
  let addresses: Array<{ address: string }>;
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch {
    // Unresolvable: let the fetch fail the ordinary way (UNAVAILABLE / not found).
    return;
  }
  const bad = addresses.find((a) => !isPublicAddress(a.address));
  if (bad) throw new ForbiddenAddressError(host, `resolves to ${bad.address}, a loopback, private or link-local address`);
}

export function guardedFetch(options: GuardedFetchOptions): typeof globalThis.fetch {
  // Looked up per call so a test can wrap globalThis.fetch after start.
  const base: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init);
  const unicast = options.ssrfProtection ? (unicastFetchWrap({ fetch: base }) as typeof globalThis.fetch) : base;
  const trusted = new Set(options.trustedOrigins.map((o) => new URL(o).origin));

  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const checked = options.ssrfProtection && !trusted.has(url.origin);
    if (checked) {
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
        throw new ForbiddenAddressError(url.host, `uses ${url.protocol.replace(':', '')}, only https is allowed`);
      }
      await assertPublicHost(url.hostname);
    }
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(options.timeoutMs)]);
    // A redirect to an IP literal would be followed without the address check
    // (no DNS lookup to pin), so checked requests never follow one. The
    // library only asks to follow for PAR and token requests, which have no
    // business redirecting.
    const redirect = checked && request.redirect === 'follow' ? 'error' : request.redirect;
    return (checked ? unicast : base)(request, { signal, redirect });
  };
}
