// Errors the domain raises, named for what went wrong rather than for a
// transport. The gRPC and HTTP adapters map them to statuses and pages.
// Messages are shown to callers: they never contain a token or a secret.

export type AuthFailureReason = 'TOKEN_MISSING' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'SESSION_REVOKED' | 'SESSION_EXPIRED';

export abstract class AirlockError extends Error {
  abstract readonly kind: 'invalid-argument' | 'not-found' | 'unauthenticated' | 'permission-denied' | 'resource-exhausted' | 'unavailable';
}

export class InvalidArgumentError extends AirlockError {
  override name = 'InvalidArgumentError';
  readonly kind = 'invalid-argument';
}

export class NotFoundError extends AirlockError {
  override name = 'NotFoundError';
  readonly kind = 'not-found';
}

export class PermissionDeniedError extends AirlockError {
  override name = 'PermissionDeniedError';
  readonly kind = 'permission-denied';
}

export class ResourceExhaustedError extends AirlockError {
  override name = 'ResourceExhaustedError';
  readonly kind = 'resource-exhausted';
  /** How long the caller should wait before trying again, when known. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** A dependency (database, PDS, authorization server) cannot be reached now. */
export class UnavailableError extends AirlockError {
  override name = 'UnavailableError';
  readonly kind = 'unavailable';
}

/** The caller is not (or no longer) authenticated; the reason tells it what to do. */
export class UnauthenticatedError extends AirlockError {
  override name = 'UnauthenticatedError';
  readonly kind = 'unauthenticated';
  readonly reason: AuthFailureReason;
  constructor(reason: AuthFailureReason, message: string) {
    super(message);
    this.reason = reason;
  }
}
