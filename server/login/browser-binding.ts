// Which browser may finish a login. The link hands the browser it sends on
// to the PDS (after the confirmation page, or on the app's own network) a
// random token; at the callback, a browser that presents it may complete
// the login, and one without it only where no confirmation was needed (the
// app's network, or confirmation off). So a PDS authorization URL taken from
// the link's redirect and sent to someone else cannot skip the page: their
// browser comes back without the token, from another network.
import { timingSafeEqual } from 'node:crypto';
import type { Settings } from '../config/settings.ts';
import { sameNetwork } from '../network/client-address.ts';
import type { LoginConfirmation, LoginRecord } from './login-store.ts';
import type { CallbackBrowser } from './login-types.ts';
import { sha256 } from './secrets.ts';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** True when both strings are equal; constant time in their bytes. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when `token` is well formed and its SHA-256 is `storedHash`. */
export function tokenMatches(token: string, storedHash: string | null): boolean {
  return storedHash !== null && TOKEN.test(token) && sameToken(sha256(token), storedHash);
}

/** The name under which a login's browser token is kept: one per login, revealing nothing of it. */
export function browserTokenKey(ref: string): string {
  return sha256(`browser-token:${ref}`).slice(0, 16);
}

/** Whether a browser at this address must see the confirmation page (or hold the token it gives). */
export function needsConfirmation(
  mode: Settings['loginConfirmation'],
  confirmation: LoginConfirmation | null,
  browserAddress: string,
): boolean {
  if (!confirmation || mode === 'never') return false;
  return mode === 'always' || !sameNetwork(confirmation.initiatorAddress, browserAddress);
}

/** Whether the browser at the callback may complete this login (its record read with the confirmation). */
export function mayComplete(record: LoginRecord, mode: Settings['loginConfirmation'], browser: CallbackBrowser): boolean {
  if (tokenMatches(browser.token(browserTokenKey(record.ref)), record.browserTokenHash)) return true;
  return !needsConfirmation(mode, record.confirmation, browser.address);
}
