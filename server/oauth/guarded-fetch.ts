// The fetch the OAuth library uses for everything a user's identifier leads
// to (DID documents, PDS and authorization server metadata, PAR, tokens).
// Outside development mode it refuses, before connecting, any URL whose host
// is or resolves to a loopback, private, link-local or otherwise non-public
// address, and checks again at connect time (DNS rebinding) with the same
// classification in the dispatcher's lookup. Every request has a deadline.
import { lookup } from 'node:dns/promises';
import { lookup as lookupCallback, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

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

/**
 * The one address classification of every check, before and at connect time:
 * ipaddr.js's IANA special-purpose ranges, where only "unicast" is public. An
 * IPv4 address carried inside IPv6 (IPv4-mapped ::ffff:a.b.c.d, or the
 * deprecated IPv4-compatible ::a.b.c.d, which ipaddr.js calls unicast) is
 * judged as the IPv4 address it carries, so ::7f00:1 is loopback.
 */
export function isPublicAddress(address: string): boolean {
  if (isIP(address) === 0) return false;
  let ip: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.parts.slice(0, 6).every((part) => part === 0)) {
      const [high, low] = [v6.parts[6]!, v6.parts[7]!];
      ip = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    }
  }
  return ip.range() === 'unicast';
}

// At connect time: the addresses a name resolves to now, checked again, so a
// DNS answer that changed since the first check cannot reach a private address.
export function publicOnlyLookup(
  hostname: string,
  options: { all?: boolean },
  callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
): void {
  lookupCallback(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad)
      return callback(new ForbiddenAddressError(hostname, `resolves to ${bad.address}, a loopback, private or link-local address`), []);
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
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
  // Node's fetch is undici 7: a dispatcher of the same major version.
  const dispatcher = options.ssrfProtection ? new Agent({ connect: { lookup: publicOnlyLookup } }) : undefined;
  const trusted = new Set(options.trustedOrigins.map((o) => new URL(o).origin));

  return async (input, init) => {
    // The request's URL, redirect mode and signal without building a Request
    // (fetch builds its own): undici's Request is costly, and a login makes
    // several upstream calls.
    const asked = input instanceof Request ? input : undefined;
    const url = new URL(asked ? asked.url : input instanceof URL ? input.href : input);
    const checked = options.ssrfProtection && !trusted.has(url.origin);
    if (checked) {
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
        throw new ForbiddenAddressError(url.host, `uses ${url.protocol.replace(':', '')}, only https is allowed`);
      }
      await assertPublicHost(url.hostname);
    }
    const callerSignal = init?.signal ?? asked?.signal;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    // A redirect to an IP literal would be followed without the address check
    // (no DNS lookup to pin), so checked requests never follow one. The
    // library only asks to follow for PAR and token requests, which have no
    // business redirecting.
    const askedRedirect = init?.redirect ?? asked?.redirect ?? 'follow';
    const redirect = checked && askedRedirect === 'follow' ? 'error' : askedRedirect;
    return base(input, { ...init, signal, redirect, ...(checked ? { dispatcher } : {}) } as RequestInit);
  };
}
