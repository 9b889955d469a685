// The client address over real gRPC calls: InitiateLogin's rate limit keys
// on it. A spoofed x-forwarded-for from a peer that is not a trusted proxy
// changes nothing; from a trusted proxy it names the client; IPv6 clients
// share one bucket per /64. (The HTTP side, the login link's network
// comparison, is proved in test/login/confirmation-page.test.ts.)
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { Metadata, status } from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { AuthService } from '../../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { newVerifier } from '../support/login.ts';

let airlock: InProcessAirlock | undefined;
let clients: ReturnType<typeof clientsFor> | undefined;

afterEach(async () => {
  clients?.close();
  await airlock?.close();
  clients = undefined;
  airlock = undefined;
});

async function start(env: Record<string, string>, target?: (port: number) => string) {
  airlock = await startInProcess({ AIRLOCK_LOGIN_RATE_PER_MINUTE: '2', ...env });
  clients = clientsFor(target ? target(airlock.grpcPort) : airlock.grpcTarget);
  return clients;
}

/**
 * One InitiateLogin as seen by the rate limit: the identifier is malformed,
 * so an admitted call ends INVALID_ARGUMENT (the limit is taken first) and a
 * refused one RESOURCE_EXHAUSTED. No PDS is needed.
 */
async function attempt(auth: ReturnType<typeof clientsFor>['auth'], forwardedFor?: string): Promise<number> {
  const metadata = new Metadata();
  if (forwardedFor !== undefined) metadata.set('x-forwarded-for', forwardedFor);
  const failure = await grpcFailure(
    call(auth, auth.initiateLogin, { identifier: 'not a handle!', loginVerifierChallenge: newVerifier().challenge }, { metadata }),
  );
  return failure.code;
}

test('from a peer that is not a trusted proxy, a spoofed x-forwarded-for is ignored: the limit hits the real peer', async () => {
  const { auth } = await start({});
  expect(await attempt(auth, '198.51.100.1')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '198.51.100.2')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '198.51.100.3')).toBe(status.RESOURCE_EXHAUSTED);
  // A trusted-proxies list that does not name the peer changes nothing either.
  await airlock!.close();
  clients!.close();
  airlock = undefined;
  const other = await start({ AIRLOCK_TRUSTED_PROXIES: '10.0.0.0/8' });
  expect(await attempt(other.auth, '198.51.100.1')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(other.auth, '198.51.100.2')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(other.auth, '198.51.100.3')).toBe(status.RESOURCE_EXHAUSTED);
});

test('from a trusted proxy, x-forwarded-for names the client: each client has its own bucket', async () => {
  const { auth } = await start({ AIRLOCK_TRUSTED_PROXIES: '127.0.0.1/32' });
  for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']) {
    expect(await attempt(auth, client)).toBe(status.INVALID_ARGUMENT);
  }
  // The client's own fake entry on the left is skipped: the proxy appended the real one.
  expect(await attempt(auth, '203.0.113.9, 198.51.100.1')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '203.0.113.8, 198.51.100.1')).toBe(status.RESOURCE_EXHAUSTED);
  // Without the header, the proxy itself is the client (its own bucket).
  expect(await attempt(auth)).toBe(status.INVALID_ARGUMENT);
});

test('IPv6 clients behind a trusted proxy share one bucket per /64', async () => {
  const { auth } = await start({ AIRLOCK_TRUSTED_PROXIES: '127.0.0.1' });
  expect(await attempt(auth, '2001:db8:1:2::a')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '2001:db8:1:2:ffff::b')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '2001:db8:1:2::c')).toBe(status.RESOURCE_EXHAUSTED);
  expect(await attempt(auth, '2001:db8:1:3::a')).toBe(status.INVALID_ARGUMENT);
});

test('over real IPv6 ([::1]): the peer address is parsed, and a spoofed header from it is ignored', async () => {
  const { auth } = await start({ AIRLOCK_GRPC_ADDRESS: '[::1]:0', AIRLOCK_LOGIN_RATE_PER_MINUTE: '1' }, (port) => `[::1]:${port}`);
  expect(await attempt(auth, '2001:db8:1:2::a')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(auth, '2001:db8:9:9::a')).toBe(status.RESOURCE_EXHAUSTED);
  await airlock!.close();
  clients!.close();
  airlock = undefined;
  // Trusted over IPv6 too.
  const trusted = await start(
    { AIRLOCK_GRPC_ADDRESS: '[::1]:0', AIRLOCK_TRUSTED_PROXIES: '::1', AIRLOCK_LOGIN_RATE_PER_MINUTE: '1' },
    (port) => `[::1]:${port}`,
  );
  expect(await attempt(trusted.auth, '2001:db8:1:2::a')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(trusted.auth, '2001:db8:9:9::a')).toBe(status.INVALID_ARGUMENT);
  expect(await attempt(trusted.auth, '2001:db8:9:9::b')).toBe(status.RESOURCE_EXHAUSTED);
});

/** attempt() over Connect on the HTTP listener: the Connect code of the same InitiateLogin. */
async function attemptOverConnect(forwardedFor?: string): Promise<Code> {
  const auth = createClient(AuthService, createConnectTransport({ baseUrl: airlock!.publicUrl, httpVersion: '1.1' }));
  const headers: Record<string, string> = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  try {
    await auth.initiateLogin({ identifier: 'not a handle!', loginVerifierChallenge: newVerifier().challenge }, { headers });
  } catch (error) {
    return ConnectError.from(error).code;
  }
  throw new Error('expected InitiateLogin to fail');
}

test('over Connect the same: the socket peer, x-forwarded-for only from a trusted proxy, one bucket with gRPC', async () => {
  const { auth } = await start({});
  // Not trusted: the spoofed header is ignored, and gRPC and Connect calls from this peer share its bucket.
  expect(await attemptOverConnect('198.51.100.1')).toBe(Code.InvalidArgument);
  expect(await attempt(auth, '198.51.100.2')).toBe(status.INVALID_ARGUMENT);
  expect(await attemptOverConnect('198.51.100.3')).toBe(Code.ResourceExhausted);
  await airlock!.close();
  clients!.close();
  airlock = undefined;
  // Trusted: each forwarded client has its own bucket, whichever transport it came over.
  const trusted = await start({ AIRLOCK_TRUSTED_PROXIES: '127.0.0.1/32' });
  for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
    expect(await attemptOverConnect(client)).toBe(Code.InvalidArgument);
  }
  expect(await attempt(trusted.auth, '198.51.100.1')).toBe(status.INVALID_ARGUMENT);
  expect(await attemptOverConnect('203.0.113.9, 198.51.100.1')).toBe(Code.ResourceExhausted);
});
