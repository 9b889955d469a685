// CancelLogin against a real PDS: the app ends a login it no longer wants
// (superseded, cancelled, signed out). Open streams hear CANCELLED, the
// user's later callback creates no session and its page says why.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LoginFailureReason } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi, decideViaApi, deliverCallback, openAuthorizePage, rawRequest } from '../support/consent.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin, newVerifier } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';

let pds: TestPds;
let airlock: InProcessAirlock;
let account: TestAccount;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(airlock.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await airlock?.close();
  await pds?.stop();
});

const sessionsOf = async (did: string) =>
  (await airlock.database.db.selectFrom('sessions').select('id').where('did', '=', did).execute()).length;

const cancel = (loginId: string, loginVerifier: string) => call(clients.auth, clients.auth.cancelLogin, { loginId, loginVerifier });

test('an open AwaitLogin stream gets a failed event with reason CANCELLED and ends OK; later streams see the same', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const first = awaitLogin(clients.auth, started.loginId, started.verifier);
  const second = awaitLogin(clients.auth, started.loginId, started.verifier);
  await first.next('pending');
  await second.next('pending');

  expect(await cancel(started.loginId, started.verifier)).toEqual({ cancelled: true });
  for (const stream of [first, second]) {
    const failed = await stream.next('failed', 5_000);
    expect(failed.reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_CANCELLED);
    expect(failed.message).toMatch(/cancelled/);
    expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
  }
  // A re-attach after the cancel hears it at once; a second cancel changes nothing.
  const late = awaitLogin(clients.auth, started.loginId, started.verifier);
  expect((await late.next('failed', 5_000)).reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_CANCELLED);
  expect(await cancel(started.loginId, started.verifier)).toEqual({ cancelled: false });
});

test('the user finishing a cancelled login creates no session, and the page says it was cancelled in the app', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const before = await sessionsOf(account.did);
  // The user is already at the authorization page when the app cancels.
  const authorize = await openAuthorizePage(started.authorizeUrl);
  expect(await cancel(started.loginId, started.verifier)).toEqual({ cancelled: true });
  const page = await deliverCallback(await decideViaApi(authorize, account));
  expect(page.status).toBe(410);
  expect(page.body).toContain('This sign-in was cancelled in the app.');
  expect(page.body).not.toContain('Signed in as');
  expect(await sessionsOf(account.did)).toBe(before);

  // The link itself says so too.
  const link = await rawRequest(started.authorizeUrl);
  expect(link.status).toBe(410);
  expect(link.body).toContain('cancelled in the app');
});

test('an unknown login id or a wrong verifier is NOT_FOUND, as for AwaitLogin; empty fields are INVALID_ARGUMENT', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const wrong = await grpcFailure(cancel(started.loginId, newVerifier().verifier));
  const unknown = await grpcFailure(cancel('A'.repeat(43), started.verifier));
  expect(wrong.code).toBe(status.NOT_FOUND);
  expect(unknown.code).toBe(status.NOT_FOUND);
  expect(wrong.details).toBe(unknown.details);
  expect((await grpcFailure(cancel('', ''))).code).toBe(status.INVALID_ARGUMENT);
  // The failed attempts did not cancel it: the user can still finish.
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const { page } = await consentViaApi(started.authorizeUrl, account);
  expect(page.status).toBe(200);
  expect((await stream.next('completed')).session!.did).toBe(account.did);
});

test('cancelling a login that already completed changes nothing', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await consentViaApi(started.authorizeUrl, account);
  const session = (await stream.next('completed')).session!;
  expect(await cancel(started.loginId, started.verifier)).toEqual({ cancelled: false });
  const who = await call(clients.auth, clients.auth.whoAmI, {}, { bearer: session.accessToken });
  expect(who.did).toBe(account.did);
});
