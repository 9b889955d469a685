// AuthService over gRPC. Each handler reads like the RPC it implements and
// delegates to the domain.
import type { AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { AuthServiceService } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { notImplemented, type HandlerDeps } from './handlers.ts';
import type { ServiceBinding } from './server.ts';

export function authService(_deps: HandlerDeps): ServiceBinding {
  const implementation: AuthServiceServer = {
    initiateLogin: notImplemented('InitiateLogin'),
    awaitLogin: notImplemented('AwaitLogin'),
    refreshSession: notImplemented('RefreshSession'),
    logout: notImplemented('Logout'),
    whoAmI: notImplemented('WhoAmI'),
  };
  return { name: 'airlock.auth.v1.AuthService', definition: AuthServiceService, implementation };
}
