// The UNAUTHENTICATED reasons, taken from the contract's AuthErrorReason enum
// (the wire string is the enum name without its AUTH_ERROR_REASON_ prefix,
// which is how protobuf-es names the values), so a reason the server adds
// reaches the client's types through regeneration, not by hand. Read from
// proto/gen-es, which loads no transport: the browser build uses it too.
import { AuthErrorReason } from '../../proto/gen-es/airlock/auth/v1/auth_pb.js';

/** TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, SESSION_REVOKED, ... as the proto names them. */
export type AuthReason = Exclude<keyof typeof AuthErrorReason, 'UNSPECIFIED'>;

/** Every reason of the enum, in the enum's order. */
export const AUTH_REASONS: readonly AuthReason[] = Object.keys(AuthErrorReason).filter(
  (name): name is AuthReason => Number.isNaN(Number(name)) && name !== 'UNSPECIFIED',
);

export function isAuthReason(value: string): value is AuthReason {
  return (AUTH_REASONS as readonly string[]).includes(value);
}
