// RefreshSession, Logout, WhoAmI, ListSessions and RevokeSession over gRPC:
// the procedures of rpc/session-procedures.ts bound to grpc-js.
import type { AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { sessionProcedures, type SessionOperations } from '../rpc/session-procedures.ts';
import { unary, type HandlerDeps } from './handlers.ts';

export interface SessionHandlerDeps extends HandlerDeps {
  sessions: SessionOperations;
}

export function sessionHandlers(
  deps: SessionHandlerDeps,
): Pick<AuthServiceServer, 'refreshSession' | 'logout' | 'whoAmI' | 'listSessions' | 'revokeSession'> {
  const procedures = sessionProcedures(deps.sessions);
  return {
    refreshSession: unary(deps, procedures.refreshSession),
    logout: unary(deps, procedures.logout),
    whoAmI: unary(deps, procedures.whoAmI),
    listSessions: unary(deps, procedures.listSessions),
    revokeSession: unary(deps, procedures.revokeSession),
  };
}
