// Plays the user on their PDS's account page ("/account"): sign in and
// revoke the OAuth sessions of an app, through the provider's JSON API that
// the page itself calls (no browser; see test/support/consent.ts for why
// node:http and the sec-fetch-* headers).
import { openAuthorizePage, providerApi } from '../../support/consent.ts';
import type { TestAccount } from '../../support/pds.ts';

/** Signs in on the account page; returns the page and the account's OAuth session token ids. */
async function signInAtAccountPage(pdsUrl: string, account: TestAccount) {
  const page = await openAuthorizePage(`${pdsUrl}/account`);
  await providerApi(page, 'POST', '/sign-in', { username: account.handle, password: account.password, remember: true, locale: 'en' });
  const sessions = (await providerApi(page, 'GET', `/oauth-sessions?did=${encodeURIComponent(account.did)}`)) as Array<{ tokenId: string }>;
  return { page, tokenIds: sessions.map((s) => s.tokenId) };
}

/** Signs in on the account page and revokes every OAuth session the account has granted; returns how many. */
export async function revokeAppsAtPds(pdsUrl: string, account: TestAccount): Promise<number> {
  const { page, tokenIds } = await signInAtAccountPage(pdsUrl, account);
  for (const tokenId of tokenIds) await providerApi(page, 'POST', '/revoke-oauth-session', { did: account.did, tokenId });
  return tokenIds.length;
}

/** The OAuth sessions (token ids) the account currently has at its PDS. */
export async function oauthSessionsAtPds(pdsUrl: string, account: TestAccount): Promise<string[]> {
  return (await signInAtAccountPage(pdsUrl, account)).tokenIds;
}
