// Plays the user at the PDS's authorization page: sign in, then consent or
// deny. Two ways: the provider's own JSON API over node:http (fast, no
// browser) and real headless Chromium through playwright-core.
//
// node:http rather than fetch: Node's fetch forces `sec-fetch-mode: cors`,
// which the provider rejects for its API, and a browser navigation has to be
// imitated with the sec-fetch-* headers a browser would send.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TestAccount } from './pds.ts';

export type Decision = 'approve' | 'deny';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with node:http(s); never follows redirects. */
export function rawRequest(
  url: string | URL,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export const NAVIGATION_HEADERS = {
  accept: 'text/html,application/xhtml+xml',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
  'user-agent': 'Mozilla/5.0 (airlock-test)',
};

/** A browser-like visit to the authorization page, with its cookies. */
export interface AuthorizePage {
  /** The PDS's /oauth/authorize URL the link finally led to. */
  url: URL;
  /** Every redirect followed on the way, starting with the URL given. */
  hops: string[];
  cookies: Map<string, string>;
}

function storeCookies(jar: Map<string, string>, headers: http.IncomingHttpHeaders): void {
  for (const line of headers['set-cookie'] ?? []) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    if (eq > 0) jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
  }
}

function cookieHeader(jar: Map<string, string>): string {
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
}

/**
 * Opens a login link as a browser would (following Airlock's redirect to the
 * PDS) and keeps the device cookies the authorization page sets.
 */
export async function openAuthorizePage(link: string): Promise<AuthorizePage> {
  const hops: string[] = [];
  const cookies = new Map<string, string>();
  let url = new URL(link);
  for (let i = 0; i < 5; i++) {
    hops.push(url.href);
    const response = await rawRequest(url, { headers: { ...NAVIGATION_HEADERS, cookie: cookieHeader(cookies) } });
    storeCookies(cookies, response.headers);
    if (response.status >= 300 && response.status < 400 && response.headers.location) {
      url = new URL(response.headers.location, url);
      continue;
    }
    if (response.status !== 200)
      throw new Error(`authorization page ${url.origin}${url.pathname} answered ${response.status}: ${response.body.slice(0, 300)}`);
    if (!cookies.has('csrf-token')) throw new Error('the authorization page set no csrf-token cookie');
    return { url, hops, cookies };
  }
  throw new Error(`too many redirects from ${link}`);
}

/**
 * Calls the provider's JSON API as its own pages do (same-origin fetch with
 * the page's CSRF token and cookies), keeping any cookies it sets.
 */
export async function providerApi(
  page: AuthorizePage,
  method: 'GET' | 'POST',
  endpoint: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<unknown> {
  const apiUrl = new URL(`/@atproto/oauth-provider/~api${endpoint}`, page.url.origin);
  const response = await rawRequest(apiUrl, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      accept: 'application/json',
      'sec-fetch-mode': 'same-origin',
      'sec-fetch-site': 'same-origin',
      'sec-fetch-dest': 'empty',
      origin: page.url.origin,
      referer: page.url.href,
      'x-csrf-token': page.cookies.get('csrf-token') ?? '',
      cookie: cookieHeader(page.cookies),
      ...extraHeaders,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  storeCookies(page.cookies, response.headers);
  if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}: ${response.body.slice(0, 300)}`);
  return JSON.parse(response.body || '{}');
}

/**
 * Turns the provider's "/oauth/authorize/redirect?redirect_uri=...&code=..."
 * into the URL the browser would land on: the client's redirect URI with the
 * response parameters (query response mode).
 */
export function callbackUrlFrom(providerRedirect: string): string {
  const redirect = new URL(providerRedirect);
  const redirectUri = redirect.searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error(`no redirect_uri in ${redirect.pathname}`);
  const target = new URL(redirectUri);
  for (const [key, value] of redirect.searchParams) {
    if (key !== 'redirect_uri' && key !== 'redirect_mode') target.searchParams.set(key, value);
  }
  return target.href;
}

/**
 * Signs in and approves (or denies) through the provider's JSON API. Returns
 * the callback URL the browser would be sent to; nothing is delivered yet.
 */
export async function decideViaApi(page: AuthorizePage, account: TestAccount, decision: Decision = 'approve'): Promise<string> {
  if (decision === 'deny') {
    const { url } = (await providerApi(page, 'POST', '/reject', {})) as { url: string };
    return callbackUrlFrom(url);
  }
  const signIn = (await providerApi(page, 'POST', '/sign-in', {
    username: account.handle,
    password: account.password,
    remember: false,
    locale: 'en',
  })) as {
    account: { sub?: string; did?: string };
    ephemeralToken?: string;
  };
  if (!signIn.ephemeralToken) throw new Error('sign-in returned no ephemeral token');
  // The account the provider signed in (callers that only know a handle pass no DID).
  const did = account.did || signIn.account.sub || signIn.account.did;
  const { url } = (await providerApi(page, 'POST', '/consent', { did }, { authorization: `Bearer ${signIn.ephemeralToken}` })) as {
    url: string;
  };
  return callbackUrlFrom(url);
}

/** GETs the callback as the user's browser would; returns the page. */
export function deliverCallback(callbackUrl: string): Promise<RawResponse> {
  return rawRequest(callbackUrl, { headers: NAVIGATION_HEADERS });
}

/**
 * The whole user side without a browser: open the link, sign in, decide,
 * and land on Airlock's callback page.
 */
export async function consentViaApi(
  link: string,
  account: TestAccount,
  decision: Decision = 'approve',
): Promise<{ callbackUrl: string; page: RawResponse; authorize: AuthorizePage }> {
  const authorize = await openAuthorizePage(link);
  const callbackUrl = await decideViaApi(authorize, account, decision);
  const page = await deliverCallback(callbackUrl);
  return { callbackUrl, page, authorize };
}

export const CHROMIUM_PATH = process.env.AIRLOCK_TEST_CHROMIUM ?? '/usr/bin/chromium';

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless with a throwaway profile. A missing
 * browser is an error, never a skipped test.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set AIRLOCK_TEST_CHROMIUM`);
  }
  const profile = mkdtempSync(path.join(os.tmpdir(), 'airlock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * In a real browser page: open the login link, sign in with the account's
 * password, then press Authorize (or the deny button). Resolves once the
 * browser has loaded the page at `callbackPath` (Airlock's callback).
 */
export async function consentInBrowser(
  page: Page,
  /** The login link to open; undefined: the page is already on its way to the PDS (e.g. after the confirmation page). */
  link: string | undefined,
  account: TestAccount,
  decision: Decision = 'approve',
  callbackPath = '/oauth/callback',
): Promise<Page> {
  if (link !== undefined) await page.goto(link);
  const password = page.locator('input[autocomplete="current-password"]');
  const authorize = page.getByRole('button', { name: /^authori[sz]e$/i });
  // A profile that already signed in goes straight to the consent view.
  await password.or(authorize).first().waitFor({ timeout: 15_000 });
  if (await password.isVisible()) {
    const username = page.locator('input[autocomplete="username"]');
    if ((await username.count()) > 0 && (await username.first().inputValue()) === '') await username.first().fill(account.handle);
    await password.fill(account.password);
    await page.locator('button[type="submit"]').first().click();
  }
  // The consent view names the client and offers "Authorize" and "Deny access".
  await authorize.waitFor({ timeout: 15_000 });
  if (decision === 'approve') await authorize.click();
  else await page.getByRole('button', { name: /deny/i }).first().click();
  await page.waitForURL((url) => url.pathname === callbackPath, { timeout: 30_000, waitUntil: 'load' });
  return page;
}
