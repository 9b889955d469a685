// End to end through the PDS's JSON API: InitiateLogin, sign-in and consent
// at a real PDS, the callback, and AwaitLogin delivering a session whose
// access token verifies against Airlock's published JWKS.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';

let pds: TestPds;
let airlock: InProcessAirlock;
let account: TestAccount;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess(pds.airlockEnv());
  clients = clientsFor(airlock.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await airlock?.close();
  await pds?.stop();
});

test('a login through the PDS JSON API yields a session whose token verifies against /.well-known/jwks.json', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  expect(started.loginId).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(started.authorizeUrl.startsWith(`${airlock.publicUrl}/login/`)).toBe(true);
  expect(started.authorizeUrl).not.toContain(started.loginId);
  expect(started.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 9 * 60_000);

  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const pending = await stream.next('pending');
  expect(pending.expiresAt?.getTime()).toBe(started.expiresAt!.getTime());

  const { page, authorize } = await consentViaApi(started.authorizeUrl, account);
  // The link went through Airlock first, then to the PDS.
  expect(authorize.hops[0]).toBe(started.authorizeUrl);
  expect(new URL(authorize.hops[1]!).origin).toBe(new URL(pds.url).origin);
  expect(page.status).toBe(200);
  expect(page.body).toContain(`Signed in as @${account.handle}.`);
  expect(page.body).toContain('You can return to the app.');

  const completed = await stream.next('completed');
  expect(await stream.end).toEqual({ code: 0, details: 'OK' });
  expect(stream.cases()).toEqual(['pending', 'browserOpened', 'completed']);

  const session = completed.session!;
  expect(session.did).toBe(account.did);
  expect(session.handle).toBe(account.handle);
  expect(session.pdsUrl.replace(/\/$/, '')).toBe(pds.url);
  const jwks = createRemoteJWKSet(new URL(`${airlock.publicUrl}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(session.accessToken, jwks, { issuer: airlock.publicUrl });
  expect(payload.sub).toBe(account.did);
  expect(payload.sid ?? payload.session_id).toBe(session.sessionId);
  expect(protectedHeader.kid).toBeTruthy();
  expect(session.refreshToken.length).toBeGreaterThanOrEqual(43);
});

test('a DID or the PDS URL works as the identifier too', async () => {
  for (const identifier of [account.did, pds.url]) {
    const started = await initiateLogin(clients.auth, identifier);
    const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
    const { page } = await consentViaApi(started.authorizeUrl, account);
    expect(page.status).toBe(200);
    expect((await stream.next('completed')).session!.did).toBe(account.did);
  }
});

test('the identity is the DID the OAuth session proves, not what the app typed', async () => {
  const other = await pds.createAccount();
  // The app asks for `account`, but the person signs in as `other`.
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const { page } = await consentViaApi(started.authorizeUrl, other);
  expect(page.body).toContain(`Signed in as @${other.handle}.`);
  const session = (await stream.next('completed')).session!;
  expect(session.did).toBe(other.did);
  expect(session.handle).toBe(other.handle);
});

test('the completed session waits in the database sealed: no token in plaintext', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  await consentViaApi(started.authorizeUrl, account);
  const session = (await awaitLogin(clients.auth, started.loginId, started.verifier).next('completed')).session!;
  const rows = await airlock.database.db.selectFrom('logins').select(['result', 'login_id_hash', 'verifier_challenge']).execute();
  const dump = JSON.stringify(rows);
  expect(dump).not.toContain(session.refreshToken);
  expect(dump).not.toContain(session.accessToken);
  expect(dump).not.toContain(started.loginId);
  expect(dump).not.toContain(started.verifier);
});
