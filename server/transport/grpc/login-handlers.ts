// InitiateLogin and AwaitLogin over gRPC.
import type { AuthServiceServer } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { notImplemented, type HandlerDeps } from './handlers.ts';

export function loginHandlers(_deps: HandlerDeps): Pick<AuthServiceServer, 'initiateLogin' | 'awaitLogin'> {
  return {
    initiateLogin: notImplemented('InitiateLogin'),
    awaitLogin: notImplemented('AwaitLogin'),
  };
}
