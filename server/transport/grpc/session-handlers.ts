// RefreshSession, Logout and WhoAmI over gRPC: thin adapters over the
// session service. The caller's identity, where there is one, comes only
// from the bearer interceptor (ctx.identity).
import type {
  AuthServiceServer,
  ListSessionsResponse,
  LogoutResponse,
  RefreshSessionResponse,
  RevokeSessionResponse,
  Session,
  WhoAmIResponse,
} from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { UnauthenticatedError } from '../../errors.ts';
import type { SessionService } from '../../sessions/session-service.ts';
import type { IssuedSession } from '../../sessions/session-types.ts';
import { unary, type HandlerDeps } from './handlers.ts';

export interface SessionHandlerDeps extends HandlerDeps {
  sessions: Pick<SessionService, 'refresh' | 'logout' | 'logoutWithRefreshToken' | 'listLive' | 'revokeOwn'>;
}

/** The wire form of an issued session (also used by AwaitLogin's completed event). */
export function toSessionMessage(issued: IssuedSession): Session {
  return {
    accessToken: issued.accessToken,
    accessTokenExpiresAt: issued.accessTokenExpiresAt,
    refreshToken: issued.refreshToken,
    refreshTokenExpiresAt: issued.refreshTokenExpiresAt,
    did: issued.did,
    handle: issued.handle,
    pdsUrl: issued.pdsUrl,
    sessionId: issued.sessionId,
  };
}

export function sessionHandlers(
  deps: SessionHandlerDeps,
): Pick<AuthServiceServer, 'refreshSession' | 'logout' | 'whoAmI' | 'listSessions' | 'revokeSession'> {
  return {
    refreshSession: unary(
      deps,
      async (request, _ctx): Promise<RefreshSessionResponse> => ({
        session: toSessionMessage(await deps.sessions.refresh(request.refreshToken)),
      }),
    ),

    // The bearer names the session when present (the interceptor has verified
    // it); otherwise the refresh token in the request does.
    logout: unary(deps, async (request, ctx): Promise<LogoutResponse> => {
      if (ctx.identity) await deps.sessions.logout(ctx.identity.sessionId);
      else await deps.sessions.logoutWithRefreshToken(request.refreshToken);
      return {};
    }),

    whoAmI: unary(deps, async (_request, ctx): Promise<WhoAmIResponse> => {
      // The interceptor guards WhoAmI; should that ever be misconfigured, refuse.
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      const { did, handle, sessionId, expiresAt } = ctx.identity;
      return { did, handle, sessionId, accessTokenExpiresAt: expiresAt };
    }),

    // Both are scoped to the caller's DID, from the verified bearer only.
    listSessions: unary(deps, async (_request, ctx): Promise<ListSessionsResponse> => {
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      const { did, sessionId: current } = ctx.identity;
      const sessions = await deps.sessions.listLive(did);
      return { sessions: sessions.map((s) => ({ ...s, current: s.sessionId === current })) };
    }),

    revokeSession: unary(deps, async (request, ctx): Promise<RevokeSessionResponse> => {
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      await deps.sessions.revokeOwn(ctx.identity.did, request.sessionId);
      return {};
    }),
  };
}
