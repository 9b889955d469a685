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
      // Signature first (answered from the verified-token cache for a token
      // seen before): a forged token never costs a lookup. The revocation
      // check runs on every call, cached token or not.
      const verified = await tokens.verify(accessToken);
      if (!revocations) return verified;
      const session = await revocations.statusOf(verified.sessionId);
      // Defence in depth: we only sign a session's own DID into its tokens,
      // so a token whose sid names another account's session was not made by
      // us as we are now (a leaked key): refused, and forgotten as verified.
      if (session.did !== undefined && session.did !== verified.did) {
        tokens.forget(accessToken);
        throw new UnauthenticatedError('TOKEN_INVALID', 'the access token is not valid: its session belongs to another account');
      }
      if (session.revoked) throw new UnauthenticatedError('SESSION_REVOKED', 'the session was revoked; sign in again');
      return verified;
    },
  };
}
