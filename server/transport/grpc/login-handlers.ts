// InitiateLogin, AwaitLogin and CancelLogin over gRPC: the procedures of
// rpc/login-procedures.ts bound to grpc-js.
import type { AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import type { LoginBroker } from '../../login/login-broker.ts';
import { loginProcedures } from '../rpc/login-procedures.ts';
import { serverStream, unary, type HandlerDeps } from './handlers.ts';

export interface LoginHandlerDeps extends HandlerDeps {
  broker: LoginBroker;
}

export function loginHandlers(deps: LoginHandlerDeps): Pick<AuthServiceServer, 'initiateLogin' | 'awaitLogin' | 'cancelLogin'> {
  const procedures = loginProcedures(deps.broker);
  return {
    initiateLogin: unary(deps, procedures.initiateLogin),
    awaitLogin: serverStream(deps, procedures.awaitLogin),
    cancelLogin: unary(deps, procedures.cancelLogin),
  };
}
