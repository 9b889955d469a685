// The Airlock client a native app embeds: login, the stored session and
// authenticated calls.
//
// Concurrency rules, each the fix of a defect found in an earlier client of
// this design:
// - startLogin holds the login mutex for the WHOLE operation (supersede the
//   previous attempt, persist the server URL, InitiateLogin, record the new
//   attempt). There is no check-then-lock window: concurrent calls run one
//   after the other in call order, and each supersedes the one before, so
//   exactly one login is current (the last caller's).
// - awaitLogin never takes the login mutex: a new startLogin is never
//   blocked by an open stream, and it rejects the old await at once with
//   LoginSupersededError.
// - logout cancels every login (pending awaits reject with
//   LoginCancelledError, awaiting an old login id fails at once), revokes the
//   session on the server within a deadline, and clears the stored record.
// Every write of the stored state goes through one store mutex, so a login
// or refresh that finishes during a logout can never write a session back.
import { Metadata } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { Mutex } from 'async-mutex';
import type { AwaitLoginResponse, LoginFailed, Session } from '../proto/gen/airlock/auth/v1/auth.ts';
import { LoginFailureReason } from '../proto/gen/airlock/auth/v1/auth.ts';
import type { Channel } from '../proto/gen/airlock/channels/v1/channels.ts';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff.ts';
import {
  InvalidServerUrlError,
  LoginCancelledError,
  LoginDeniedError,
  LoginExpiredError,
  LoginFailedError,
  LoginSupersededError,
  RequestFailedError,
  ServerUnavailableError,
  SignedOutError,
  UnknownLoginError,
  type SignedOutReason,
} from './errors.ts';
import { Connection, parseServerUrl, unaryCall, type ConnectionOptions } from './grpc/connection.ts';
import { authReasonOf, isServiceError, isTransient, toClientError } from './grpc/status.ts';
import { createLoginVerifier } from './login-verifier.ts';
import { FileStore } from './storage/file-store.ts';
import { STORED_STATE_VERSION, type SessionStore, type StoredSession, type StoredState } from './storage/session-store.ts';

export interface AirlockClientOptions {
  /** Where the session is kept. Default: FileStore in the user's config directory. */
  store?: SessionStore;
  /** Server used by login() when none is passed and none is stored. */
  serverUrl?: string;
  /** Deadline of each unary call. Default 10 s. */
  callDeadlineMs?: number;
  /** How long logout() waits for the server to revoke before clearing locally anyway. Default 3 s. */
  logoutDeadlineMs?: number;
  /** Refresh when the access token expires within this (capped at half its lifetime). Default 60 s. */
  refreshSkewMs?: number;
  /** Backoff between re-attaches of a dropped login stream. */
  backoff?: BackoffOptions;
  /** Re-attach a login stream that delivered nothing (not even a heartbeat) for this long. Default 45 s. */
  streamIdleTimeoutMs?: number;
  connection?: ConnectionOptions;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

export interface StartedLogin {
  loginId: string;
  /** Open this in the system browser. */
  authorizeUrl: string;
  expiresAt: Date;
  serverUrl: string;
}

export type LoginProgress =
  | { type: 'pending'; expiresAt: Date }
  | { type: 'browser-opened'; at: Date }
  | { type: 'heartbeat'; serverTime: Date }
  /** The stream dropped; the client re-attaches after delayMs. */
  | { type: 'reconnecting'; attempt: number; delayMs: number; reason: string };

export interface AwaitLoginOptions {
  signal?: AbortSignal;
  /** Called for every event of the stream; exceptions it throws are ignored. */
  onProgress?: (progress: LoginProgress) => void;
}

export interface LoginOptions extends AwaitLoginOptions {
  serverUrl?: string;
  /** Opens the authorize URL (e.g. the `open` package, or a Tauri opener). */
  openUrl: (url: string, login: StartedLogin) => void | Promise<void>;
}

/** The signed-in session as an app may show it. Tokens stay inside the client. */
export interface SessionInfo {
  serverUrl: string;
  did: string;
  handle: string;
  pdsUrl: string;
  sessionId: string;
  accessTokenExpiresAt: Date;
  refreshTokenExpiresAt: Date;
}

export interface WhoAmI {
  did: string;
  handle: string;
  sessionId: string;
  accessTokenExpiresAt: Date | undefined;
  serverUrl: string;
}

export interface ChannelToken {
  token: string;
  livekitUrl: string;
  room: string;
  identity: string;
  expiresAt: Date | undefined;
}

export interface LogoutResult {
  /** Whether a session was stored. */
  hadSession: boolean;
  /** Whether the server confirmed the revocation (false: unreachable or refused within the deadline). */
  revoked: boolean;
}

interface LoginAttempt {
  loginId: string;
  serverUrl: string;
  verifier: string;
  expiresAt: Date;
  /** Aborted with LoginSupersededError or LoginCancelledError when the attempt ends. */
  controller: AbortController;
  /** Storing the session, shared by every awaiter of this attempt. */
  completion?: Promise<SessionInfo>;
}

type StreamOutcome = { type: 'completed'; session: Session } | { type: 'failed'; failure: LoginFailed };

class StreamInterrupted extends Error {}

const MAX_REMEMBERED_LOGINS = 32;

export class AirlockClient {
  readonly store: SessionStore;
  readonly #defaultServerUrl: string | undefined;
  readonly #callDeadlineMs: number;
  readonly #logoutDeadlineMs: number;
  readonly #refreshSkewMs: number;
  readonly #backoff: BackoffOptions;
  readonly #streamIdleTimeoutMs: number;
  readonly #connectionOptions: ConnectionOptions;
  readonly #now: () => number;

