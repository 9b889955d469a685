// AuthService over gRPC: the login RPCs and the session RPCs.
import { AuthServiceService, type AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import type { ServiceBinding } from './server.ts';

export function authService(handlers: AuthServiceServer): ServiceBinding {
  return { name: 'airlock.auth.v1.AuthService', definition: AuthServiceService, implementation: handlers };
}
