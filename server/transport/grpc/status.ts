// Maps domain errors to gRPC statuses. UNAUTHENTICATED carries a
// google.rpc.ErrorInfo in grpc-status-details-bin so clients can act on the
// reason without parsing messages.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { AuthErrorReason } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { ErrorInfo } from '../../../proto/gen/google/rpc/error_details.ts';
import { Status } from '../../../proto/gen/google/rpc/status.ts';
import { AirlockError, ResourceExhaustedError, UnauthenticatedError, type AuthFailureReason } from '../../errors.ts';

export const ERROR_DOMAIN = 'airlock.dev';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

const CODES: Record<AirlockError['kind'], status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  unauthenticated: status.UNAUTHENTICATED,
  'permission-denied': status.PERMISSION_DENIED,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
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

export type GrpcStatusError = Partial<ServiceError> & { code: status; details: string };

export function errorInfoMetadata(code: status, message: string, reason: string, metadata: Record<string, string> = {}): Metadata {
  const info = ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata }).finish();
  const detail = Status.encode({
    code,
    message,
    details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) }],
  }).finish();
  const trailers = new Metadata();
  trailers.set(STATUS_DETAILS_KEY, Buffer.from(detail));
  return trailers;
}

/** A status for a thrown value. Unknown errors become INTERNAL with a generic message. */
export function toGrpcStatus(error: unknown): { status: GrpcStatusError; expected: boolean } {
  if (error instanceof UnauthenticatedError) {
    const code = status.UNAUTHENTICATED;
    return {
      status: { code, details: error.message, metadata: errorInfoMetadata(code, error.message, wireAuthReason(error.reason)) },
      expected: true,
    };
  }
  if (error instanceof ResourceExhaustedError && error.retryAfterMs !== undefined) {
    const code = status.RESOURCE_EXHAUSTED;
    const metadata = errorInfoMetadata(code, error.message, 'RATE_LIMITED', { retryAfterMs: String(error.retryAfterMs) });
    return { status: { code, details: error.message, metadata }, expected: true };
  }
  if (error instanceof AirlockError) return { status: { code: CODES[error.kind], details: error.message }, expected: true };
  return { status: { code: status.INTERNAL, details: 'internal error' }, expected: false };
}

/** Reads the ErrorInfo of a status, if it carries one (for clients and tests). */
export function readErrorInfo(metadata: Metadata | undefined): ErrorInfo | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return undefined;
  const decoded = Status.decode(raw);
  const any = decoded.details.find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
  return any ? ErrorInfo.decode(any.value) : undefined;
}