  readonly #loginMutex = new Mutex();
  readonly #storeMutex = new Mutex();
  readonly #connections = new Map<string, Connection>();
  /** Controllers of startLogin calls in progress, so logout can cancel them. */
  readonly #starting = new Set<AbortController>();
  /** Why recent attempts ended, so awaiting one fails at once with the right error. */
  readonly #ended = new Map<string, Error | 'completed'>();
  #current: LoginAttempt | undefined;
  #refreshing: Promise<StoredSession> | undefined;
  /** Bumped by logout; a refresh started under an older epoch may not write. */
  #epoch = 0;
  #closed = false;

  constructor(options: AirlockClientOptions = {}) {
    this.store = options.store ?? new FileStore();
    this.#defaultServerUrl = options.serverUrl;
    this.#callDeadlineMs = options.callDeadlineMs ?? 10_000;
    this.#logoutDeadlineMs = options.logoutDeadlineMs ?? 3_000;
    this.#refreshSkewMs = options.refreshSkewMs ?? 60_000;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#streamIdleTimeoutMs = options.streamIdleTimeoutMs ?? 45_000;
    this.#connectionOptions = options.connection ?? {};
    this.#now = options.now ?? Date.now;
  }

  /** The login that awaitLogin can currently follow, if any. */
  get currentLogin(): Omit<StartedLogin, 'authorizeUrl'> | undefined {
    const attempt = this.#current;
    return attempt && { loginId: attempt.loginId, expiresAt: attempt.expiresAt, serverUrl: attempt.serverUrl };
  }

  // ---- login ---------------------------------------------------------------

