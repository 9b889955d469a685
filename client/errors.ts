// The typed errors of the client. An app switches on the class (or on
// `code`, which survives serialization across a sidecar boundary). No
// message ever holds a token, a verifier or a server-sent secret.

import type { AuthReason } from './grpc/auth-reasons.ts';

export type ClientErrorCode =
  | 'LOGIN_DENIED'
  | 'LOGIN_EXPIRED'
  | 'LOGIN_FAILED'
  | 'LOGIN_SUPERSEDED'
  | 'LOGIN_CANCELLED'
  | 'UNKNOWN_LOGIN'
  | 'SIGNED_OUT'
  | 'SERVER_UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'REQUEST_FAILED'
  | 'STORAGE_FAILED'
  | 'INVALID_SERVER_URL'
  | 'INVALID_TLS_OPTIONS';

export abstract class AirlockClientError extends Error {
  abstract readonly code: ClientErrorCode;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The user refused consent at their authorization server. */
export class LoginDeniedError extends AirlockClientError {
  readonly code = 'LOGIN_DENIED';
}

/** The login expired before the user finished signing in. Start a new one. */
export class LoginExpiredError extends AirlockClientError {
  readonly code = 'LOGIN_EXPIRED';
}

/** The server reported another failure (authorization server or token exchange failed). */
export class LoginFailedError extends AirlockClientError {
  readonly code = 'LOGIN_FAILED';
}

/**
 * A later startLogin replaced this login; await the newer one. `loginId` is
 * empty for a startLogin superseded before the server gave it an id.
 */
export class LoginSupersededError extends AirlockClientError {
  readonly code = 'LOGIN_SUPERSEDED';
  readonly loginId: string;
  constructor(loginId: string) {
    super(
      loginId ? 'this login was superseded by a newer startLogin' : 'this startLogin was superseded by a newer one before it got a login',
    );
    this.loginId = loginId;
  }
}

/** The wait was aborted (AbortSignal, Ctrl-C) or the client signed out. */
export class LoginCancelledError extends AirlockClientError {
  readonly code = 'LOGIN_CANCELLED';
}

/** awaitLogin for a login this client is not running (never started, finished, or unknown to the server). */
export class UnknownLoginError extends AirlockClientError {
  readonly code = 'UNKNOWN_LOGIN';
}

/** Why there is no session: the server's reasons (from the contract's enum) except an expired access token, which a refresh cures. */
export type SignedOutReason = Exclude<AuthReason, 'TOKEN_EXPIRED'> | 'NOT_SIGNED_IN' | 'SIGNED_OUT_DURING_CALL';

/** There is no usable session: show the sign-in screen. The local session has been cleared. */
export class SignedOutError extends AirlockClientError {
  readonly code = 'SIGNED_OUT';
  readonly reason: SignedOutReason;
  constructor(reason: SignedOutReason, message = signedOutMessage(reason)) {
    super(message);
    this.reason = reason;
  }
}

function signedOutMessage(reason: SignedOutReason): string {
  switch (reason) {
    case 'NOT_SIGNED_IN':
      return 'not signed in';
    case 'SESSION_REVOKED':
      return 'the session was revoked; sign in again';
    case 'SESSION_EXPIRED':
      return 'the session expired; sign in again';
    case 'TOKEN_INVALID':
      return 'the server rejected the access token; sign in again';
    case 'TOKEN_MISSING':
      return 'the server received no access token; sign in again';
    case 'SIGNED_OUT_DURING_CALL':
      return 'signed out while the call was running';
  }
}

/** The server could not be reached or did not answer in time. The session is kept; retry later. */
export class ServerUnavailableError extends AirlockClientError {
  readonly code = 'SERVER_UNAVAILABLE';
}

/** A rate or count limit was hit. */
export class RateLimitedError extends AirlockClientError {
  readonly code = 'RATE_LIMITED';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Any other refusal: the gRPC status name (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) is in `status`. */
export class RequestFailedError extends AirlockClientError {
  readonly code = 'REQUEST_FAILED';
  readonly status: string;
  constructor(status: string, message: string) {
    super(message);
    this.status = status;
  }
}

/** The session store could not be read or written. */
export class SessionStorageError extends AirlockClientError {
  readonly code = 'STORAGE_FAILED';
}

export class InvalidServerUrlError extends AirlockClientError {
  readonly code = 'INVALID_SERVER_URL';
}

/** The TLS options (CA, client certificate) cannot be used: a file is missing or is not PEM. */
export class InvalidTlsOptionsError extends AirlockClientError {
  readonly code = 'INVALID_TLS_OPTIONS';
}
