// A login's lifetime: a stream open at expiry gets failed/expired; after
// expiry the login and its result are gone (NOT_FOUND) and swept from the
// database; a late link visit or callback completes nothing.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LoginFailureReason } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi, decideViaApi, deliverCallback, openAuthorizePage, rawRequest } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';

// Long enough for a sign-in through the provider API on a busy machine, short enough to wait for.
const TTL_MS = 4_000;
let pds: TestPds;
let airlock: InProcessAirlock;
let account: TestAccount;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_LOGIN_TTL: `${TTL_MS}ms`, AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(airlock.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await airlock?.close();
  await pds?.stop();
});

const sleepUntil = (epochMs: number) => new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now())));

test('a stream open when the login expires gets failed/expired, then ends OK', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  expect(started.expiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(TTL_MS);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const failed = await stream.next('failed', 5_000);
  expect(Date.now()).toBeGreaterThanOrEqual(started.expiresAt!.getTime() - 50);
  expect(failed.reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_EXPIRED);
  expect(failed.message).toContain('expired');
  expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
});

test('after expiry the login is gone: AwaitLogin is NOT_FOUND, even for a completed one', async () => {
  const pending = await initiateLogin(clients.auth, account.handle);
  const completed = await initiateLogin(clients.auth, account.handle);
  await consentViaApi(completed.authorizeUrl, account);
  const before = awaitLogin(clients.auth, completed.loginId, completed.verifier);
  await before.next('completed');

  await sleepUntil(completed.expiresAt!.getTime() + 50);
  for (const login of [pending, completed]) {
    const end = await awaitLogin(clients.auth, login.loginId, login.verifier).end;
    expect(end.code).toBe(status.NOT_FOUND);
  }
});

test('expired logins are swept from the database by the broker', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const count = () =>
    airlock.database.db
      .selectFrom('logins')
      .select('id')
      .execute()
      .then((rows) => rows.length);
  expect(await count()).toBeGreaterThan(0);
  // The sweeper runs every login lifetime (here 4 s).
  await sleepUntil(started.expiresAt!.getTime() + TTL_MS + 500);
  expect(await count()).toBe(0);
});

test('a link opened or a callback arriving after expiry completes nothing', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  // The user loads the PDS page in time, but consents too late.
  const authorize = await openAuthorizePage(started.authorizeUrl);
  await sleepUntil(started.expiresAt!.getTime() + 50);
  const link = await rawRequest(started.authorizeUrl);
  expect(link.status).toBe(410);
  expect(link.body).toContain('expired');

  const sessionsBefore = (await airlock.database.db.selectFrom('sessions').select('id').execute()).length;
  const page = await deliverCallback(await decideViaApi(authorize, account));
  expect(page.status).toBe(410);
  expect(page.body).toContain('This sign-in expired.');
  expect((await airlock.database.db.selectFrom('sessions').select('id').execute()).length).toBe(sessionsBefore);
});
