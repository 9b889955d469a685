// RefreshSession, Logout, WhoAmI, ListSessions and RevokeSession: thin
// procedures over the session service. The caller's identity, where there is
// one, comes only from the bearer check (ctx.identity).
import type {
  ListSessionsRequest,
  ListSessionsResponse,
  LogoutRequest,
  LogoutResponse,
  RefreshSessionRequest,
  RefreshSessionResponse,
  RevokeSessionRequest,
  RevokeSessionResponse,
  Session,
  WhoAmIRequest,
  WhoAmIResponse,
} from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { UnauthenticatedError } from '../../errors.ts';
import type { SessionService } from '../../sessions/session-service.ts';
import type { IssuedSession } from '../../sessions/session-types.ts';
import type { UnaryProcedure } from './call-context.ts';

export type SessionOperations = Pick<SessionService, 'refresh' | 'logout' | 'logoutWithRefreshToken' | 'listLive' | 'revokeOwn'>;

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

export interface SessionProcedures {
  refreshSession: UnaryProcedure<RefreshSessionRequest, RefreshSessionResponse>;
  logout: UnaryProcedure<LogoutRequest, LogoutResponse>;
  whoAmI: UnaryProcedure<WhoAmIRequest, WhoAmIResponse>;
  listSessions: UnaryProcedure<ListSessionsRequest, ListSessionsResponse>;
  revokeSession: UnaryProcedure<RevokeSessionRequest, RevokeSessionResponse>;
}

export function sessionProcedures(sessions: SessionOperations): SessionProcedures {
  return {
    async refreshSession(request) {
      return { session: toSessionMessage(await sessions.refresh(request.refreshToken)) };
    },

    // The bearer names the session when present (the bearer check has verified
    // it); otherwise the refresh token in the request does.
    async logout(request, ctx) {
      if (ctx.identity) await sessions.logout(ctx.identity.sessionId);
      else await sessions.logoutWithRefreshToken(request.refreshToken);
      return {};
    },

    async whoAmI(_request, ctx) {
      // The policy guards WhoAmI; should that ever be misconfigured, refuse.
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      const { did, handle, sessionId, expiresAt } = ctx.identity;
      return { did, handle, sessionId, accessTokenExpiresAt: expiresAt };
    },

    // Both are scoped to the caller's DID, from the verified bearer only.
    async listSessions(_request, ctx) {
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      const { did, sessionId: current } = ctx.identity;
      const live = await sessions.listLive(did);
      return { sessions: live.map((s) => ({ ...s, current: s.sessionId === current })) };
    },

    async revokeSession(request, ctx) {
      if (!ctx.identity) throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token');
      await sessions.revokeOwn(ctx.identity.did, request.sessionId);
      return {};
    },
  };
}
