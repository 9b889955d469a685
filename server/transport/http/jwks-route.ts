// GET /.well-known/jwks.json: the public keys of Airlock access tokens
// (pending, active and retiring), for services that verify them.
import type { SigningKeyRing } from '../../tokens/signing-keys.ts';
import type { Route } from './server.ts';

export const JWKS_PATH = '/.well-known/jwks.json';

export function jwksRoute(keys: SigningKeyRing): Route {
  return {
    method: 'GET',
    path: JWKS_PATH,
    handle: async () => ({
      status: 200,
      // Short: a rotation publishes the next key ahead of use, not hours ahead.
      headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' },
      body: JSON.stringify(await keys.jwks()),
    }),
  };
}
