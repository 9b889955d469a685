// What the login use cases share: their options, the updates a stream gets,
// what the login link and the callback answer, and the messages users see.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Settings } from '../config/settings.ts';
import type { LoginEventBus } from '../coordination/login-events.ts';
import type { RequestLock } from '../coordination/request-lock.ts';
import { NotFoundError, InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { IssuedSession, SessionStarter } from '../sessions/session-types.ts';
import type { FailureReason, LoginRecord, LoginStore } from './login-store.ts';
import { sha256, verifierMatches } from './secrets.ts';
import type { UpstreamAuthorizer } from './upstream.ts';

export type LoginUpdate =
  | { type: 'pending'; expiresAt: Date }
  | { type: 'heartbeat'; serverTime: Date }
  | { type: 'browser-opened'; openedAt: Date }
  | { type: 'completed'; session: IssuedSession }
  | { type: 'failed'; reason: FailureReason; message: string };

/** What the confirmation page shows, and the CSRF token its form posts back. */
export interface ConfirmationPage {
  appName: string;
  startedAt: Date;
  /** A coarse description of the initiator's network (never the exact address). */
  startedFrom: string;
  code: string;
  csrfToken: string;
  /** Origin of the authorization server the page's form leads to (its CSP form-action). */
  authorizationOrigin: string;
}

/**
 * A token for the browser the link sends on, kept by the browser (a cookie)
 * under a name derived from `key` and presented back at the callback.
 */
export interface BrowserToken {
  key: string;
  value: string;
}

/** The browser at the OAuth callback: its address and the tokens it presents. */
export interface CallbackBrowser {
  address: string;
  token(key: string): string;
}

export type LinkOutcome =
  | { kind: 'redirect'; url: string; browserToken?: BrowserToken }
  | { kind: 'confirm'; page: ConfirmationPage }
  /** A confirmation POST that is not the page's own (CSRF token missing, wrong, or used). */
  | { kind: 'refused'; message: string }
  /** The user pressed Cancel on the confirmation page: the login failed (access-denied). */
  | { kind: 'declined' }
  | { kind: 'gone'; reason: 'unknown-or-expired' | 'finished' | 'cancelled' }
  /** The link made as many pushed requests as allowed; the login itself stays pending. */
  | { kind: 'renewals-exhausted'; limit: number }
  | { kind: 'error'; message: string };

export type CallbackOutcome =
  | { kind: 'completed'; handle: string; did: string }
  | { kind: 'failed'; reason: FailureReason | 'unknown'; message: string };

export type BrokerSettings = Pick<
  Settings,
  | 'loginTtl'
  | 'heartbeatInterval'
  | 'callbackStreamWait'
  | 'loginRatePerMinute'
  | 'maxPendingLogins'
  | 'maxPendingLoginsPerNetwork'
  | 'maxStreamsPerLogin'
  | 'upstreamTimeout'
  | 'oauthRequestMaxAge'
  | 'maxParRenewals'
  | 'allowHttp'
  | 'appName'
  | 'loginConfirmation'
> &
  // Optional so settings built before labels still type; the default is the setting's.
  Partial<Pick<Settings, 'clientLabelMaxLength'>>;

export interface LoginBrokerOptions {
  store: LoginStore;
  bus: LoginEventBus;
  upstream: UpstreamAuthorizer;
  sessions: SessionStarter;
  /** Serialises the completion of one login across callbacks (and replicas). */
  requestLock: RequestLock;
  logger: Logger;
  settings: BrokerSettings;
  /** Base URL of the HTTP listener as browsers reach it; login links live under it. */
  publicUrl: string;
  /** How often expired logins are deleted (default: the login lifetime, at most a minute). */
  sweepIntervalMs?: number;
  /** InitiateLogin's limit per client address (points per minute); default: counted in this process. Replicas share one in the database. */
  rateLimiter?: RateLimiterAbstract;
}

export const LOGIN_PATH = '/login/';
export const CANCELLED_MESSAGE = 'The app cancelled this sign-in; start a new login.';
const NOT_FOUND = 'no login with this id and verifier (it may have expired); start a new login';

/** The login an app names by id and verifier; an unknown id and a wrong verifier are the same NotFoundError. */
export async function findLogin(store: LoginStore, loginId: string, verifier: string): Promise<LoginRecord> {
  if (!loginId || !verifier) throw new InvalidArgumentError('login_id and login_verifier are required');
  if (loginId.length > 256 || verifier.length > 256) throw new NotFoundError(NOT_FOUND);
  const found = await store.byLoginIdHash(sha256(loginId));
  if (!found || found.expiresAt <= Date.now() || !verifierMatches(verifier, found.verifierChallenge)) throw new NotFoundError(NOT_FOUND);
  return found;
}

export function isCancelled(record: LoginRecord): boolean {
  return record.result?.type === 'failed' && record.result.reason === 'cancelled';
}
