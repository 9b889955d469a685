// The client address and the network key, as pure functions: the walk over
// x-forwarded-for behind trusted proxies, malformed values, IPv4-mapped IPv6,
// and IPv6 keyed per /64. The same resolver serves both transports; the
// real HTTP and gRPC calls are in test/network/trusted-proxies.test.ts.
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../server/config/load.ts';
import { canonicalAddress, ClientAddressResolver, describeNetwork, networkKey, sameNetwork } from '../../server/network/client-address.ts';

describe('ClientAddressResolver', () => {
  const behindProxies = new ClientAddressResolver(['10.0.0.0/8', '2001:db8:ffff::/48', '192.0.2.1']);

  it('believes no header from a peer that is not a trusted proxy', () => {
    expect(new ClientAddressResolver([]).resolve('203.0.113.5', '198.51.100.1')).toBe('203.0.113.5');
    expect(behindProxies.resolve('203.0.113.5', '198.51.100.1')).toBe('203.0.113.5');
  });

  it('walks from the right over trusted hops to the first untrusted address', () => {
    expect(behindProxies.resolve('10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    // The client wrote a fake first entry; the proxies appended the real one and themselves.
    expect(behindProxies.resolve('10.1.2.3', '1.1.1.1, 198.51.100.1, 10.9.9.9')).toBe('198.51.100.1');
    // Several headers (gRPC metadata values, or repeated HTTP headers) are one list, in order.
    expect(behindProxies.resolve('192.0.2.1', ['1.1.1.1', '198.51.100.2, 10.0.0.1'])).toBe('198.51.100.2');
    expect(behindProxies.resolve('2001:db8:ffff::1', '2001:db8:1:2::99')).toBe('2001:db8:1:2::99');
  });

  it('stops at a malformed value: the last trusted hop is the answer', () => {
    expect(behindProxies.resolve('10.1.2.3', 'unknown')).toBe('10.1.2.3');
    expect(behindProxies.resolve('10.1.2.3', '198.51.100.1, _hidden, 10.0.0.2')).toBe('10.0.0.2');
    expect(behindProxies.resolve('10.1.2.3', '')).toBe('10.1.2.3');
    expect(behindProxies.resolve('10.1.2.3', '0x7f.1')).toBe('10.1.2.3');
  });

  it('reads ports, brackets and IPv4-mapped IPv6 as the address they carry', () => {
    expect(behindProxies.resolve('::ffff:10.1.2.3', '[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(behindProxies.resolve('10.1.2.3', '198.51.100.1:5000')).toBe('198.51.100.1');
    expect(behindProxies.resolve('::ffff:203.0.113.5', undefined)).toBe('203.0.113.5');
    expect(canonicalAddress('::FFFF:198.51.100.1')).toBe('198.51.100.1');
    expect(canonicalAddress('not an address')).toBe('');
  });

  it('an unparseable peer is unknown, and unknown addresses never share a network', () => {
    expect(behindProxies.resolve('', '198.51.100.1')).toBe('');
    expect(networkKey('')).toBe('unknown');
    expect(sameNetwork('', '')).toBe(false);
  });
});

describe('networkKey and sameNetwork', () => {
  it('keys IPv4 exactly and IPv6 per /64; IPv4-mapped IPv6 as IPv4', () => {
    expect(networkKey('203.0.113.5')).toBe('203.0.113.5');
    expect(networkKey('2001:db8:1:2::a')).toBe('2001:db8:1:2::/64');
    expect(networkKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(networkKey('2001:db8:1:2::1'));
    expect(networkKey('2001:db8:1:3::1')).not.toBe(networkKey('2001:db8:1:2::1'));
    expect(networkKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(sameNetwork('203.0.113.5', '203.0.113.6')).toBe(false);
    expect(sameNetwork('2001:db8:1:2::a', '2001:db8:1:2:abcd::b')).toBe(true);
    expect(sameNetwork('::ffff:127.0.0.1', '127.0.0.1')).toBe(true);
  });

  it('describes a network coarsely, never the exact address', () => {
    expect(describeNetwork('198.51.100.77')).toBe('198.51.100.x');
    expect(describeNetwork('10.1.2.3')).toBe('a private network (10.1.2.x)');
    expect(describeNetwork('2001:db8:1:2::a')).toBe('2001:db8:1::/48');
    expect(describeNetwork('127.0.0.1')).toBe('this computer (loopback)');
    expect(describeNetwork('')).toBe('an unknown network');
  });
});

describe('AIRLOCK_TRUSTED_PROXIES', () => {
  it('parses a list of CIDRs and addresses, and refuses anything else with a one-line error', () => {
    expect(loadSettings([], { AIRLOCK_TRUSTED_PROXIES: '10.0.0.0/8, 2001:db8::/32 192.0.2.1' }).settings.trustedProxies).toEqual([
      '10.0.0.0/8',
      '2001:db8::/32',
      '192.0.2.1',
    ]);
    expect(loadSettings([], {}).settings.trustedProxies).toEqual([]);
    expect(() => loadSettings([], { AIRLOCK_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(
      'invalid AIRLOCK_TRUSTED_PROXIES (--trusted-proxies): "10.0.0.0/33" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)',
    );
    expect(() => loadSettings([], { AIRLOCK_TRUSTED_PROXIES: 'proxy.internal' })).toThrow(/"proxy\.internal" is not an IP address/);
  });
});
