// The stored session and its upkeep: authenticated calls with a proactive
// refresh, one shared (single-flight) refresh, refresh-once-and-retry on
// TOKEN_EXPIRED and TOKEN_INVALID, forgetting a session the server no longer
// accepts, and revoking on logout.
//
// Every write of the stored state goes through the store mutex (shared with
// the login code), so a refresh that finishes during a logout can never
// write a session back.
import type { Mutex } from 'async-mutex';
import type { Session } from '../proto/gen/airlock/auth/v1/auth.ts';
import type { LogoutResult, SessionChange } from './client-types.ts';
import { RequestFailedError, ServerUnavailableError, SignedOutError, type SignedOutReason } from './errors.ts';
import { authReasonOf, toClientError } from './grpc/status.ts';
import { loadLenient, toSessionInfo, toStoredSession } from './session-record.ts';
import { exclusive } from './store-lock.ts';
import { STORED_STATE_VERSION, type SessionStore, type StoredSession } from './storage/session-store.ts';
import type { AirlockTransport } from './transport.ts';

export interface SessionKeeperOptions {
  store: SessionStore;
  /** The one mutex every write of the stored state goes through. */
  storeMutex: Mutex;
  transport: AirlockTransport;
  callDeadlineMs: number;
  /** Deadline of a revocation nobody waits for. */
  logoutDeadlineMs: number;
  /** Refresh when the access token expires within this (capped at half its lifetime). */
  refreshSkewMs: number;
  now: () => number;
  /** Told of every refresh this process stored and every session it forgot. */
  onChange?: (change: SessionChange) => void;
}

export class SessionKeeper {
  readonly #store: SessionStore;
  readonly #storeMutex: Mutex;
  readonly #transport: AirlockTransport;
  readonly #callDeadlineMs: number;
  readonly #logoutDeadlineMs: number;
  readonly #refreshSkewMs: number;
  readonly #now: () => number;
  readonly #onChange: (change: SessionChange) => void;
  #refreshing: Promise<StoredSession> | undefined;
  /** Bumped by logout; a refresh started under an older epoch may not write. */
  #epoch = 0;
  /** Aborted by logout: a refresh RPC in flight is abandoned at once (it holds the store lock). */
  #abandon = new AbortController();

  constructor(options: SessionKeeperOptions) {
    this.#store = options.store;
    this.#storeMutex = options.storeMutex;
    this.#transport = options.transport;
    this.#callDeadlineMs = options.callDeadlineMs;
    this.#logoutDeadlineMs = options.logoutDeadlineMs;
    this.#refreshSkewMs = options.refreshSkewMs;
    this.#now = options.now;
    this.#onChange = options.onChange ?? (() => {});
  }

