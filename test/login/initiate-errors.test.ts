// InitiateLogin's call-level answers: malformed input is INVALID_ARGUMENT
// with a message saying what is accepted; an unreachable PDS is UNAVAILABLE
// before the caller's deadline; an unknown handle or DID is INVALID_ARGUMENT.
import net from 'node:net';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { initiateLogin, newVerifier } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';

let pds: TestPds;
let airlock: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;
// Accepts TCP connections and never answers: a PDS that hangs.
let silent: net.Server;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  pds = await startPds();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_UPSTREAM_TIMEOUT: '30s', AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(airlock.grpcTarget);
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  clients?.close();
  for (const s of sockets) s.destroy();
  silent?.close();
  await airlock?.close();
  await pds?.stop();
});

const ACCEPTED = 'identifier must be a handle (alice.bsky.social), a DID (did:plc:… or did:web:…) or the https URL of a PDS or entryway';

test.each([
  ['empty', ''],
  ['spaces inside', 'alice smith'],
  ['single label', 'alice'],
  ['unknown DID method', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'],
  ['malformed did:plc', 'did:plc:TOOSHORT'],
  ['ftp URL', 'ftp://pds.example.com'],
  ['URL with a path', 'https://pds.example.com/xrpc'],
  ['URL with credentials', 'https://user:pw@pds.example.com'],
  ['email address', 'alice@example.com'],
  ['overlong', `${'a'.repeat(300)}.com`],
])('a malformed identifier (%s) is INVALID_ARGUMENT saying what is accepted', async (_name, identifier) => {
  const failure = await grpcFailure(initiateLogin(clients.auth, identifier));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(failure.details).toContain(ACCEPTED);
});

test('a malformed verifier challenge is INVALID_ARGUMENT', async () => {
  for (const challenge of ['', 'short', `${'a'.repeat(43)}=`, 'a'.repeat(44)]) {
    const failure = await grpcFailure(
      call(clients.auth, clients.auth.initiateLogin, { identifier: 'alice.test', loginVerifierChallenge: challenge }),
    );
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toContain('login_verifier_challenge');
  }
});

test('a handle that resolves to no account is INVALID_ARGUMENT', async () => {
  const failure = await grpcFailure(initiateLogin(clients.auth, 'nobody-here.test'));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(failure.details).toContain('nobody-here.test');
});

test('a DID unknown to the PLC directory is INVALID_ARGUMENT', async () => {
  const failure = await grpcFailure(initiateLogin(clients.auth, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'));
  expect(failure.code).toBe(status.INVALID_ARGUMENT);
  expect(failure.details).toContain('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');
});

test('an account whose PDS is down (connection refused) is UNAVAILABLE', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const did = await pds.createDidPointingAt(`http://127.0.0.1:${port}`);

  const failure = await grpcFailure(initiateLogin(clients.auth, did));
  expect(failure.code).toBe(status.UNAVAILABLE);
  expect(failure.details).toContain('could not be reached');
});

test('a PDS that never answers is UNAVAILABLE within the call deadline, not DEADLINE_EXCEEDED', async () => {
  const port = (silent.address() as net.AddressInfo).port;
  const did = await pds.createDidPointingAt(`http://127.0.0.1:${port}`);
  const started = Date.now();
  // The upstream timeout is 30 s; the caller's 3 s deadline wins.
  const failure = await grpcFailure(initiateLogin(clients.auth, did, { deadlineMs: 3_000 }));
  const elapsed = Date.now() - started;
  expect(failure.code).toBe(status.UNAVAILABLE);
  expect(failure.details).toMatch(/did not answer within \d+ ms/);
  expect(elapsed).toBeLessThan(3_000);
  expect(elapsed).toBeGreaterThan(1_500);
});

test('a PDS URL that never answers is UNAVAILABLE after the upstream timeout', async () => {
  const quick = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_UPSTREAM_TIMEOUT: '800ms' });
  const quickClients = clientsFor(quick.grpcTarget);
  try {
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const failure = await grpcFailure(initiateLogin(quickClients.auth, `http://127.0.0.1:${port}`, { deadlineMs: 20_000 }));
    expect(failure.code).toBe(status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(5_000);
  } finally {
    quickClients.close();
    await quick.close();
  }
});

test('the verifier challenge is taken as given: a fresh verifier per login', () => {
  const a = newVerifier();
  const b = newVerifier();
  expect(a.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(a.verifier).not.toBe(b.verifier);
});
