// The login as a person does it: real headless Chromium opens the link,
// signs in at the PDS's own pages and presses Authorize (or Deny), and lands
// on Airlock's page; the app's AwaitLogin stream gets the outcome. A missing
// browser fails these tests, it never skips them.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LoginFailureReason } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { REPO_ROOT, startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentInBrowser, launchBrowser, type TestBrowser } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';

const ARTIFACTS = path.join(REPO_ROOT, 'test/.artifacts');
let pds: TestPds;
let airlock: InProcessAirlock;
let account: TestAccount;
let clients: ReturnType<typeof clientsFor>;
let browser: TestBrowser;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess(pds.airlockEnv());
  clients = clientsFor(airlock.grpcTarget);
  browser = await launchBrowser();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  clients?.close();
  await airlock?.close();
  await pds?.stop();
});

test('in Chromium: sign in and authorize, see the success page, and the app gets a verifiable session', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');

  const page = await browser.context.newPage();
  const t0 = Date.now();
  await consentInBrowser(page, started.authorizeUrl, account, 'approve');
  const elapsed = Date.now() - t0;
  await expect.poll(() => page.locator('#headline').textContent()).toBe(`Signed in as @${account.handle}.`);
  expect(await page.locator('#detail').textContent()).toBe('You can return to the app.');
  expect(await page.title()).toBe('Signed in · Airlock');
  await page.screenshot({ path: path.join(ARTIFACTS, 'login-success.png'), fullPage: true });

  const completed = await stream.next('completed');
  expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
  expect(stream.cases()).toEqual(['pending', 'browserOpened', 'completed']);
  const session = completed.session!;
  expect(session.did).toBe(account.did);
  const jwks = createRemoteJWKSet(new URL(`${airlock.publicUrl}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(session.accessToken, jwks, { issuer: airlock.publicUrl });
  expect(payload.sub).toBe(account.did);
  await page.close();
  console.info(`browser sign-in + consent + callback: ${elapsed} ms`);
});

test('in Chromium: deny at consent shows access denied and the app gets failed/access-denied', async () => {
  const started = await initiateLogin(clients.auth, account.did);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');

  const page = await browser.context.newPage();
  await consentInBrowser(page, started.authorizeUrl, account, 'deny');
  await expect.poll(() => page.locator('#headline').textContent()).toBe('Access denied.');
  await page.screenshot({ path: path.join(ARTIFACTS, 'login-denied.png'), fullPage: true });

  const failed = await stream.next('failed');
  expect(failed.reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED);
  expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
  await page.close();
});
