// Builds the ATProto OAuth client (@atproto/oauth-client-node) every part of
// Airlock shares: the login broker starts and completes authorizations with
// it, the session capability restores and signs out upstream sessions.
//
// Two shapes: without a public https URL, the loopback development client
// (client_id http://localhost, redirect to 127.0.0.1); with one, a
// confidential web client (private_key_jwt, ES256) whose metadata document
// and JWKS Airlock serves itself.
import { SimpleStoreMemory } from '@atproto-labs/simple-store-memory';
import {
  buildAtprotoLoopbackClientMetadata,
  NodeOAuthClient,
  type NodeOAuthClientOptions,
  type NodeSavedStateStore,
  type OAuthClientMetadataInput,
} from '@atproto/oauth-client-node';
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Settings } from '../config/settings.ts';
import type { Sealer } from '../storage/at-rest.ts';
import type { Database } from '../storage/schema.ts';
import { loadClientKey, storedClientKey } from './client-key.ts';
import { guardedFetch } from './guarded-fetch.ts';
import type { RequestLock } from '../coordination/request-lock.ts';
import { ReusableJoseKey } from './reusable-key.ts';
import { noSessions, sessionStore, stateStore, type OAuthStateStore } from './stores.ts';

export const CALLBACK_PATH = '/oauth/callback';
export const CLIENT_METADATA_PATH = '/oauth/client-metadata.json';
export const CLIENT_JWKS_PATH = '/oauth/jwks.json';

export type OAuthClientSettings = Pick<
  Settings,
  'mode' | 'oauthScope' | 'oauthClientKeyFile' | 'plcUrl' | 'handleResolverUrl' | 'allowHttp' | 'upstreamTimeout' | 'loginTtl'
>;

export interface AirlockOAuthClient {
  /** Starts authorizations (PAR) and resolves identities; holds no upstream session. */
  client: NodeOAuthClient;
  /**
   * A client whose session store holds one upstream session only: the one
   * of the Airlock session with this upstream id (null: a DID's shared
   * session from before). Callbacks, restores and sign-outs go through it.
   */
  forSession(upstreamId: string | null, states?: NodeSavedStateStore): NodeOAuthClient;
  kind: 'loopback' | 'confidential';
  /** The client metadata as served (confidential) or implied by the client_id (loopback). */
  metadata: OAuthClientMetadataInput;
  /** Public keys of the confidential client; empty for the loopback client. */
  jwks: { keys: readonly unknown[] };
  states: OAuthStateStore;
}

export interface OAuthClientUrls {
  /** Base URL users' browsers reach the HTTP listener at; https turns on the confidential client. */
  publicUrl: string;
  /** The HTTP listener's port, for the loopback client's 127.0.0.1 redirect. */
  httpPort: number;
}

export async function createOAuthClient(
  settings: OAuthClientSettings,
  db: Kysely<Database>,
  requestLock: RequestLock,
  urls: OAuthClientUrls,
  sealer: Sealer,
): Promise<AirlockOAuthClient> {
  const confidential = urls.publicUrl.startsWith('https://');
  const base = urls.publicUrl.replace(/\/$/, '');
  const metadata: OAuthClientMetadataInput = confidential
    ? {
        client_id: `${base}${CLIENT_METADATA_PATH}`,
        client_name: 'Airlock',
        client_uri: base,
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${base}${CALLBACK_PATH}`],
        scope: settings.oauthScope,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        dpop_bound_access_tokens: true,
        jwks_uri: `${base}${CLIENT_JWKS_PATH}`,
      }
    : buildAtprotoLoopbackClientMetadata({
        scope: settings.oauthScope as `atproto${string}`,
        redirect_uris: [`http://127.0.0.1:${urls.httpPort}${CALLBACK_PATH}`],
      });

  const keyset = confidential
    ? [settings.oauthClientKeyFile ? await loadClientKey(settings.oauthClientKeyFile) : await storedClientKey(db, sealer)]
    : undefined;

  const trustedOrigins = [settings.plcUrl, settings.handleResolverUrl].filter((u): u is string => Boolean(u));
  const fetch = guardedFetch({
    timeoutMs: settings.upstreamTimeout,
    ssrfProtection: settings.mode !== 'development',
    allowHttp: settings.allowHttp,
    trustedOrigins,
  });

  // Authorization requests live as long as the login that made them, plus
  // slack for a user finishing at the last second.
  const states = stateStore(db, settings.loginTtl + 60_000, sealer);
  const shared: Omit<NodeOAuthClientOptions, 'sessionStore'> = {
    clientMetadata: metadata,
    keyset,
    stateStore: states,
    // The library's defaults, except that a new DPoP key imports its private
    // half once rather than for every proof it signs.
    runtimeImplementation: {
      requestLock,
      createKey: async (algs) => ReusableJoseKey.from(await ReusableJoseKey.generate(algs)),
      getRandomValues: randomBytes,
      digest: (bytes, algorithm) => createHash(algorithm.name).update(bytes).digest(),
    },
    fetch,
    responseMode: 'query',
    allowHttp: settings.allowHttp,
    plcDirectoryUrl: settings.plcUrl,
    ...(settings.handleResolverUrl ? { handleResolver: settings.handleResolverUrl } : {}),
    // The caches the library would make per client, shared by all of ours (the library's defaults).
    dpopNonceCache: new SimpleStoreMemory({ ttl: 60e3, max: 100 }),
    authorizationServerMetadataCache: new SimpleStoreMemory({ ttl: 60e3, max: 100 }),
    protectedResourceMetadataCache: new SimpleStoreMemory({ ttl: 60e3, max: 100 }),
  };
  const client = new NodeOAuthClient({ ...shared, sessionStore: noSessions });
  // A client per upstream session is cheap (the keyset, identity resolver
  // and caches are shared) and keeps the library's in-memory bookkeeping,
  // keyed by DID, from mixing two sessions of one user.
  const forSession = (upstreamId: string | null, stateStoreView: NodeSavedStateStore = states) =>
    new NodeOAuthClient({
      ...shared,
      keyset: client.keyset,
      identityResolver: client.identityResolver,
      stateStore: stateStoreView,
      sessionStore: sessionStore(db, upstreamId, sealer),
    });

  return { client, forSession, kind: confidential ? 'confidential' : 'loopback', metadata, jwks: client.jwks, states };
}

/** A new upstream session id (random): names one Airlock session's own upstream session. */
export function newUpstreamId(): string {
  return randomBytes(12).toString('base64url');
}
