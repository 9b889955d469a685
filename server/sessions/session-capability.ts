// Builds the token and session capability for the composition root
// (server/app.ts): signing keys, access tokens, the revocation check, the
// session service (the login broker's SessionStarter) and the
// authenticator the bearer interceptor uses.
import type { Kysely } from 'kysely';
import type { Settings } from '../config/settings.ts';
import type { Logger } from '../observability/logger.ts';
import type { Sealer } from '../storage/at-rest.ts';
import type { Database } from '../storage/schema.ts';
import { AccessTokens } from '../tokens/access-tokens.ts';
import { SigningKeyRing } from '../tokens/signing-keys.ts';
import { sessionAuthenticator, type Authenticator } from './authenticator.ts';
import { RevocationCheck } from './revocation-check.ts';
import { SessionService } from './session-service.ts';
import type { UpstreamSessions } from './upstream.ts';

export interface SessionCapability {
  keys: SigningKeyRing;
  accessTokens: AccessTokens;
  revocations: RevocationCheck;
  /** Implements SessionStarter (start) for the login broker, plus refresh/logout/revoke. */
  sessions: SessionService;
  authenticator: Authenticator;
}

export interface SessionCapabilityOptions {
  db: Kysely<Database>;
  settings: Settings;
  /** iss of access tokens: the public URL of the deployment. */
  issuer: string;
  logger: Logger;
  /** The master key sealing the signing keys' private halves. */
  sealer: Sealer;
  /** The user's ATProto session at their PDS, checked on every refresh: required, so it cannot be forgotten. */
  upstream: UpstreamSessions;
  publishRevocation?: (sessionId: string) => Promise<void> | void;
  now?: () => number;
}

export async function createSessionCapability(options: SessionCapabilityOptions): Promise<SessionCapability> {
  const { db, settings, issuer, logger, now } = options;
  const keys = await SigningKeyRing.open({ db, settings, now, sealer: options.sealer });
  const accessTokens = new AccessTokens({ keys, issuer, settings, now });
  const revocations = new RevocationCheck({ db, ttlMs: settings.revocationCacheTtl, maxEntries: settings.revocationCacheSize, now });
  const sessions = new SessionService({
    db,
    settings,
    accessTokens,
    revocations,
    logger,
    upstream: options.upstream,
    publishRevocation: options.publishRevocation,
    now,
  });
  return { keys, accessTokens, revocations, sessions, authenticator: sessionAuthenticator(accessTokens, revocations) };
}
