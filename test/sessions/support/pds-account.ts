// Plays the user on their PDS's account page ("/account"): sign in and
// revoke the OAuth sessions of an app, through the provider's JSON API that
// the page itself calls (no browser; see test/support/consent.ts for why
// node:http and the sec-fetch-* headers).
import { openAuthorizePage, rawRequest, type AuthorizePage } from '../../support/consent.ts';
import type { TestAccount } from '../../support/pds.ts';

function headers(page: AuthorizePage): Record<string, string> {
  return {
    accept: 'application/json',
    'sec-fetch-mode': 'same-origin',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-dest': 'empty',
    origin: page.url.origin,
    referer: page.url.href,
    'x-csrf-token': page.cookies.get('csrf-token') ?? '',
    cookie: [...page.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
  };
}

function keepCookies(page: AuthorizePage, setCookie: string[] | undefined): void {
  for (const line of setCookie ?? []) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    if (eq > 0) page.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
  }
}

async function api(page: AuthorizePage, method: 'GET' | 'POST', endpoint: string, body?: unknown): Promise<unknown> {
  const url = new URL(`/@atproto/oauth-provider/~api${endpoint}`, page.url.origin);
  const response = await rawRequest(url, {
    method,
    headers: { ...headers(page), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  keepCookies(page, response.headers['set-cookie']);
  if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}: ${response.body.slice(0, 300)}`);
  return JSON.parse(response.body || '{}');
}

/** Signs in on the account page and revokes every OAuth session the account has granted; returns how many. */
export async function revokeAppsAtPds(pdsUrl: string, account: TestAccount): Promise<number> {
  const page = await openAuthorizePage(`${pdsUrl}/account`);
  await api(page, 'POST', '/sign-in', { username: account.handle, password: account.password, remember: true, locale: 'en' });
  const sessions = (await api(page, 'GET', `/oauth-sessions?did=${encodeURIComponent(account.did)}`)) as Array<{ tokenId: string }>;
  for (const { tokenId } of sessions) await api(page, 'POST', '/revoke-oauth-session', { did: account.did, tokenId });
  return sessions.length;
}

/** The OAuth sessions (token ids) the account currently has at its PDS. */
export async function oauthSessionsAtPds(pdsUrl: string, account: TestAccount): Promise<string[]> {
  const page = await openAuthorizePage(`${pdsUrl}/account`);
  await api(page, 'POST', '/sign-in', { username: account.handle, password: account.password, remember: true, locale: 'en' });
  const sessions = (await api(page, 'GET', `/oauth-sessions?did=${encodeURIComponent(account.did)}`)) as Array<{ tokenId: string }>;
  return sessions.map((s) => s.tokenId);
}
