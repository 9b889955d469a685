// What the login broker needs from the user's authorization server. The
// OAuth capability implements it over @atproto/oauth-client-node; the broker
// stays free of the library and of HTTP.
import type { SignedInUser } from '../sessions/session-types.ts';
import type { Identifier } from './identifier.ts';

export interface UpstreamAuthorizer {
  /**
   * Resolves the identifier to its authorization server and pushes an
   * authorization request; returns the URL the user's browser must open.
   * The login ref travels in server-side OAuth state, never in the URL.
   * Throws InvalidArgumentError (does not resolve, refused address) or
   * UnavailableError (cannot be reached).
   */
  authorize(identifier: Identifier, loginRef: string, signal: AbortSignal): Promise<URL>;
  /**
   * The login a callback belongs to, without consuming its request; also
   * after a callback consumed it (`consumed`), so a reload can be answered.
   * Undefined if unknown or expired.
   */
  requestOf(params: URLSearchParams): Promise<{ loginRef: string; consumed: boolean } | undefined>;
  /** Consumes a callback's authorization request without completing it. */
  discard(params: URLSearchParams): Promise<void>;
  /**
   * Completes a callback: consumes its state, exchanges the code. Returns the
   * user proven by the OAuth session (its `sub`). Throws UnavailableError
   * when an infrastructure fault stopped it before the request was consumed
   * (a retry of the callback can still complete), UpstreamDeniedError when
   * the user refused, UpstreamFailedError otherwise.
   */
  complete(params: URLSearchParams): Promise<SignedInUser>;
  /** Forgets authorization requests that can no longer complete. */
  sweep(): Promise<void>;
}

/** Shown when a fault after the code exchange (the database) ended a sign-in that no retry can resume. */
export const INTERRUPTED =
  'The sign-in was interrupted by a temporary fault at the server and cannot be resumed. Start again from the app.';

/** The user refused consent at their authorization server. */
export class UpstreamDeniedError extends Error {
  override name = 'UpstreamDeniedError';
}

/** The callback cannot complete; the message is safe to show the user. */
export class UpstreamFailedError extends Error {
  override name = 'UpstreamFailedError';
}
