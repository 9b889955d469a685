// The bearer interceptor: the only place a gRPC call is authenticated.
// It runs the shared bearer check (rpc/bearer.ts) and attaches the verified identity to the
// call's own Metadata object (call-context.ts). grpc-js hands handlers that
// same object (it is what this interceptor passes on), and the identity lives
// in a WeakMap, not in a header, so nothing a client sends can pose as it.
//
// Failures end the call UNAUTHENTICATED with a google.rpc.ErrorInfo whose
// reason says what to do; the handler never runs. Messages never contain
// the token.
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import { authenticateBearer, type BearerCheckOptions } from '../rpc/bearer.ts';
import { accessOf, type MethodAccess } from '../rpc/method-policy.ts';
import { attachIdentity } from './call-context.ts';
import { errorInfoMetadata, wireAuthReason } from './status.ts';

export interface AuthInterceptorOptions extends BearerCheckOptions {
  logger: Logger;
  /** Defaults to the METHOD_POLICY table. */
  accessOf?: (path: string) => MethodAccess;
}

export function authInterceptor(options: AuthInterceptorOptions): ServerInterceptor {
  const policy = options.accessOf ?? accessOf;
  return (methodDescriptor, call) => {
    const access = policy(methodDescriptor.path);
    // Nothing to check: the call passes on as it is, without a wrapper per call.
    if (access === 'public') return call as ServerInterceptingCall;
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, passOn) {
            authenticateBearer(metadata.get('authorization'), access, options).then(
              (identity) => {
                if (identity) attachIdentity(metadata, identity);
                passOn(metadata);
              },
              (error: unknown) => {
                const failure =
                  error instanceof UnauthenticatedError
                    ? error
                    : new UnauthenticatedError('TOKEN_INVALID', 'the access token could not be verified');
                if (!(error instanceof UnauthenticatedError))
                  options.logger.error({ err: error, method: methodDescriptor.path }, 'unexpected error while authenticating');
                call.sendStatus({
                  code: status.UNAUTHENTICATED,
                  details: failure.message,
                  metadata: errorInfoMetadata(status.UNAUTHENTICATED, failure.message, wireAuthReason(failure.reason)),
                });
              },
            );
          },
        });
      },
    });
  };
}
