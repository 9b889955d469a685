// The small HTML pages a user's browser sees during a login. Every value is
// HTML-escaped by Eta (autoEscape); pages load nothing from elsewhere.
import path from 'node:path';
import { Eta } from 'eta';
import type { CallbackOutcome, ConfirmationPage, LinkOutcome } from '../../login/login-broker.ts';
import type { HttpResponse } from './server.ts';

const eta = new Eta({ views: path.join(import.meta.dirname, 'templates'), autoEscape: true, cache: true, autoTrim: false });

export interface PageData {
  ok: boolean;
  title: string;
  headline: string;
  detail: string;
}

export function page(status: number, data: PageData): HttpResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: eta.render('login-result', data) };
}

/** "@alice.example.com", or the DID when the handle does not verify. */
export function displayName(handle: string, did: string): string {
  return handle && handle !== 'handle.invalid' ? `@${handle}` : did;
}

export function callbackPage(outcome: CallbackOutcome): HttpResponse {
  if (outcome.kind === 'completed') {
    const name = displayName(outcome.handle, outcome.did);
    return page(200, { ok: true, title: 'Signed in', headline: `Signed in as ${name}.`, detail: 'You can return to the app.' });
  }
  switch (outcome.reason) {
    case 'access-denied':
      return page(403, {
        ok: false,
        title: 'Access denied',
        headline: 'Access denied.',
        detail: `${outcome.message} You can close this page.`,
      });
    case 'expired':
      return page(410, { ok: false, title: 'Sign-in expired', headline: 'This sign-in expired.', detail: outcome.message });
    case 'unknown':
      return page(400, { ok: false, title: 'Sign-in failed', headline: 'This sign-in cannot be used.', detail: outcome.message });
    case 'cancelled':
      return page(410, {
        ok: false,
        title: 'Sign-in cancelled',
        headline: 'This sign-in was cancelled in the app.',
        detail: 'No session was created. You can close this page.',
      });
    case 'error':
      return page(502, { ok: false, title: 'Sign-in failed', headline: 'Sign-in failed.', detail: outcome.message });
  }
}

/** "2026-12-02 13:45 UTC (3 minutes ago)": the server does not know the user's time zone. */
function startedText(at: Date, now = Date.now()): string {
  const minutes = Math.max(0, Math.round((now - at.getTime()) / 60_000));
  const ago = minutes === 0 ? 'just now' : minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`;
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC (${ago})`;
}

/**
 * The confirmation page: its form posts back to the link itself (a relative
 * action), and its CSP lets forms go only there and, through the 303 that
 * follows, to the authorization server.
 */
export function confirmationPage(page: ConfirmationPage, linkRef: string, cookie: string): HttpResponse {
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self' ${page.authorizationOrigin}; frame-ancestors 'none'`,
      'set-cookie': cookie,
    },
    body: eta.render('login-confirm', {
      appName: page.appName,
      code: page.code,
      startedAt: startedText(page.startedAt),
      startedFrom: page.startedFrom,
      csrfToken: page.csrfToken,
      action: linkRef,
    }),
  };
}

export function linkPage(outcome: Exclude<LinkOutcome, { kind: 'redirect' | 'confirm' }>): HttpResponse {
  if (outcome.kind === 'refused') {
    return page(403, { ok: false, title: 'Sign-in not confirmed', headline: 'This sign-in was not confirmed.', detail: outcome.message });
  }
  if (outcome.kind === 'declined') {
    return page(200, {
      ok: true,
      title: 'Sign-in cancelled',
      headline: 'Sign-in cancelled.',
      detail: 'No one was signed in with your account. You can close this page.',
    });
  }
  if (outcome.kind === 'error') {
    return page(502, {
      ok: false,
      title: 'Sign-in unavailable',
      headline: 'Your sign-in could not be started.',
      detail: `${outcome.message} Try again from the app.`,
    });
  }
  if (outcome.kind === 'renewals-exhausted') {
    return page(429, {
      ok: false,
      title: 'Link opened too often',
      headline: 'This sign-in link was opened too many times.',
      detail: 'Continue in the browser window where you first opened it, or start again from the app.',
    });
  }
  if (outcome.reason === 'cancelled') {
    return page(410, {
      ok: false,
      title: 'Sign-in cancelled',
      headline: 'This sign-in was cancelled in the app.',
      detail: 'Start again from the app.',
    });
  }
  return outcome.reason === 'finished'
    ? page(410, { ok: false, title: 'Sign-in finished', headline: 'This sign-in is already finished.', detail: 'Return to the app.' })
    : page(410, { ok: false, title: 'Link expired', headline: 'This sign-in link has expired.', detail: 'Start again from the app.' });
}
