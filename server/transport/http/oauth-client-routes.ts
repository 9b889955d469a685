// The confidential OAuth client's metadata document (its client_id URL) and
// JWKS, served only when Airlock has a public https URL.
import type { AirlockOAuthClient } from '../../oauth/client.ts';
import { CLIENT_JWKS_PATH, CLIENT_METADATA_PATH } from '../../oauth/client.ts';
import type { Route } from './server.ts';

export function oauthClientRoutes(oauth: AirlockOAuthClient): Route[] {
  if (oauth.kind !== 'confidential') return [];
  const json = (value: unknown) => ({
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' },
    body: JSON.stringify(value),
  });
  return [
    { method: 'GET', path: CLIENT_METADATA_PATH, handle: () => json(oauth.metadata) },
    { method: 'GET', path: CLIENT_JWKS_PATH, handle: () => json(oauth.jwks) },
  ];
}
