// The login link's confirmation page (phishing defence, RFC 8628 §5.4):
// when the browser is on another network than the app that started the
// login, /login/<ref> first shows the app name, when and from which network
// the login started and its code, and only the page's own POST goes on to
// the PDS. Everything here is loopback, so the trusted-proxy setting and
// x-forwarded-for put the app and the browser on different networks.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LoginFailureReason } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { registry } from '../../server/observability/metrics.ts';
import { isSealed } from '../../server/storage/at-rest.ts';
import { AuditLog } from '../../server/storage/audit-log.ts';
import { REPO_ROOT, startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import {
  consentInBrowser,
  decideViaApi,
  launchBrowser,
  NAVIGATION_HEADERS,
  openAuthorizePage,
  rawRequest,
  type RawResponse,
  type TestBrowser,
} from '../support/consent.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { awaitLogin, newVerifier, type StartedLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { createTestDatabase } from '../support/postgres.ts';

const ARTIFACTS = path.join(REPO_ROOT, 'test/.artifacts');
// Markup and quotes in the configured name must come out as text.
const APP_NAME = `<script>alert("pwned")</script> & <b>Chat</b> "quoted"`;
const APP_NETWORK = '198.51.100.7';
const OTHER_NETWORK = '203.0.113.9';

let pds: TestPds;
let account: TestAccount;
let airlock: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;
let browser: TestBrowser;

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  airlock = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_TRUSTED_PROXIES: '127.0.0.1,::1', AIRLOCK_APP_NAME: APP_NAME });
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

/** InitiateLogin as an app on `network` would reach it through the (trusted) proxy. */
async function initiateFrom(auth: ReturnType<typeof clientsFor>['auth'], network: string | undefined): Promise<StartedLogin> {
  const v = newVerifier();
  const metadata = new Metadata();
  if (network) metadata.set('x-forwarded-for', network);
  const response = await call(auth, auth.initiateLogin, { identifier: account.handle, loginVerifierChallenge: v.challenge }, { metadata });
  return { ...response, verifier: v.verifier };
}

/** Opens the link as a browser on `network` (no header: the loopback peer itself). */
function openLink(link: string, network?: string): Promise<RawResponse> {
  return rawRequest(link, { headers: { ...NAVIGATION_HEADERS, ...(network ? { 'x-forwarded-for': network } : {}) } });
}

function postForm(link: string, form: Record<string, string>, headers: Record<string, string>): Promise<RawResponse> {
  return rawRequest(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

function pageToken(page: RawResponse): { csrf: string; cookie: string } {
  const csrf = /name="csrf" value="([A-Za-z0-9_-]{43})"/.exec(page.body)?.[1];
  const setCookie = page.headers['set-cookie']?.[0] ?? '';
  if (!csrf) throw new Error('the confirmation page has no CSRF token');
  return { csrf, cookie: setCookie.split(';')[0]! };
}

async function auditEvents(server: InProcessAirlock = airlock): Promise<string[]> {
  const entries = await new AuditLog(server.database.db).read({ limit: 1000 });
  return entries.map((e) => e.event).filter((e) => e.startsWith('login-confirmation-'));
}

async function decisions(): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('airlock_login_confirmations_total')!.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.decision), v.value]));
}

test('in Chromium, from another network: the page shows the escaped app name, the network and the code InitiateLogin returned; Continue, consent, and the app gets the session', async () => {
  const started = await initiateFrom(clients.auth, APP_NETWORK);
  expect(started.confirmationCode).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  const before = await decisions();

  const page = await browser.context.newPage();
  await page.setExtraHTTPHeaders({ 'x-forwarded-for': OTHER_NETWORK });
  const cspViolations: string[] = [];
  page.on('console', (message) => {
    if (/content security policy/i.test(message.text())) cspViolations.push(message.text());
  });
  const response = await page.goto(started.authorizeUrl);
  expect(response?.status()).toBe(200);
  expect(await page.locator('#code').textContent()).toBe(started.confirmationCode);
  expect(await page.locator('#app-name').textContent()).toBe(APP_NAME);
  expect(await page.title()).toBe(`Confirm sign-in to ${APP_NAME} · Airlock`);
  // The name's markup stayed text: no element came from it.
  expect(await page.locator('script, b').count()).toBe(0);
  expect(await page.locator('#started-from').textContent()).toBe('198.51.100.x');
  expect(await page.locator('#started-at').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC \((just now|\d+ minutes? ago)\)$/);
  await stream.next('browserOpened');
  await page.screenshot({ path: path.join(ARTIFACTS, 'login-confirmation.png'), fullPage: true });

  await page.locator('#continue').click();
  await consentInBrowser(page, undefined, account, 'approve');
  await expect.poll(() => page.locator('#headline').textContent()).toBe(`Signed in as @${account.handle}.`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'login-confirmation-signed-in.png'), fullPage: true });
  const completed = await stream.next('completed');
  expect(completed.session?.did).toBe(account.did);
  expect(await stream.end).toEqual({ code: status.OK, details: 'OK' });
  expect(cspViolations).toEqual([]);
  const after = await decisions();
  expect((after.shown ?? 0) - (before.shown ?? 0)).toBe(1);
  expect((after.confirmed ?? 0) - (before.confirmed ?? 0)).toBe(1);
  await page.close();
});

