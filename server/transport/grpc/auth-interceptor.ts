// The bearer interceptor: the only place a gRPC call is authenticated.
// It reads `authorization: Bearer <jwt>`, has the authenticator verify it
// (our keys only, session alive), and attaches the verified identity to the
// call's own Metadata object (call-context.ts). grpc-js hands handlers that
// same object (it is what this interceptor passes on), and the identity lives
// in a WeakMap, not in a header, so nothing a client sends can pose as it.
//
// Failures end the call UNAUTHENTICATED with a google.rpc.ErrorInfo whose
// reason says what to do; the handler never runs. Messages never contain
// the token.
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../../errors.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Authenticator } from '../../sessions/authenticator.ts';
import { attachIdentity, type Identity } from './call-context.ts';
import { accessOf, type MethodAccess } from './method-policy.ts';
import { errorInfoMetadata, wireAuthReason } from './status.ts';

export interface AuthInterceptorOptions {
  authenticator: Authenticator;
  /** Longest authorization metadata accepted, in bytes (settings.maxMetadataBytes). */
  maxAuthorizationBytes: number;
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
            authenticate(metadata, access, options).then(
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

async function authenticate(metadata: Metadata, access: MethodAccess, options: AuthInterceptorOptions): Promise<Identity | undefined> {
  const values = metadata.get('authorization');
  if (values.length === 0) {
    if (access === 'optional-bearer') return undefined;
    throw new UnauthenticatedError('TOKEN_MISSING', 'this call needs an access token: send "authorization: Bearer <access token>"');
  }
  let size = 0;
  for (const value of values) size += typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  if (size > options.maxAuthorizationBytes) {
    throw new UnauthenticatedError('TOKEN_INVALID', `the authorization metadata is larger than ${options.maxAuthorizationBytes} bytes`);
  }
  if (values.length > 1) throw new UnauthenticatedError('TOKEN_INVALID', 'send exactly one authorization header');
  // No Bearer credential at all (another scheme, or nothing after "Bearer")
  // is TOKEN_MISSING: the client should attach its access token. A Bearer
  // value that is not a single token is TOKEN_INVALID.
  const value = String(values[0]).trim();
  const scheme = /^(\S+)(?:\s+(.*))?$/.exec(value);
  if (!scheme || scheme[1]!.toLowerCase() !== 'bearer') {
    throw new UnauthenticatedError(
      'TOKEN_MISSING',
      'this call needs an access token in the Bearer scheme: "authorization: Bearer <access token>"',
    );
  }
  const token = scheme[2]?.trim() ?? '';
  if (!token)
    throw new UnauthenticatedError('TOKEN_MISSING', 'the authorization header holds no access token: send "Bearer <access token>"');
  if (/\s/.test(token)) throw new UnauthenticatedError('TOKEN_INVALID', 'the authorization header must hold exactly one token');
  const verified = await options.authenticator.authenticate(token);
  return { did: verified.did, handle: verified.handle, sessionId: verified.sessionId, expiresAt: verified.expiresAt };
}