  /**
   * Starts a login at `serverUrl` for a handle, DID or PDS URL. Supersedes any
   * earlier attempt of this client. Concurrent calls are serialized in call
   * order; the last one's login is current.
   */
  async startLogin(serverUrl: string, identifier: string, options: { signal?: AbortSignal } = {}): Promise<StartedLogin> {
    const address = parseServerUrl(serverUrl);
    this.#assertOpen();
    // Registered before waiting for the mutex, so a logout called after this
    // startLogin cancels it even while it still waits for its turn.
    const controller = new AbortController();
    this.#starting.add(controller);
    const unlink = linkAbort(options.signal, controller, () => new LoginCancelledError('login start was cancelled'));
    return this.#loginMutex.runExclusive(async () => {
      try {
        throwIfAborted(controller.signal);
        // 1. State check and supersede, under the same lock as the RPC and the update.
        if (this.#current) this.#endAttempt(this.#current, new LoginSupersededError(this.#current.loginId));
        const { verifier, challenge } = createLoginVerifier();
        // 2. Persist the server before the browser opens, so it survives a crash mid-login.
        await this.#storeMutex.runExclusive(async () => {
          throwIfAborted(controller.signal);
          const state = await this.#loadLenient();
          await this.store.save({ ...emptyState(), ...state, loginServerUrl: address.url });
        });
        // 3. The RPC, still under the login mutex.
        const connection = this.#connection(address.url);
        const response = await unaryCall(connection.auth, connection.auth.initiateLogin, { identifier, loginVerifierChallenge: challenge }, {
          deadlineMs: this.#callDeadlineMs,
          signal: controller.signal,
        });
        throwIfAborted(controller.signal);
        const expiresAt = response.expiresAt ?? new Date(this.#now() + 10 * 60_000);
        // 4. The state update.
        this.#current = { loginId: response.loginId, serverUrl: address.url, verifier, expiresAt, controller };
        return { loginId: response.loginId, authorizeUrl: response.authorizeUrl, expiresAt, serverUrl: address.url };
      } catch (error) {
        throw controller.signal.aborted ? controller.signal.reason : toClientError(error);
      } finally {
        unlink();
        this.#starting.delete(controller);
      }
    });
  }

  /**
   * Follows a login started by this client until it ends. Resolves with the
   * session once it is stored. Re-attaches after transient failures until
   * the login expires.
   */
  async awaitLogin(loginId: string, options: AwaitLoginOptions = {}): Promise<SessionInfo> {
    const attempt = this.#current?.loginId === loginId ? this.#current : undefined;
    if (!attempt) {
      const ended = this.#ended.get(loginId);
      if (ended instanceof Error) throw ended;
      if (ended === 'completed') {
        const session = await this.getSession();
        if (session) return session;
        throw new SignedOutError('NOT_SIGNED_IN', 'this login completed, but the session has since ended');
      }
      throw new UnknownLoginError('no login with this id is in progress in this client; call startLogin first');
    }
    throwIfAborted(attempt.controller.signal);
    if (options.signal?.aborted) throw new LoginCancelledError('login wait was cancelled');

    const stop = new AbortController();
    const unlinkAttempt = linkAbort(attempt.controller.signal, stop, () => attempt.controller.signal.reason);
    const unlinkCaller = linkAbort(options.signal, stop, () => new LoginCancelledError('login wait was cancelled'));
    try {
      const outcome = await this.#follow(attempt, stop.signal, options.onProgress);
      if (outcome.type === 'failed') throw this.#failureError(attempt, outcome.failure);
      attempt.completion ??= this.#storeCompletedLogin(attempt, outcome.session);
      return await attempt.completion;
    } finally {
      unlinkAttempt();
      unlinkCaller();
    }
  }

  /** startLogin, open the browser, awaitLogin. */
  async login(identifier: string, options: LoginOptions): Promise<SessionInfo> {
    const serverUrl = options.serverUrl ?? this.#defaultServerUrl ?? (await this.#loadLenient())?.loginServerUrl;
    if (!serverUrl) throw new InvalidServerUrlError('no server to sign in to: pass serverUrl');
    const started = await this.startLogin(serverUrl, identifier, { signal: options.signal });
    await options.openUrl(started.authorizeUrl, started);
    return this.awaitLogin(started.loginId, options);
  }

  // ---- session -------------------------------------------------------------

  /**
   * The single authoritative "am I signed in?". A session exists only as
   * one stored record holding the server URL and both tokens; anything
   * less, or a session whose refresh token has expired, is no session.
   */
  async getSession(): Promise<SessionInfo | undefined> {
    const session = (await this.store.load())?.session;
    if (!session) return undefined;
    if (Date.parse(session.refreshTokenExpiresAt) <= this.#now()) {
      await this.#forget(session, 'SESSION_EXPIRED');
      return undefined;
    }
    return toSessionInfo(session);
  }

  /**
   * Signs out: ends every login of this client, revokes the session on the
   * server (best effort, within logoutDeadlineMs) and removes the stored
   * record (server URL and tokens together). Never throws for an
   * unreachable server; the local sign-out always happens.
   */
  async logout(options: { deadlineMs?: number } = {}): Promise<LogoutResult> {
    this.#epoch++;
    const cancelled = new LoginCancelledError('signed out');
    if (this.#current) this.#endAttempt(this.#current, cancelled);
    for (const controller of this.#starting) controller.abort(cancelled);
    return this.#storeMutex.runExclusive(async () => {
      const session = (await this.#loadLenient())?.session;
      const revoked = session ? await this.#revoke(session, options.deadlineMs ?? this.#logoutDeadlineMs) : false;
      await this.store.clear();
      return { hadSession: session !== undefined, revoked };
    });
  }

  // ---- authenticated calls -------------------------------------------------

  async whoAmI(options: { signal?: AbortSignal } = {}): Promise<WhoAmI> {
    return this.#authed(async (connection, accessToken) => {
      const response = await unaryCall(connection.auth, connection.auth.whoAmI, {}, this.#callSettings(accessToken, options.signal));
      return { ...response, serverUrl: connection.address.url };
    });
  }

  async listChannels(options: { signal?: AbortSignal } = {}): Promise<Channel[]> {
    return this.#authed(async (connection, accessToken) => {
      const response = await unaryCall(connection.channels, connection.channels.listChannels, {}, this.#callSettings(accessToken, options.signal));
      return response.channels;
    });
  }

  async getChannelToken(channelId: string, options: { signal?: AbortSignal } = {}): Promise<ChannelToken> {
    return this.#authed((connection, accessToken) =>
      unaryCall(connection.channels, connection.channels.getChannelToken, { channelId }, this.#callSettings(accessToken, options.signal)),
    );
  }

  /** Ends every login and closes the connections. The stored session is kept. */
  close(): void {
    this.#closed = true;
    if (this.#current) this.#endAttempt(this.#current, new LoginCancelledError('client closed'));
    for (const controller of this.#starting) controller.abort(new LoginCancelledError('client closed'));
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }

  // ---- internals: login ----------------------------------------------------

  #endAttempt(attempt: LoginAttempt, reason: Error): void {
    attempt.controller.abort(reason);
    if (this.#current === attempt) this.#current = undefined;
    this.#remember(attempt.loginId, reason);
  }

  #remember(loginId: string, outcome: Error | 'completed'): void {
    this.#ended.delete(loginId);
    this.#ended.set(loginId, outcome);
    while (this.#ended.size > MAX_REMEMBERED_LOGINS) this.#ended.delete(this.#ended.keys().next().value!);
  }

  /** Opens the stream, and opens it again after transient failures, until a terminal event. */
  async #follow(attempt: LoginAttempt, signal: AbortSignal, onProgress?: (progress: LoginProgress) => void): Promise<StreamOutcome> {
    const report = (progress: LoginProgress) => {
      try {
        onProgress?.(progress);
      } catch {
        /* an app's callback cannot break the login */
      }
    };
    let failures = 0;
    for (;;) {
      throwIfAborted(signal);
      if (this.#now() >= attempt.expiresAt.getTime()) throw new LoginExpiredError('the login expired before sign-in finished');
      let reason: string;
      try {
        return await this.#readStream(attempt, signal, report, () => {
          failures = 0;
        });
      } catch (error) {
        throwIfAborted(signal);
        if (isServiceError(error) && error.code === status.NOT_FOUND) {
          if (this.#now() >= attempt.expiresAt.getTime()) throw new LoginExpiredError('the login expired before sign-in finished');
          throw new UnknownLoginError('the server does not know this login (it may have been lost); start a new login');
        }
        if (isServiceError(error) && error.code === status.DEADLINE_EXCEEDED) continue; // the expiry check above decides
        if (!(error instanceof StreamInterrupted) && !isTransient(error)) throw toClientError(error);
        reason = error instanceof StreamInterrupted ? error.message : (error as Error).message;
      }
      failures++;
      const remaining = attempt.expiresAt.getTime() - this.#now();
      const delayMs = Math.max(0, Math.min(backoffDelay(failures, this.#backoff), remaining));
      report({ type: 'reconnecting', attempt: failures, delayMs, reason });
      await sleep(delayMs, signal);
    }
  }

  /** One AwaitLogin stream: resolves on a terminal event, rejects when it breaks. */
  #readStream(attempt: LoginAttempt, signal: AbortSignal, report: (progress: LoginProgress) => void, onEvent: () => void): Promise<StreamOutcome> {
    const connection = this.#connection(attempt.serverUrl);
    return new Promise<StreamOutcome>((resolve, reject) => {
      // A deadline past the expiry, so no stream outlives its login for long.
      const deadline = attempt.expiresAt.getTime() + 30_000;
      const call = connection.auth.awaitLogin({ loginId: attempt.loginId, loginVerifier: attempt.verifier }, new Metadata(), { deadline });
      let settled = false;
      let idleTimer: NodeJS.Timeout | undefined;
      const settle = (finish: () => void, cancel: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(idleTimer);
        signal.removeEventListener('abort', onAbort);
        if (cancel) call.cancel();
        finish();
      };
      const armIdle = () => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(
          () => settle(() => reject(new StreamInterrupted('the login stream went silent')), true),
          this.#streamIdleTimeoutMs,
        );
      };
      const onAbort = () => settle(() => reject(signal.reason), true);
      signal.addEventListener('abort', onAbort, { once: true });
      armIdle();
      call.on('data', (message: AwaitLoginResponse) => {
        if (settled) return;
        armIdle();
        onEvent();
        const event = message.event;
        switch (event?.$case) {
          case 'pending':
            report({ type: 'pending', expiresAt: event.value.expiresAt ?? attempt.expiresAt });
            break;
          case 'heartbeat':
            report({ type: 'heartbeat', serverTime: event.value.serverTime ?? new Date(this.#now()) });
            break;
          case 'browserOpened':
            report({ type: 'browser-opened', at: event.value.openedAt ?? new Date(this.#now()) });
            break;
          case 'completed':
            if (event.value.session?.accessToken && event.value.session.refreshToken) {
              const session = event.value.session;
              settle(() => resolve({ type: 'completed', session }), false);
            } else {
              settle(() => reject(new RequestFailedError('INTERNAL', 'the server completed the login without a session')), true);
            }
            break;
          case 'failed': {
            const failure = event.value;
            settle(() => resolve({ type: 'failed', failure }), false);
            break;
          }
          default:
            break; // an event this client does not know yet
        }
      });
      call.on('error', (error) => settle(() => reject(error), false));
      call.on('end', () => settle(() => reject(new StreamInterrupted('the login stream ended without a result')), false));
    });
  }

  #failureError(attempt: LoginAttempt, failure: LoginFailed): Error {
    const message = failure.message || 'the login failed';
    const error =
      failure.reason === LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED ? new LoginDeniedError(message)
      : failure.reason === LoginFailureReason.LOGIN_FAILURE_REASON_EXPIRED ? new LoginExpiredError(message)
      : new LoginFailedError(message);
    if (this.#current === attempt) this.#current = undefined;
    this.#remember(attempt.loginId, error);
    return error;
  }

  /** Stores the session of a completed login, unless the attempt ended meanwhile. */
  #storeCompletedLogin(attempt: LoginAttempt, session: Session): Promise<SessionInfo> {
    return this.#storeMutex.runExclusive(async () => {
      const stored = toStoredSession(attempt.serverUrl, session, this.#now());
      if (attempt.controller.signal.aborted) {
        // Superseded or signed out after the user finished: nobody will use this session.
        void this.#revoke(stored, this.#logoutDeadlineMs);
        throw attempt.controller.signal.reason;
      }
      const previous = (await this.#loadLenient())?.session;
      await this.store.save({ version: STORED_STATE_VERSION, loginServerUrl: attempt.serverUrl, session: stored });
      if (previous && previous.sessionId !== stored.sessionId) void this.#revoke(previous, this.#logoutDeadlineMs);
      if (this.#current === attempt) this.#current = undefined;
      this.#remember(attempt.loginId, 'completed');
      return toSessionInfo(stored);
    });
  }

  // ---- internals: sessions -------------------------------------------------

  async #authed<T>(run: (connection: Connection, accessToken: string) => Promise<T>): Promise<T> {
    this.#assertOpen();
    let session = await this.#requireSession();
    if (this.#needsRefresh(session)) {
      try {
        session = await this.#refresh(session);
      } catch (error) {
        // Refreshing early is an optimisation: while the token is still valid, an unreachable server is not fatal here.
        if (!(error instanceof ServerUnavailableError) || Date.parse(session.accessTokenExpiresAt) <= this.#now()) throw error;
      }
    }
    const connection = () => this.#connection(session.serverUrl);
    try {
      return await run(connection(), session.accessToken);
    } catch (error) {
      const reason = authReasonOf(error);
      if (reason === undefined) throw toClientError(error);
      if (reason !== 'TOKEN_EXPIRED') throw await this.#forget(session, reason);
    }
    // TOKEN_EXPIRED: refresh once (shared with every concurrent caller) and retry once.
    session = await this.#refresh(session);
    try {
      return await run(connection(), session.accessToken);
    } catch (error) {
      const reason = authReasonOf(error);
      if (reason === undefined) throw toClientError(error);
      if (reason === 'TOKEN_EXPIRED') {
        // A token fresh from RefreshSession called expired: a clock problem, not a signed-out user.
        throw new RequestFailedError('UNAUTHENTICATED', 'the server rejected a just-refreshed access token as expired (check the clocks)');
      }
      throw await this.#forget(session, reason);
    }
  }

  async #requireSession(): Promise<StoredSession> {
    const session = (await this.store.load())?.session;
    if (!session) throw new SignedOutError('NOT_SIGNED_IN');
    if (Date.parse(session.refreshTokenExpiresAt) <= this.#now()) throw await this.#forget(session, 'SESSION_EXPIRED');
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

  async #refreshOnce(stale: StoredSession): Promise<StoredSession> {
    const epoch = this.#epoch;
    const current = (await this.store.load())?.session;
    if (!current) throw new SignedOutError('SIGNED_OUT_DURING_CALL');
    // Someone (another caller, another process) already refreshed or signed in anew.
    if ((current.sessionId !== stale.sessionId || current.refreshToken !== stale.refreshToken) && !this.#needsRefresh(current)) return current;

    const connection = this.#connection(current.serverUrl);
    let session: Session | undefined;
    try {
      ({ session } = await unaryCall(connection.auth, connection.auth.refreshSession, { refreshToken: current.refreshToken }, { deadlineMs: this.#callDeadlineMs }));
    } catch (error) {
      const reason = authReasonOf(error);
      if (reason !== undefined) throw await this.#forget(current, reason);
      throw toClientError(error);
    }
    if (!session?.accessToken || !session.refreshToken) throw new RequestFailedError('INTERNAL', 'RefreshSession returned no session');
    const next = toStoredSession(current.serverUrl, session, this.#now());
    return this.#storeMutex.runExclusive(async () => {
      const state = await this.store.load();
      // A logout or a new login happened while the RPC ran: do not write the old session back.
      if (this.#epoch !== epoch || state?.session?.sessionId !== current.sessionId) {
        void this.#revoke(next, this.#logoutDeadlineMs);
        throw new SignedOutError('SIGNED_OUT_DURING_CALL');
      }
      await this.store.save({ ...state, session: next });
      return next;
    });
  }

  /**
   * The server said this session is unusable: drop it locally (if it is
   * still the stored one) and return the SignedOutError to throw. The
   * server URL is kept as the place to sign in again.
   */
  async #forget(session: StoredSession, reason: string): Promise<SignedOutError> {
    const signedOut = new SignedOutError(signedOutReason(reason));
    await this.#storeMutex.runExclusive(async () => {
      const state = await this.#loadLenient();
      if (state?.session?.sessionId !== session.sessionId) return;
      await this.store.save({ version: STORED_STATE_VERSION, loginServerUrl: session.serverUrl });
    });
    // An access token the server cannot read says nothing about the refresh token: revoke it too.
    if (signedOut.reason === 'TOKEN_INVALID' || signedOut.reason === 'TOKEN_MISSING') void this.#revoke(session, this.#logoutDeadlineMs);
    return signedOut;
  }

  /** Logout RPC by refresh token (works even when the access token has expired). Never throws. */
  async #revoke(session: StoredSession, deadlineMs: number): Promise<boolean> {
    try {
      const connection = this.#connection(session.serverUrl);
      await unaryCall(connection.auth, connection.auth.logout, { refreshToken: session.refreshToken }, { deadlineMs });
      return true;
    } catch {
      return false;
    }
  }

  // ---- internals: plumbing -------------------------------------------------

  /** Loads the state; an unreadable store counts as empty (used where a fresh write follows). */
  async #loadLenient(): Promise<StoredState | undefined> {
    try {
      return await this.store.load();
    } catch {
      return undefined;
    }
  }

  #connection(serverUrl: string): Connection {
    const address = parseServerUrl(serverUrl);
    let connection = this.#connections.get(address.url);
    if (!connection) {
      connection = new Connection(address, this.#connectionOptions);
      this.#connections.set(address.url, connection);
    }
    return connection;
  }

  #callSettings(accessToken: string, signal?: AbortSignal) {
    return { deadlineMs: this.#callDeadlineMs, accessToken, signal };
  }

  #assertOpen(): void {
    if (this.#closed) throw new LoginCancelledError('the client is closed');
  }
}

function emptyState(): StoredState {
  return { version: STORED_STATE_VERSION };
}

function toStoredSession(serverUrl: string, session: Session, now: number): StoredSession {
  const fallback = new Date(now);
  return {
    serverUrl,
    accessToken: session.accessToken,
    accessTokenExpiresAt: (session.accessTokenExpiresAt ?? fallback).toISOString(),
    accessTokenReceivedAt: fallback.toISOString(),
    refreshToken: session.refreshToken,
    refreshTokenExpiresAt: (session.refreshTokenExpiresAt ?? fallback).toISOString(),
    did: session.did,
    handle: session.handle,
    pdsUrl: session.pdsUrl,
    sessionId: session.sessionId,
  };
}

function toSessionInfo(session: StoredSession): SessionInfo {
  return {
    serverUrl: session.serverUrl,
    did: session.did,
    handle: session.handle,
    pdsUrl: session.pdsUrl,
    sessionId: session.sessionId,
    accessTokenExpiresAt: new Date(session.accessTokenExpiresAt),
    refreshTokenExpiresAt: new Date(session.refreshTokenExpiresAt),
  };
}

function signedOutReason(reason: string): SignedOutReason {
  switch (reason) {
    case 'TOKEN_MISSING':
    case 'SESSION_REVOKED':
    case 'SESSION_EXPIRED':
      return reason;
    default:
      return 'TOKEN_INVALID'; // TOKEN_INVALID, or an UNAUTHENTICATED without a known reason
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/** Aborts `target` when `source` aborts; returns the unlink function. */
function linkAbort(source: AbortSignal | undefined, target: AbortController, reason: () => unknown): () => void {
  if (!source) return () => {};
  const onAbort = () => target.abort(reason());
  if (source.aborted) onAbort();
  else source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}
