// The CLI's exit codes, one per thing a script may want to act on.
import {
  InvalidServerUrlError,
  InvalidTlsOptionsError,
  LoginCancelledError,
  LoginDeniedError,
  LoginExpiredError,
  LoginFailedError,
  LoginSupersededError,
  RateLimitedError,
  RequestFailedError,
  ServerUnavailableError,
  SessionStorageError,
  SignedOutError,
  UnknownLoginError,
} from '../errors.ts';

export const EXIT = {
  /** Done. */
  OK: 0,
  /** Anything unexpected. */
  FAILURE: 1,
  /** Bad command line (unknown command or option, missing argument, bad server URL, unreadable CA or client certificate file). */
  USAGE: 2,
  /** Not signed in, or the session ended (revoked, expired): run `airlock login`. */
  NOT_SIGNED_IN: 3,
  /** The server could not be reached or did not answer in time. */
  UNAVAILABLE: 4,
  /** The user denied the login at their authorization server. */
  LOGIN_DENIED: 5,
  /** The login expired (or the server lost it) before the user finished. */
  LOGIN_EXPIRED: 6,
  /** The login failed for another reason (the authorization server or token exchange failed). */
  LOGIN_FAILED: 7,
  /** The server refused the request (unknown channel, not allowed, rate limited, invalid argument). */
  REFUSED: 8,
  /** The session file could not be read or written. */
  STORAGE: 9,
  /** Cancelled with Ctrl-C (128 + SIGINT). */
  CANCELLED: 130,
} as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof SignedOutError) return EXIT.NOT_SIGNED_IN;
  if (error instanceof ServerUnavailableError) return EXIT.UNAVAILABLE;
  if (error instanceof LoginDeniedError) return EXIT.LOGIN_DENIED;
  if (error instanceof LoginExpiredError || error instanceof UnknownLoginError) return EXIT.LOGIN_EXPIRED;
  if (error instanceof LoginFailedError || error instanceof LoginSupersededError) return EXIT.LOGIN_FAILED;
  if (error instanceof RequestFailedError || error instanceof RateLimitedError) return EXIT.REFUSED;
  if (error instanceof SessionStorageError) return EXIT.STORAGE;
  if (error instanceof InvalidServerUrlError || error instanceof InvalidTlsOptionsError) return EXIT.USAGE;
  if (error instanceof LoginCancelledError) return EXIT.CANCELLED;
  return EXIT.FAILURE;
}
