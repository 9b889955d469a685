// The session capability's view of a user's ATProto session (UpstreamSessions):
// is it still alive at the PDS, and sign it out. Over the shared OAuth client.
import { TokenInvalidError, TokenRefreshError, TokenRevokedError } from '@atproto/oauth-client-node';
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { UpstreamSessions, UpstreamStatus } from '../sessions/upstream.ts';
import type { AirlockOAuthClient } from './client.ts';
import { causesOf } from './upstream-authorizer.ts';

function isNetworkFailure(error: unknown): boolean {
  return causesOf(error).some(
    (e) =>
      (e instanceof TypeError && /fetch failed/i.test(e.message)) ||
      (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) ||
      (typeof (e as { status?: unknown }).status === 'number' && (e as { status: number }).status >= 500),
  );
}

export function upstreamSessions(oauth: AirlockOAuthClient, logger: Logger): UpstreamSessions {
  return {
    async check({ did, upstreamId }): Promise<UpstreamStatus> {
      try {
        // restore() only talks to the authorization server when the upstream
        // access token is due, so it cannot see a grant the user revoked a
        // minute ago. One authenticated call can: the PDS checks its tokens
        // (stateful), answers 401 for a revoked one, and the library then
        // tries its refresh token, fails and deletes the stored session.
        const session = await oauth.forSession(upstreamId).restore(did, 'auto');
        const response = await session.fetchHandler('/xrpc/com.atproto.server.getSession');
        await response.body?.cancel();
        if (response.ok) return 'active';
        if (response.status >= 500 || response.status === 429) {
          throw new UnavailableError("the user's PDS cannot confirm the session now; retry shortly");
        }
        // 401 (revoked, deleted account) or 400 (taken down, deactivated): the grant is gone.
        logger.info({ did, status: response.status }, 'upstream session no longer accepted by the PDS');
        return 'revoked';
      } catch (error) {
        if (error instanceof UnavailableError) throw error;
        // A network fault never signs anyone out.
        if (isNetworkFailure(error)) throw new UnavailableError("the user's PDS or authorization server cannot be reached; retry shortly");
        if (error instanceof TokenRevokedError || error instanceof TokenInvalidError || error instanceof TokenRefreshError)
          return 'revoked';
        // Anything else the library reports means the stored session cannot be used.
        logger.warn({ err: error, did }, 'upstream session unusable; treating as revoked');
        return 'revoked';
      }
    },
    async signOut({ did, upstreamId }) {
      try {
        await oauth.forSession(upstreamId).revoke(did);
      } catch (error) {
        logger.warn({ err: error, did }, 'upstream sign-out failed (best effort)');
      }
    },
  };
}
