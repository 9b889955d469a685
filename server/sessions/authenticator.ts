// Who is calling: a verified access token whose session is still alive.
// Transport-free; the gRPC bearer interceptor calls it.
import { UnauthenticatedError } from '../errors.ts';
import type { AccessTokens, VerifiedAccessToken } from '../tokens/access-tokens.ts';
import type { RevocationCheck } from './revocation-check.ts';

export interface Authenticator {
  /** Throws UnauthenticatedError (TOKEN_INVALID, TOKEN_EXPIRED, SESSION_REVOKED). */
  authenticate(accessToken: string): Promise<VerifiedAccessToken>;
}

export function sessionAuthenticator(tokens: AccessTokens, revocations: RevocationCheck | undefined): Authenticator {
  return {
    async authenticate(accessToken) {
      const verified = await tokens.verify(accessToken);
      // Signature first: a forged token never costs a lookup.
      if (revocations && (await revocations.isRevoked(verified.sessionId))) {
        throw new UnauthenticatedError('SESSION_REVOKED', 'the session was revoked; sign in again');
      }
      return verified;
    },
  };
}
