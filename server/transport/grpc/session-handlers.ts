// RefreshSession, Logout and WhoAmI over gRPC.
import type { AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { notImplemented, type HandlerDeps } from './handlers.ts';

export function sessionHandlers(_deps: HandlerDeps): Pick<AuthServiceServer, 'refreshSession' | 'logout' | 'whoAmI'> {
  return {
    refreshSession: notImplemented('RefreshSession'),
    logout: notImplemented('Logout'),
    whoAmI: notImplemented('WhoAmI'),
  };
}
