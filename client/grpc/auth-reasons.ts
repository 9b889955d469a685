// The UNAUTHENTICATED reasons, taken from the contract's AuthErrorReason enum
// (the wire string is the enum name without its prefix), so a reason the
// server adds reaches the client's types through regeneration, not by hand.
import { AuthErrorReason } from '../../proto/gen/airlock/auth/v1/auth.ts';

const PREFIX = 'AUTH_ERROR_REASON_';

type Stripped<Name> = Name extends `${typeof PREFIX}${infer Reason}` ? (Reason extends 'UNSPECIFIED' ? never : Reason) : never;

/** TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, SESSION_REVOKED, ... as the proto names them. */
export type AuthReason = Stripped<keyof typeof AuthErrorReason>;

/** Every reason of the enum, in the enum's order. */
export const AUTH_REASONS: readonly AuthReason[] = Object.keys(AuthErrorReason)
  .filter((name) => name.startsWith(PREFIX) && name !== `${PREFIX}UNSPECIFIED`)
  .map((name) => name.slice(PREFIX.length) as AuthReason);

export function isAuthReason(value: string): value is AuthReason {
  return (AUTH_REASONS as readonly string[]).includes(value);
}
