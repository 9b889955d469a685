// The HTTP side of a login: the link Airlock hands out (redirect, renewal of
// the pushed request, unknown links) and the OAuth callback (deny, replay,
// forged state, escaping, headers).
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { callbackPage, linkPage } from '../../server/transport/http/pages.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi, decideViaApi, deliverCallback, openAuthorizePage, rawRequest } from '../support/consent.ts';
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

test('the link redirects (302) to the PDS authorization page pushed by InitiateLogin, with no-store and no-referrer', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const row = await airlock.database.db
    .selectFrom('logins')
    .select('authorize_url')
    .where('authorize_url', 'is not', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  const response = await rawRequest(started.authorizeUrl);
  expect(response.status).toBe(302);
  expect(response.headers.location).toBe(row.authorize_url);
  expect(new URL(response.headers.location!).origin).toBe(new URL(pds.url).origin);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['referrer-policy']).toBe('no-referrer');
  // Query parameters on the link change nothing: there is no client-supplied redirect.
  const tampered = await rawRequest(`${started.authorizeUrl}?redirect_uri=https://evil.example/&next=https://evil.example/`);
  expect(new URL(tampered.headers.location!).origin).toBe(new URL(pds.url).origin);
});

test('a link opened in a second browser gets its own pushed request, and signing in there completes the login', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const firstBrowser = await openAuthorizePage(started.authorizeUrl);
  const secondBrowser = await openAuthorizePage(started.authorizeUrl);
  expect(secondBrowser.url.searchParams.get('request_uri')).not.toBe(firstBrowser.url.searchParams.get('request_uri'));
  const page = await deliverCallback(await decideViaApi(secondBrowser, account));
  expect(page.status).toBe(200);
  const completed = await stream.next('completed');
  expect(completed.session!.did).toBe(account.did);
});

test('an old pushed request is renewed when the link is opened, so the link does not go dead', async () => {
  const renewing = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_OAUTH_REQUEST_MAX_AGE: '300ms' });
  const renewingClients = clientsFor(renewing.grpcTarget);
  try {
    const started = await initiateLogin(renewingClients.auth, account.handle);
    const pushed = (await renewing.database.db.selectFrom('logins').select('authorize_url').executeTakeFirstOrThrow()).authorize_url!;
    await new Promise((r) => setTimeout(r, 400));
    const stream = awaitLogin(renewingClients.auth, started.loginId, started.verifier);
    const { page, authorize } = await consentViaApi(started.authorizeUrl, account);
    expect(authorize.hops[1]).not.toBe(pushed);
    expect(new URL(authorize.hops[1]!).searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(page.status).toBe(200);
    expect((await stream.next('completed')).session!.did).toBe(account.did);
  } finally {
    renewingClients.close();
    await renewing.close();
  }
});

test('an unknown or malformed link shows an expired page; HEAD has no side effects', async () => {
  for (const path of ['/login/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/login/not-a-ref', '/login/%3Cscript%3E']) {
    const response = await rawRequest(`${airlock.publicUrl}${path}`);
    expect(response.status).toBe(410);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('This sign-in link has expired.');
    expect(response.body).not.toContain('<script>');
  }
  const started = await initiateLogin(clients.auth, account.handle);
  const head = await rawRequest(started.authorizeUrl, { method: 'HEAD' });
  expect(head.status).toBe(200);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  await new Promise((r) => setTimeout(r, 200));
  expect(stream.cases()).toEqual(['pending']);
  stream.cancel();
});

test('deny at consent gives failed/access-denied on the stream and an access denied page', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  const before = await sessionsOf(account.did);
  const { page } = await consentViaApi(started.authorizeUrl, account, 'deny');
  expect(page.status).toBe(403);
  expect(page.body).toContain('Access denied.');
  const failed = await stream.next('failed');
  expect(failed.reason).toBe(1 /* LOGIN_FAILURE_REASON_ACCESS_DENIED */);
  expect(failed.message).toMatch(/declined/);
  expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
  expect(stream.cases().filter((c) => c === 'completed' || c === 'failed')).toEqual(['failed']);
  expect(await sessionsOf(account.did)).toBe(before);
});

test('a replayed callback shows a failure page and completes nothing new', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const { callbackUrl, page } = await consentViaApi(started.authorizeUrl, account);
  expect(page.status).toBe(200);
  const first = awaitLogin(clients.auth, started.loginId, started.verifier);
  const original = (await first.next('completed')).session!;
  const count = await sessionsOf(account.did);

  const replay = await deliverCallback(callbackUrl);
  expect(replay.status).toBe(400);
  expect(replay.body).toContain('This sign-in cannot be used.');
  expect(await sessionsOf(account.did)).toBe(count);
  const again = awaitLogin(clients.auth, started.loginId, started.verifier);
  expect((await again.next('completed')).session!.sessionId).toBe(original.sessionId);
});

test('a callback with a forged state shows a failure page and leaves the login pending', async () => {
  const started = await initiateLogin(clients.auth, account.handle);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  const authorize = await openAuthorizePage(started.authorizeUrl);
  const genuine = new URL(await decideViaApi(authorize, account));

  const forged = new URL(genuine);
  forged.searchParams.set('state', 'forged-state-value');
  const forgedPage = await deliverCallback(forged.href);
  expect(forgedPage.status).toBe(400);
  for (const bad of ['', '?code=abc', '?state=&code=abc', '?error=access_denied&state=nope']) {
    const response = await deliverCallback(`${airlock.publicUrl}/oauth/callback${bad}`);
    expect(response.status).toBe(400);
  }
  await new Promise((r) => setTimeout(r, 200));
  expect(stream.cases().filter((c) => c === 'completed' || c === 'failed')).toEqual([]);

  // The genuine callback still completes the login.
  expect((await deliverCallback(genuine.href)).status).toBe(200);
  expect((await stream.next('completed')).session!.did).toBe(account.did);
});

test('pages escape every value and carry the security headers', async () => {
  const evil = '<script>alert(1)</script>"\'&';
  const ok = callbackPage({ kind: 'completed', handle: evil, did: 'did:plc:x' });
  expect(ok.body).not.toContain('<script>alert');
  expect(ok.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
  const failed = callbackPage({ kind: 'failed', reason: 'error', message: evil });
  expect(failed.body).not.toContain('<script>alert');
  const gone = linkPage({ kind: 'error', message: evil });
  expect(gone.body).not.toContain('<script>alert');
  // handle.invalid shows the DID instead.
  expect(callbackPage({ kind: 'completed', handle: 'handle.invalid', did: 'did:plc:abc' }).body).toContain('Signed in as did:plc:abc.');

  const response = await deliverCallback(`${airlock.publicUrl}/oauth/callback?state=x`);
  expect(response.headers['content-security-policy']).toContain("default-src 'none'");
  expect(response.headers['x-frame-options']).toBe('DENY');
  expect(response.headers['x-content-type-options']).toBe('nosniff');
});
