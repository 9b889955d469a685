// HTTP routes of a login: the link the app opens in the browser (records
// "browser opened", shows the confirmation page or redirects to the
// authorization server), the confirmation page's POST, and the OAuth
// callback (completes the login, shows the user a page).
//
// CSRF on the confirmation POST: the page's form carries a random token,
// and the same token is set as a SameSite=Strict, HttpOnly cookie (with the
// __Host- prefix and Secure when the public URL is https). A POST counts
// only if form and cookie agree and the token is the one the server stored
// for this login's page (login-link.ts). A cross-site page cannot read the
// token, and a cross-site POST carries no Strict cookie.
import type { LoginBroker } from '../../login/login-broker.ts';
import { LOGIN_PATH } from '../../login/login-broker.ts';
import { CALLBACK_PATH } from '../../oauth/client.ts';
import { callbackPage, confirmationPage, linkPage } from './pages.ts';
import type { HttpRequest, Route } from './server.ts';

export interface LoginRouteOptions {
  upstreamTimeoutMs: number;
  /** The public URL is https: the CSRF cookie is __Host-, Secure. */
  secureCookies: boolean;
  /** How long a login lives: the CSRF cookie's lifetime. */
  loginTtlMs: number;
  /** Largest confirmation form body read (AIRLOCK_LOGIN_FORM_MAX_BYTES). */
  maxFormBytes: number;
}

function cookieValue(request: HttpRequest, name: string): string {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

export function loginRoutes(broker: LoginBroker, options: LoginRouteOptions): Route[] {
  const prefix = options.secureCookies ? '__Host-' : '';
  const cookieName = `${prefix}airlock-login`;
  const cookie = (name: string, token: string, sameSite: 'Strict' | 'Lax') =>
    `${name}=${token}; Path=/; Max-Age=${Math.ceil(options.loginTtlMs / 1000)}; HttpOnly; SameSite=${sameSite}${options.secureCookies ? '; Secure' : ''}`;
  const cookieFor = (token: string) => cookie(cookieName, token, 'Strict');
  // The browser token comes back on the PDS's redirect to the callback, a cross-site navigation: Lax, not Strict.
  const browserCookieName = (key: string) => `${prefix}airlock-browser-${key}`;
  const redirect = (status: 302 | 303, outcome: Extract<Awaited<ReturnType<LoginBroker['openLink']>>, { kind: 'redirect' }>) => ({
    status,
    headers: {
      location: outcome.url,
      ...(outcome.browserToken
        ? { 'set-cookie': cookie(browserCookieName(outcome.browserToken.key), outcome.browserToken.value, 'Lax') }
        : {}),
    },
  });
  const send = (outcome: Awaited<ReturnType<LoginBroker['openLink']>>, ref: string) => {
    if (outcome.kind === 'redirect') return redirect(303, outcome);
    if (outcome.kind === 'confirm') return confirmationPage(outcome.page, ref, cookieFor(outcome.page.csrfToken));
    return linkPage(outcome);
  };
  return [
    {
      method: 'GET',
      path: LOGIN_PATH,
      async handle(request) {
        // A HEAD (link previews, probes) must not count as the user opening it.
        if (request.method === 'HEAD') return { status: 200 };
        const ref = request.url.pathname.slice(LOGIN_PATH.length);
        const outcome = await broker.openLink(ref, AbortSignal.timeout(options.upstreamTimeoutMs), request.clientAddress);
        // A GET's redirect stays a 302, as before the confirmation page existed.
        if (outcome.kind === 'redirect') return redirect(302, outcome);
        return send(outcome, ref);
      },
    },
    {
      method: 'POST',
      path: LOGIN_PATH,
      maxBodyBytes: options.maxFormBytes,
      async handle(request) {
        const ref = request.url.pathname.slice(LOGIN_PATH.length);
        // Browsers say where a request comes from; one from another site is refused before anything is read.
        const site = request.headers['sec-fetch-site'];
        const form = new URLSearchParams(request.body?.toString('utf8') ?? '');
        const crossSite = site !== undefined && site !== 'same-origin';
        const action = form.get('action') === 'cancel' ? 'cancel' : 'continue';
        const outcome = await broker.confirmLink(
          ref,
          {
            formToken: crossSite ? '' : (form.get('csrf') ?? ''),
            cookieToken: cookieValue(request, cookieName),
            action,
            browserAddress: request.clientAddress,
          },
          AbortSignal.timeout(options.upstreamTimeoutMs),
        );
        return send(outcome, ref);
      },
    },
    {
      method: 'GET',
      path: CALLBACK_PATH,
      async handle(request) {
        if (request.method === 'HEAD') return { status: 200 };
        const browser = { address: request.clientAddress, token: (key: string) => cookieValue(request, browserCookieName(key)) };
        return callbackPage(await broker.completeCallback(request.url.searchParams, browser));
      },
    },
  ];
}