test('a POST without, with a wrong, or with a cross-site CSRF token is refused with no redirect; the page’s own POST goes on (303) once', async () => {
  const started = await initiateFrom(clients.auth, APP_NETWORK);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const shown = await openLink(started.authorizeUrl, OTHER_NETWORK);
  expect(shown.status).toBe(200);
  expect(shown.body).toContain(started.confirmationCode);
  // Escaped in the raw HTML too.
  expect(shown.body).not.toContain('<script>');
  expect(shown.body).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;Chat&lt;/b&gt;');
  expect(shown.headers['content-security-policy']).toBe(
    `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self' ${new URL(pds.url).origin}; frame-ancestors 'none'`,
  );
  expect(shown.headers['set-cookie']?.[0]).toMatch(/^airlock-login=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
  const { csrf, cookie } = pageToken(shown);
  const before = await auditEvents();

  const refusals = [
    postForm(started.authorizeUrl, { action: 'continue' }, { cookie }),
    postForm(started.authorizeUrl, { action: 'continue', csrf: newVerifier().verifier }, { cookie }),
    postForm(started.authorizeUrl, { action: 'continue', csrf }, {}),
    postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie: `airlock-login=${newVerifier().verifier}` }),
    postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie, 'sec-fetch-site': 'cross-site' }),
  ];
  for (const refused of await Promise.all(refusals)) {
    expect(refused.status).toBe(403);
    expect(refused.headers.location).toBeUndefined();
    expect(refused.body).toContain('This sign-in was not confirmed.');
  }

  const confirmed = await postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie });
  expect(confirmed.status).toBe(303);
  expect(confirmed.headers.location).toMatch(new RegExp(`^${new URL(pds.url).origin}/oauth/authorize\\?`));
  // Spent: the same POST again goes nowhere.
  const replayed = await postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie });
  expect(replayed.status).toBe(403);
  expect(replayed.headers.location).toBeUndefined();

  const after = await auditEvents();
  expect(after.slice(0, after.length - before.length).sort()).toEqual([
    'login-confirmation-confirmed',
    ...Array<string>(6).fill('login-confirmation-refused'),
  ]);
  // The confirmed browser gets its own token for the callback (Lax: the PDS's redirect is cross-site).
  const browserCookie = confirmed.headers['set-cookie']?.[0] ?? '';
  expect(browserCookie).toMatch(/^airlock-browser-[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
  // The pushed request the 303 named is the user's: signing in there completes the login, even
  // from yet another network (the phone changed networks): the browser holds the token.
  const authorize = await openAuthorizePage(confirmed.headers.location!);
  const callbackUrl = await decideViaApi(authorize, account);
  const landed = await rawRequest(callbackUrl, {
    headers: { ...NAVIGATION_HEADERS, 'x-forwarded-for': '192.0.2.44', cookie: browserCookie.split(';')[0]! },
  });
  expect(landed.status).toBe(200);
  expect((await stream.next('completed')).session?.did).toBe(account.did);
});

test('the PDS URL behind the link, sent to someone else, cannot skip the page: their callback from another network is refused', async () => {
  // The attacker starts a login for the victim's handle and opens the link on their own network:
  // one click, and the redirect names the PDS authorization URL, which they send on instead of the link.
  const started = await initiateFrom(clients.auth, APP_NETWORK);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const before = await decisions();
  const attackerView = await openLink(started.authorizeUrl, APP_NETWORK);
  expect(attackerView.status).toBe(302);
  // The victim signs in there from another network, without the token the link gave the attacker.
  const authorize = await openAuthorizePage(attackerView.headers.location!);
  const callbackUrl = await decideViaApi(authorize, account);
  const landed = await rawRequest(callbackUrl, { headers: { ...NAVIGATION_HEADERS, 'x-forwarded-for': OTHER_NETWORK } });
  expect(landed.status).toBe(403);
  expect(landed.body).toContain('This sign-in was not confirmed in this browser');
  const failed = await stream.next('failed');
  expect(failed.reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED);
  expect(stream.cases()).not.toContain('completed');
  const after = await decisions();
  expect((after['callback-refused'] ?? 0) - (before['callback-refused'] ?? 0)).toBe(1);
  expect((after['skipped-same-network'] ?? 0) - (before['skipped-same-network'] ?? 0)).toBe(1);
});

test('Cancel on the page fails the login (access denied): the app that started it gets no session', async () => {
  const started = await initiateFrom(clients.auth, APP_NETWORK);
  const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
  const { csrf, cookie } = pageToken(await openLink(started.authorizeUrl, OTHER_NETWORK));
  const cancelled = await postForm(started.authorizeUrl, { action: 'cancel', csrf }, { cookie });
  expect(cancelled.status).toBe(200);
  expect(cancelled.headers.location).toBeUndefined();
  expect(cancelled.body).toContain('Sign-in cancelled.');
  const failed = await stream.next('failed');
  expect(failed.reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED);
  expect(failed.message).toBe('The user cancelled this sign-in on the confirmation page.');
  expect((await openLink(started.authorizeUrl, OTHER_NETWORK)).status).toBe(410);
  expect((await auditEvents())[0]).toBe('login-confirmation-cancelled');
});