  /** The stored session, unless there is none or its refresh token has expired (then it is forgotten). */
  async active(): Promise<StoredSession | undefined> {
    const session = (await this.#store.load())?.session;
    if (!session) return undefined;
    if (Date.parse(session.refreshTokenExpiresAt) <= this.#now()) {
      await this.forget(session, 'SESSION_EXPIRED');
      return undefined;
    }
    return session;
  }

  /** Runs an authenticated call with a fresh enough access token. */
  async authed<T>(run: (serverUrl: string, accessToken: string) => Promise<T>): Promise<T> {
    let session = await this.#requireSession();
    if (this.#needsRefresh(session)) {
      try {
        session = await this.#refresh(session);
      } catch (error) {
        // Refreshing early is an optimisation: while the token is still valid, an unreachable server is not fatal here.
        if (!(error instanceof ServerUnavailableError) || Date.parse(session.accessTokenExpiresAt) <= this.#now()) throw error;
      }
    }
    try {
      return await run(session.serverUrl, session.accessToken);
    } catch (error) {
      const reason = authReasonOf(error);
      if (reason === undefined) throw toClientError(error);
      if (!RETRY_AFTER_REFRESH.has(reason)) throw await this.forget(session, reason);
    }
    // Refresh once (shared with every concurrent caller) and retry once. An
    // access token called invalid may be signed with a key this replica has
    // not seen yet (a rolling restart); only the refresh token can tell.
    // If RefreshSession refuses it too, the session is forgotten there.
    session = await this.#refresh(session);
    try {
      return await run(session.serverUrl, session.accessToken);
    } catch (error) {
      const reason = authReasonOf(error);
      if (reason === undefined) throw toClientError(error);
      if (reason === 'TOKEN_EXPIRED') {
        // A token fresh from RefreshSession called expired: a clock problem, not a signed-out user.
        throw new RequestFailedError('UNAUTHENTICATED', 'the server rejected a just-refreshed access token as expired (check the clocks)');
      }
      throw await this.forget(session, reason);
    }
  }

  /** Called first by logout: no refresh running now may write its result. */
  invalidateRefreshes(): void {
    this.#epoch++;
    this.#abandon.abort();
    this.#abandon = new AbortController();
  }

  /** Revokes the stored session on the server (best effort, within deadlineMs) and clears the store. */
  revokeAndClear(deadlineMs: number): Promise<LogoutResult> {
    return exclusive(this.#storeMutex, this.#store, async () => {
      const session = (await loadLenient(this.#store))?.session;
      const revoked = session ? await this.revoke(session, deadlineMs) : false;
      await this.#store.clear();
      return { hadSession: session !== undefined, revoked };
    });
  }

  /**
   * The server said this session is unusable: drop it locally (if it is
   * still the stored one) and return the SignedOutError to throw. The
   * server URL is kept as the place to sign in again.
   */
  async forget(session: StoredSession, reason: ReturnType<typeof authReasonOf>): Promise<SignedOutError> {
    const signedOut = new SignedOutError(signedOutReason(reason));
    const forgot = await exclusive(this.#storeMutex, this.#store, async () => {
      const state = await loadLenient(this.#store);
      if (state?.session?.sessionId !== session.sessionId) return false;
      await this.#store.save({ version: STORED_STATE_VERSION, loginServerUrl: session.serverUrl });
      return true;
    });
    if (forgot && signedOut.reason !== 'NOT_SIGNED_IN' && signedOut.reason !== 'SIGNED_OUT_DURING_CALL')
      this.#onChange({ type: 'signed-out', reason: signedOut.reason });
    // An access token the server cannot read says nothing about the refresh token: revoke it too.
    if (signedOut.reason === 'TOKEN_INVALID' || signedOut.reason === 'TOKEN_MISSING') void this.revoke(session, this.#logoutDeadlineMs);
    return signedOut;
  }

  /** Logout RPC by refresh token (works even when the access token has expired). Never throws. */
  async revoke(session: StoredSession, deadlineMs: number): Promise<boolean> {
    try {
      await this.#transport.unary(session.serverUrl, 'logout', { refreshToken: session.refreshToken }, { deadlineMs });
      return true;
    } catch {
      return false;
    }
  }

  async #requireSession(): Promise<StoredSession> {
    const session = (await this.#store.load())?.session;
    if (!session) throw new SignedOutError('NOT_SIGNED_IN');
    if (Date.parse(session.refreshTokenExpiresAt) <= this.#now()) throw await this.forget(session, 'SESSION_EXPIRED');
    return session;
  }

  #needsRefresh(session: StoredSession): boolean {
    const expiresAt = Date.parse(session.accessTokenExpiresAt);
    const lifetime = expiresAt - Date.parse(session.accessTokenReceivedAt);
    const skew = Math.min(this.#refreshSkewMs, Math.max(0, lifetime / 2));
    return this.#now() >= expiresAt - skew;
  }

  /** Single flight: every caller that needs a refresh while one runs shares it. */
  #refresh(stale: StoredSession): Promise<StoredSession> {
    this.#refreshing ??= this.#refreshOnce(stale).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /**
   * One refresh across processes too: under the store lock, held through the
   * RPC. Whoever comes second re-reads and uses the token the first one
   * rotated, instead of refreshing it again (which the server counts as
   * reuse and answers by revoking the session). A logout aborts it.
   */
  async #refreshOnce(stale: StoredSession): Promise<StoredSession> {
    const epoch = this.#epoch;
    const abandoned = this.#abandon.signal;
    let forgotten: StoredSession | undefined;
    let reason: ReturnType<typeof authReasonOf>;
    const result = await exclusive(this.#storeMutex, this.#store, async () => {
      const state = await this.#store.load();
      const current = state?.session;
      if (!current || this.#epoch !== epoch) throw new SignedOutError('SIGNED_OUT_DURING_CALL');
      // Someone (another caller, another process) already refreshed or signed in anew.
      if ((current.sessionId !== stale.sessionId || current.refreshToken !== stale.refreshToken) && !this.#needsRefresh(current))
        return current;
      let session: Session | undefined;
      try {
        ({ session } = await this.#transport.unary(
          current.serverUrl,
          'refreshSession',
          { refreshToken: current.refreshToken },
          { deadlineMs: this.#callDeadlineMs, signal: abandoned },
        ));
      } catch (error) {
        if (abandoned.aborted || this.#epoch !== epoch) throw new SignedOutError('SIGNED_OUT_DURING_CALL');
        reason = authReasonOf(error);
        if (reason === undefined) throw toClientError(error);
        forgotten = current;
        return undefined;
      }
      if (!session?.accessToken || !session.refreshToken) throw new RequestFailedError('INTERNAL', 'RefreshSession returned no session');
      const next = toStoredSession(current.serverUrl, session, this.#now());
      // A logout happened while the RPC ran: do not write the old session back.
      if (this.#epoch !== epoch) {
        void this.revoke(next, this.#logoutDeadlineMs);
        throw new SignedOutError('SIGNED_OUT_DURING_CALL');
      }
      await this.#store.save({ ...state, session: next });
      this.#onChange({ type: 'refreshed', session: toSessionInfo(next) });
      return next;
    });
    if (result) return result;
    throw await this.forget(forgotten!, reason);
  }
}

/** Reasons that a refresh may cure; anything else ends the session at once. */
const RETRY_AFTER_REFRESH = new Set(['TOKEN_EXPIRED', 'TOKEN_INVALID']);

function signedOutReason(reason: ReturnType<typeof authReasonOf>): SignedOutReason {
  switch (reason) {
    case 'TOKEN_MISSING':
    case 'SESSION_REVOKED':
    case 'SESSION_EXPIRED':
      return reason;
    default:
      return 'TOKEN_INVALID'; // TOKEN_INVALID, or an UNAUTHENTICATED without a known reason
  }
}
