// Outside development mode an identifier that leads to a loopback, private
// or link-local address fails without Airlock contacting that address.
import net from 'node:net';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../server/app.ts';
import type { Settings } from '../../server/config/settings.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { ForbiddenAddressError, isPublicAddress, publicOnlyLookup } from '../../server/oauth/guarded-fetch.ts';
import { clientsFor, grpcFailure } from '../support/grpc.ts';
import { initiateLogin } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { tempDir, testSettings } from '../support/settings.ts';

let pds: TestPds;
let airlock: RunningAirlock;
let clients: ReturnType<typeof clientsFor>;
const dataDir = tempDir();
// Stands in for an internal service: every connection attempt is counted.
let internal: net.Server;
let internalPort = 0;
let connections = 0;

beforeAll(async () => {
  pds = await startPds();
  internal = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
  internalPort = (internal.address() as net.AddressInfo).port;

  // Production mode, except that the PLC directory is the local test one:
  // the settings loader refuses an http PLC in production, so the settings
  // are built directly. The PLC is operator configuration (trusted); what a
  // DID document or a user's input leads to is not.
  const settings: Settings = {
    ...testSettings({ AIRLOCK_DATA_DIR: dataDir.path, AIRLOCK_PLC_URL: pds.plcUrl, AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' }),
    mode: 'production',
    allowHttp: false,
    publicUrl: 'https://airlock.example-app.dev',
  };
  airlock = await startAirlock(settings, createLogger(settings));
  clients = clientsFor(`127.0.0.1:${airlock.grpcPort}`);
});

afterAll(async () => {
  clients?.close();
  await airlock?.stop(1_000);
  internal?.close();
  await pds?.stop();
  dataDir.remove();
});

test.each([
  ['a loopback IPv4 URL', () => `https://127.0.0.1:${internalPort}`],
  ['localhost', () => `https://localhost:${internalPort}`],
  ['a loopback IPv6 URL', () => `https://[::1]:${internalPort}`],
  ['a private address', () => 'https://10.1.2.3'],
  ['a link-local address (cloud metadata)', () => 'https://169.254.169.254'],
  ['an IPv4-mapped IPv6 loopback', () => `https://[::ffff:127.0.0.1]:${internalPort}`],
  ['an IPv4-compatible IPv6 loopback', () => `https://[::7f00:1]:${internalPort}`],
  ['an IPv4-compatible IPv6 private address', () => 'https://[::a00:1]'],
  ['a NAT64 address', () => 'https://[64:ff9b::7f00:1]'],
  ['a documentation address', () => 'https://[2001:db8::1]'],
])('%s as the identifier is refused without contact', async (_name, identifier) => {
  const before = connections;
  const failure = await grpcFailure(initiateLogin(clients.auth, identifier()));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(failure.details).toMatch(/loopback, private or link-local|not a public one/);
  expect(failure.details).toContain('refused outside development mode');
  expect(connections).toBe(before);
});

test('a did:web on localhost is refused without contact', async () => {
  const before = connections;
  const failure = await grpcFailure(initiateLogin(clients.auth, `did:web:localhost%3A${internalPort}`));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(connections).toBe(before);
});

test('a DID whose document names a PDS at a private address is refused without contacting it', async () => {
  for (const pdsUrl of [`https://127.0.0.1:${internalPort}`, `https://localhost:${internalPort}`]) {
    const did = await pds.createDidPointingAt(pdsUrl);
    const before = connections;
    const failure = await grpcFailure(initiateLogin(clients.auth, did));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toContain(did);
    expect(failure.details).toContain('refused outside development mode');
    expect(connections).toBe(before);
  }
});

test('http identifiers are refused in production', async () => {
  const failure = await grpcFailure(initiateLogin(clients.auth, `http://pds.example.com`));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(failure.details).toContain('http URLs are refused');
});

test('the address classification covers the special-purpose ranges', () => {
  for (const address of [
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:10.0.0.1',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '198.18.0.1',
    '203.0.113.9',
    '240.0.0.1',
    '::7f00:1',
    '::a00:1',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
    '2001:db8::1',
    '2002:7f00:1::',
    'ff02::1',
    'not an address',
  ]) {
    expect(isPublicAddress(address), address).toBe(false);
  }
  for (const address of ['1.1.1.1', '8.8.8.8', '2606:4700:4700::1111', '::ffff:1.1.1.1', '::101:101']) {
    expect(isPublicAddress(address), address).toBe(true);
  }
});

test('the connect-time lookup refuses a name that resolves to a non-public address, with the same error', async () => {
  const error = await new Promise<Error | null>((resolve) => publicOnlyLookup('localhost', {}, (e) => resolve(e)));
  expect(error).toBeInstanceOf(ForbiddenAddressError);
  expect(error!.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1), a loopback, private or link-local address/);
});