describe('AIRLOCK_LOGIN_CONFIRMATION', () => {
  async function withMode(env: Record<string, string>, fn: (auth: ReturnType<typeof clientsFor>['auth']) => Promise<void>) {
    const server = await startInProcess({ ...pds.airlockEnv(), ...env });
    const own = clientsFor(server.grpcTarget);
    try {
      await fn(own.auth);
    } finally {
      own.close();
      await server.close();
    }
  }

  test('cross-network (the default): the same IPv4 address or IPv6 /64 goes straight to the PDS; another network gets the page', async () => {
    const sameDevice = await initiateFrom(clients.auth, undefined);
    const direct = await openLink(sameDevice.authorizeUrl);
    expect(direct.status).toBe(302);
    expect(direct.headers.location).toMatch(new RegExp(`^${new URL(pds.url).origin}/oauth/authorize\\?`));
    expect((await auditEvents())[0]).toBe('login-confirmation-skipped');

    const v6 = await initiateFrom(clients.auth, '2001:db8:1:2::a');
    expect((await openLink(v6.authorizeUrl, '2001:db8:1:2:ffff::b')).status).toBe(302);
    const v6other = await initiateFrom(clients.auth, '2001:db8:1:2::a');
    expect((await openLink(v6other.authorizeUrl, '2001:db8:1:3::a')).status).toBe(200);
    const v4neighbour = await initiateFrom(clients.auth, APP_NETWORK);
    expect((await openLink(v4neighbour.authorizeUrl, '198.51.100.8')).status).toBe(200);
  });

  test('without trusted proxies, x-forwarded-for is not believed on either side: both are the loopback peer, one click', async () => {
    await withMode({}, async (auth) => {
      const started = await initiateFrom(auth, APP_NETWORK);
      expect((await openLink(started.authorizeUrl, OTHER_NETWORK)).status).toBe(302);
    });
  });

  test('always: the page even on the same device; never: no page even from another network', async () => {
    await withMode({ AIRLOCK_LOGIN_CONFIRMATION: 'always' }, async (auth) => {
      const started = await initiateFrom(auth, undefined);
      const shown = await openLink(started.authorizeUrl);
      expect(shown.status).toBe(200);
      expect(shown.body).toContain(started.confirmationCode);
      // The default app name.
      expect(shown.body).toContain('<title>Confirm sign-in to Airlock · Airlock</title>');
      expect(shown.body).toContain('this computer (loopback)');
    });
    await withMode({ AIRLOCK_LOGIN_CONFIRMATION: 'never', AIRLOCK_TRUSTED_PROXIES: '127.0.0.1' }, async (auth) => {
      const started = await initiateFrom(auth, APP_NETWORK);
      expect((await openLink(started.authorizeUrl, OTHER_NETWORK)).status).toBe(302);
    });
  });
});

test('on PostgreSQL: the code is stored sealed, the page is shown, a forged POST refused, the real one sent on once, Cancel fails the login', async () => {
  const database = await createTestDatabase();
  const server = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_DATABASE_URL: database.url, AIRLOCK_TRUSTED_PROXIES: '127.0.0.1' });
  const own = clientsFor(server.grpcTarget);
  try {
    const started = await initiateFrom(own.auth, APP_NETWORK);
    const rows = await server.database.db.selectFrom('logins').select('confirmation').execute();
    expect(rows).toHaveLength(1);
    expect(isSealed(rows[0]!.confirmation!)).toBe(true);
    expect(rows[0]!.confirmation).not.toContain(started.confirmationCode);

    const shown = await openLink(started.authorizeUrl, OTHER_NETWORK);
    expect(shown.status).toBe(200);
    expect(shown.body).toContain(started.confirmationCode);
    const { csrf, cookie } = pageToken(shown);
    expect((await postForm(started.authorizeUrl, { action: 'continue', csrf: newVerifier().verifier }, { cookie })).status).toBe(403);
    const confirmed = await postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie });
    expect(confirmed.status).toBe(303);
    expect((await postForm(started.authorizeUrl, { action: 'continue', csrf }, { cookie })).status).toBe(403);

    const declined = await initiateFrom(own.auth, APP_NETWORK);
    const stream = awaitLogin(own.auth, declined.loginId, declined.verifier);
    const page = pageToken(await openLink(declined.authorizeUrl, OTHER_NETWORK));
    expect((await postForm(declined.authorizeUrl, { action: 'cancel', csrf: page.csrf }, { cookie: page.cookie })).status).toBe(200);
    expect((await stream.next('failed')).reason).toBe(LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED);

    expect((await auditEvents(server)).sort()).toEqual([
      'login-confirmation-cancelled',
      'login-confirmation-confirmed',
      'login-confirmation-refused',
      'login-confirmation-refused',
      'login-confirmation-shown',
      'login-confirmation-shown',
    ]);
  } finally {
    own.close();
    await server.close();
    await database.drop();
  }
});
