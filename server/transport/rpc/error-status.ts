// What a thrown error becomes on the wire, for both transports: a status code
// (gRPC's numbering, which Connect's Code enum shares), a message, and for
// UNAUTHENTICATED and rate limits a google.rpc.ErrorInfo reason, so clients
// act on the reason without parsing messages. Unknown errors become INTERNAL
// with a generic message.
import { AuthErrorReason } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { AirlockError, ResourceExhaustedError, UnauthenticatedError, type AuthFailureReason } from '../../errors.ts';
import { METADATA_TOO_LARGE, MetadataTooLargeError } from './bearer.ts';

export const ERROR_DOMAIN = 'airlock.dev';

/** The status codes Airlock answers with, numbered as gRPC and Connect number them. */
export const RpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type RpcCode = (typeof RpcCode)[keyof typeof RpcCode];

const CODES: Record<AirlockError['kind'], RpcCode> = {
  'invalid-argument': RpcCode.INVALID_ARGUMENT,
  'not-found': RpcCode.NOT_FOUND,
  unauthenticated: RpcCode.UNAUTHENTICATED,
  'permission-denied': RpcCode.PERMISSION_DENIED,
  'resource-exhausted': RpcCode.RESOURCE_EXHAUSTED,
  unavailable: RpcCode.UNAVAILABLE,
};

/**
 * The contract's AuthErrorReason for each domain reason. Exhaustive over the
 * domain's reasons (the compiler says when one is added); a contract test
 * checks that every enum value is produced, so neither side can drift.
 */
export const AUTH_ERROR_REASONS: Record<AuthFailureReason, AuthErrorReason> = {
  TOKEN_MISSING: AuthErrorReason.AUTH_ERROR_REASON_TOKEN_MISSING,
  TOKEN_INVALID: AuthErrorReason.AUTH_ERROR_REASON_TOKEN_INVALID,
  TOKEN_EXPIRED: AuthErrorReason.AUTH_ERROR_REASON_TOKEN_EXPIRED,
  SESSION_REVOKED: AuthErrorReason.AUTH_ERROR_REASON_SESSION_REVOKED,
  SESSION_EXPIRED: AuthErrorReason.AUTH_ERROR_REASON_SESSION_EXPIRED,
};

/** The ErrorInfo reason on the wire: the enum value's name without its AUTH_ERROR_REASON_ prefix. */
export function wireAuthReason(reason: AuthFailureReason): string {
  const value = AUTH_ERROR_REASONS[reason];
  const name = Object.keys(AuthErrorReason).find((key) => AuthErrorReason[key as keyof typeof AuthErrorReason] === value);
  return name!.replace(/^AUTH_ERROR_REASON_/, '');
}

export interface RpcFailure {
  code: RpcCode;
  message: string;
  /** The google.rpc.ErrorInfo to attach (domain ERROR_DOMAIN), when the failure has a reason. */
  errorInfo?: { reason: string; metadata: Record<string, string> };
  /** False for an error the domain did not anticipate: the adapter logs it. */
  expected: boolean;
}

export function rpcFailureOf(error: unknown): RpcFailure {
  if (error instanceof UnauthenticatedError) {
    return {
      code: RpcCode.UNAUTHENTICATED,
      message: error.message,
      errorInfo: { reason: wireAuthReason(error.reason), metadata: {} },
      expected: true,
    };
  }
  if (error instanceof MetadataTooLargeError) {
    return {
      code: RpcCode.RESOURCE_EXHAUSTED,
      message: error.message,
      errorInfo: { reason: METADATA_TOO_LARGE, metadata: { limitBytes: String(error.limitBytes) } },
      expected: true,
    };
  }
  if (error instanceof ResourceExhaustedError && error.retryAfterMs !== undefined) {
    return {
      code: RpcCode.RESOURCE_EXHAUSTED,
      message: error.message,
      errorInfo: { reason: 'RATE_LIMITED', metadata: { retryAfterMs: String(error.retryAfterMs) } },
      expected: true,
    };
  }
  if (error instanceof AirlockError) return { code: CODES[error.kind], message: error.message, expected: true };
  return { code: RpcCode.INTERNAL, message: 'internal error', expected: false };
}
