// HTTP routes of a login: the link the app opens in the browser (records
// "browser opened", then redirects to the authorization server) and the
// OAuth callback (completes the login, shows the user a page).
import type { LoginBroker } from '../../login/login-broker.ts';
import { LOGIN_PATH } from '../../login/login-broker.ts';
import { CALLBACK_PATH } from '../../oauth/client.ts';
import { callbackPage, linkPage } from './pages.ts';
import type { Route } from './server.ts';

export function loginRoutes(broker: LoginBroker, options: { upstreamTimeoutMs: number }): Route[] {
  return [
    {
      method: 'GET',
      path: LOGIN_PATH,
      async handle(request) {
        // A HEAD (link previews, probes) must not count as the user opening it.
        if (request.method === 'HEAD') return { status: 200 };
        const ref = request.url.pathname.slice(LOGIN_PATH.length);
        const outcome = await broker.openLink(ref, AbortSignal.timeout(options.upstreamTimeoutMs));
        if (outcome.kind === 'redirect') return { status: 302, headers: { location: outcome.url } };
        return linkPage(outcome);
      },
    },
    {
      method: 'GET',
      path: CALLBACK_PATH,
      async handle(request) {
        if (request.method === 'HEAD') return { status: 200 };
        return callbackPage(await broker.completeCallback(request.url.searchParams));
      },
    },
  ];
}
