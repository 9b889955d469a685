// AuthService over gRPC: the login RPCs and the session RPCs.
import { AuthServiceService, type AuthServiceServer, type AwaitLoginResponse } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import type { ServiceBinding } from './server.ts';

/**
 * AwaitLogin's response encoder, encoding a heartbeat once for all streams:
 * every stream's heartbeat of one tick is the same frozen message
 * (rpc/login-procedures.ts), so the bytes of the last one are reused while
 * it is the one being sent. grpc-js copies them into each stream's frame.
 * Only heartbeats are remembered, never a message with a session in it.
 */
export function heartbeatOnceSerializer(serialize: (value: AwaitLoginResponse) => Buffer): (value: AwaitLoginResponse) => Buffer {
  let last: AwaitLoginResponse | undefined;
  let bytes: Buffer | undefined;
  return (value) => {
    if (value === last) return bytes!;
    const encoded = serialize(value);
    if (value.event?.$case === 'heartbeat' && Object.isFrozen(value)) {
      last = value;
      bytes = encoded;
    }
    return encoded;
  };
}

const definition = {
  ...AuthServiceService,
  awaitLogin: {
    ...AuthServiceService.awaitLogin,
    responseSerialize: heartbeatOnceSerializer(AuthServiceService.awaitLogin.responseSerialize),
  },
};

export function authService(handlers: AuthServiceServer): ServiceBinding {
  return { name: 'airlock.auth.v1.AuthService', definition, implementation: handlers };
}
