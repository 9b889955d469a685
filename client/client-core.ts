// The core of the Airlock client, whichever transport and store it runs on
// (AirlockClient in airlock-client.ts for Node and Electron, createBrowserClient
// in browser.ts for browsers and webviews): login, the stored session and
// authenticated calls. This class is the façade; the work is done by
// LoginStream (following one AwaitLogin stream), LoginAttempts (which login
// is current and how recent ones ended) and SessionKeeper (the stored
// session, refresh and revocation).
//
// Concurrency rules, each the fix of a defect found in an earlier client of
// this design:
// - A startLogin supersedes at once, when it is CALLED: every earlier start
//   still waiting for its turn or in its InitiateLogin RPC rejects with
//   LoginSupersededError (the RPC is cancelled), and the current login ends
//   here and on the server (CancelLogin). The login mutex then covers the
//   persist-RPC-record sequence, so exactly one login is current: the last
//   caller's. A burst of N calls makes at most 2 InitiateLogin calls.
// - awaitLogin never takes the login mutex: a new startLogin is never
//   blocked by an open stream, and it rejects the old await at once with
//   LoginSupersededError.
// - logout cancels every login (pending awaits reject with
//   LoginCancelledError, awaiting an old login id fails at once), revokes the
//   session on the server within a deadline, and clears the stored record.
// Every write of the stored state goes through one store mutex (this class
// and SessionKeeper share it), so a login or refresh that finishes during a
// logout can never write a session back.
import { Mutex } from 'async-mutex';
import type { Session } from '../proto/gen/airlock/auth/v1/auth.ts';
import type { Channel } from '../proto/gen/airlock/channels/v1/channels.ts';
import { linkAbort, throwIfAborted } from './abort.ts';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import type {
  AwaitLoginOptions,
  ChannelToken,
  LoginOptions,
  LoginProgress,
  LogoutResult,
  SessionChange,
  SessionInfo,
  StartedLogin,
  WhoAmI,
} from './client-types.ts';
import { InvalidServerUrlError, LoginCancelledError, LoginSupersededError, SignedOutError, UnknownLoginError } from './errors.ts';
import { toClientError } from './grpc/status.ts';
import { LoginAttempts, type LoginAttempt } from './login-attempts.ts';
import { LoginStream, loginFailureError } from './login-stream.ts';
import { createLoginVerifier } from './web-login-verifier.ts';
import { SessionKeeper } from './session-keeper.ts';
import { exclusive } from './store-lock.ts';
import { loadLenient, toSessionInfo, toStoredSession } from './session-record.ts';
import { STORED_STATE_VERSION, type SessionStore, type StoredState } from './storage/session-store.ts';
import type { AirlockTransport } from './transport.ts';

export type {
  AwaitLoginOptions,
  ChannelToken,
  LoginOptions,
  LoginProgress,
  LogoutResult,
  SessionChange,
  SessionInfo,
  StartedLogin,
  WhoAmI,
} from './client-types.ts';

export interface AirlockClientCoreOptions {
  /** Where the session is kept. */
  store: SessionStore;
  /** How calls reach the server: gRPC (Node) or Connect / gRPC-Web (browsers, webviews). */
  transport: AirlockTransport;
  /** Server used by login() when none is passed and none is stored. */
  serverUrl?: string;
  /**
   * What the user would call this app on this device (e.g. "Chat on
   * alice-laptop"), sent with every login and shown by ListSessions.
   * Printable characters, at most 64 by default (the server's
   * AIRLOCK_CLIENT_LABEL_MAX_LENGTH); otherwise login() fails with
   * INVALID_ARGUMENT. Default: none, and the server shows the user-agent.
   */
  clientLabel?: string;
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
  /** Clock, for tests of expiry. */
  now?: () => number;
}

export class AirlockClientCore {
  readonly store: SessionStore;
  readonly #defaultServerUrl: string | undefined;
  readonly #clientLabel: string | undefined;
  readonly #callDeadlineMs: number;
  readonly #logoutDeadlineMs: number;
  readonly #now: () => number;

  readonly #loginMutex = new Mutex();
  readonly #storeMutex = new Mutex();
  readonly #transport: AirlockTransport;
  readonly #attempts = new LoginAttempts();
  readonly #stream: LoginStream;
  readonly #sessions: SessionKeeper;
  readonly #listeners = new Set<(change: SessionChange) => void>();
  #closed = false;

  constructor(options: AirlockClientCoreOptions) {
    this.store = options.store;
    this.#defaultServerUrl = options.serverUrl;
    this.#clientLabel = options.clientLabel;
    this.#callDeadlineMs = options.callDeadlineMs ?? 10_000;
    this.#logoutDeadlineMs = options.logoutDeadlineMs ?? 3_000;
    this.#now = options.now ?? Date.now;
    this.#transport = options.transport;
    const transport = this.#transport;
    this.#stream = new LoginStream({
      transport,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      streamIdleTimeoutMs: options.streamIdleTimeoutMs ?? 45_000,
      now: this.#now,
    });
    this.#sessions = new SessionKeeper({
      store: this.store,
      storeMutex: this.#storeMutex,
      transport,
      callDeadlineMs: this.#callDeadlineMs,
      logoutDeadlineMs: this.#logoutDeadlineMs,
      refreshSkewMs: options.refreshSkewMs ?? 60_000,
      now: this.#now,
      onChange: (change) => this.#emit(change),
    });
  }

  /**
   * Calls `listener` on every session change this client makes or notices:
   * signed in, refreshed, signed out (and why). Returns the unsubscribe function.
   */
  onSessionChange(listener: (change: SessionChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: SessionChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch {
        /* a listener's bug is not the client's failure */
      }
    }
  }

  /** The login that awaitLogin can currently follow, if any. */
  get currentLogin(): Omit<StartedLogin, 'authorizeUrl' | 'confirmationCode'> | undefined {
    const attempt = this.#attempts.current;
    return attempt && { loginId: attempt.loginId, expiresAt: attempt.expiresAt, serverUrl: attempt.serverUrl };
  }

  // ---- login ---------------------------------------------------------------

  /**
   * Starts a login at `serverUrl` for a handle, DID or PDS URL. Supersedes any
   * earlier attempt of this client. Concurrent calls are serialized in call
   * order; the last one's login is current.
   */
  async startLogin(serverUrl: string, identifier: string, options: { signal?: AbortSignal } = {}): Promise<StartedLogin> {
    const address = { url: this.#transport.canonicalUrl(serverUrl) };
    this.#assertOpen();
    // The newest call wins at once: every start still in progress (waiting
    // for its turn, or in its InitiateLogin RPC, which is cancelled) rejects
    // now with LoginSupersededError, and the current login ends and is
    // cancelled on the server. A burst of N calls thus makes at most 2
    // InitiateLogin calls (the first, maybe cancelled in flight, and the last).
    this.#attempts.supersedeStarts();
    const previous = this.#attempts.current;
    const cancelled = previous ? this.#endAttempt(previous, new LoginSupersededError(previous.loginId)) : Promise.resolve();
    // Registered before waiting for the mutex, so a logout or a newer
    // startLogin called after this one ends it even while it waits for its turn.
    const controller = new AbortController();
    const untrack = this.#attempts.trackStart(controller);
    const unlink = linkAbort(options.signal, controller, () => new LoginCancelledError('login start was cancelled'));
    let release: (() => void) | undefined;
    try {
      release = await acquire(this.#loginMutex, controller.signal);
      const { verifier, challenge } = await createLoginVerifier();
      // Persist the server before the browser opens, so it survives a crash mid-login.
      await exclusive(this.#storeMutex, this.store, async () => {
        throwIfAborted(controller.signal);
        const state = await loadLenient(this.store);
        await this.store.save({ ...emptyState(), ...state, loginServerUrl: address.url });
      });
      // The RPC, under the login mutex; a newer startLogin or a logout cancels it.
      throwIfAborted(controller.signal);
      const response = await this.#transport.unary(
        address.url,
        'initiateLogin',
        { identifier, loginVerifierChallenge: challenge, ...(this.#clientLabel ? { clientLabel: this.#clientLabel } : {}) },
        {
          deadlineMs: this.#callDeadlineMs,
          signal: controller.signal,
        },
      );
      const expiresAt = response.expiresAt ?? new Date(this.#now() + 10 * 60_000);
      const attempt: LoginAttempt = { loginId: response.loginId, serverUrl: address.url, verifier, expiresAt, controller };
      if (controller.signal.aborted) {
        // Superseded or cancelled while the answer was on its way: end this login on the server too.
        void this.#cancelOnServer(attempt);
        throw controller.signal.reason;
      }
      this.#attempts.begin(attempt);
      // The superseded login is ended on the server before this one is handed
      // out, so its old browser tab can no longer finish it.
      await cancelled;
      return {
        loginId: response.loginId,
        authorizeUrl: response.authorizeUrl,
        expiresAt,
        serverUrl: address.url,
        confirmationCode: response.confirmationCode,
      };
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : toClientError(error);
    } finally {
      release?.();
      unlink();
      untrack();
    }
  }

  /**
   * Follows a login started by this client until it ends. Resolves with the
   * session once it is stored. Re-attaches after transient failures until
   * the login expires.
   */
  async awaitLogin(loginId: string, options: AwaitLoginOptions = {}): Promise<SessionInfo> {
    const current = this.#attempts.current;
    const attempt = current?.loginId === loginId ? current : undefined;
    if (!attempt) {
      const ended = this.#attempts.outcomeOf(loginId);
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
      const outcome = await this.#stream.follow(attempt, stop.signal, options.onProgress);
      if (outcome.type === 'failed') {
        const error = loginFailureError(outcome.failure);
        this.#attempts.settle(attempt, error);
        throw error;
      }
      attempt.completion ??= this.#storeCompletedLogin(attempt, outcome.session);
      return await attempt.completion;
    } finally {
      unlinkAttempt();
      unlinkCaller();
    }
  }

  /**
   * awaitLogin as an async iterator: yields each progress event, then a
   * final `{ type: 'signed-in', session }`; a failed login throws from the
   * loop (the same errors as awaitLogin). Breaking out of the loop stops
   * following (the login stays current, as with an aborted awaitLogin).
   */
  async *followLogin(
    loginId: string,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LoginProgress | { type: 'signed-in'; session: SessionInfo }> {
    const queue: LoginProgress[] = [];
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const unlink = linkAbort(options.signal, stop, () => options.signal?.reason);
    const done = this.awaitLogin(loginId, {
      signal: stop.signal,
      onProgress: (progress) => {
        queue.push(progress);
        wake?.();
      },
    });
    let finished = false;
    const settled = done.then(
      () => {
        finished = true;
        wake?.();
      },
      () => {
        finished = true;
        wake?.();
      },
    );
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      await settled;
      yield { type: 'signed-in', session: await done };
    } finally {
      stop.abort(new LoginCancelledError('login wait was cancelled'));
      unlink();
      done.catch(() => {});
    }
  }

  /** startLogin, open the browser, awaitLogin. */
  async login(identifier: string, options: LoginOptions): Promise<SessionInfo> {
    const serverUrl = options.serverUrl ?? this.#defaultServerUrl ?? (await loadLenient(this.store))?.loginServerUrl;
    if (!serverUrl) throw new InvalidServerUrlError('no server to sign in to: pass serverUrl');
    const started = await this.startLogin(serverUrl, identifier, { signal: options.signal });
    try {
      await options.openUrl(started.authorizeUrl, started);
    } catch (error) {
      // No browser, no login: end the attempt here and on the server.
      const attempt = this.#attempts.current;
      if (attempt?.loginId === started.loginId) await this.#endAttempt(attempt, new LoginCancelledError('the browser could not be opened'));
      throw error;
    }
    return this.awaitLogin(started.loginId, options);
  }

  // ---- session -------------------------------------------------------------

  /**
   * The single authoritative "am I signed in?". A session exists only as
   * one stored record holding the server URL and both tokens; anything
   * less, or a session whose refresh token has expired, is no session.
   */
  async getSession(): Promise<SessionInfo | undefined> {
    const session = await this.#sessions.active();
    return session && toSessionInfo(session);
  }

  /**
   * Signs out: ends every login of this client, revokes the session on the
   * server (best effort, within logoutDeadlineMs) and removes the stored
   * record (server URL and tokens together). Never throws for an
   * unreachable server; the local sign-out always happens.
   */
  async logout(options: { deadlineMs?: number } = {}): Promise<LogoutResult> {
    this.#sessions.invalidateRefreshes();
    const cancelled = new LoginCancelledError('signed out');
    const ended = this.#attempts.cancelAll(() => cancelled);
    const deadlineMs = options.deadlineMs ?? this.#logoutDeadlineMs;
    // The pending login is cancelled on the server too, so finishing it in the browser afterwards creates no session.
    const [result] = await Promise.all([
      this.#sessions.revokeAndClear(deadlineMs),
      ended ? this.#cancelOnServer(ended, deadlineMs) : undefined,
    ]);
    if (result.hadSession) this.#emit({ type: 'signed-out', reason: 'LOGOUT' });
    return result;
  }

  // ---- authenticated calls -------------------------------------------------

  async whoAmI(options: { signal?: AbortSignal } = {}): Promise<WhoAmI> {
    return this.#authed(async (serverUrl, accessToken) => {
      const response = await this.#transport.unary(serverUrl, 'whoAmI', {}, this.#callSettings(accessToken, options.signal));
      return { ...response, serverUrl };
    });
  }

  async listChannels(options: { signal?: AbortSignal } = {}): Promise<Channel[]> {
    return this.#authed(async (serverUrl, accessToken) => {
      const response = await this.#transport.unary(serverUrl, 'listChannels', {}, this.#callSettings(accessToken, options.signal));
      return response.channels;
    });
  }

  async getChannelToken(channelId: string, options: { signal?: AbortSignal } = {}): Promise<ChannelToken> {
    return this.#authed((serverUrl, accessToken) =>
      this.#transport.unary(serverUrl, 'getChannelToken', { channelId }, this.#callSettings(accessToken, options.signal)),
    );
  }

  /** Ends every login and closes the connections. The stored session is kept. */
  close(): void {
    this.#closed = true;
    this.#attempts.cancelAll(() => new LoginCancelledError('client closed'));
    this.#transport.close();
  }

  // ---- internals -----------------------------------------------------------

  /** Ends an attempt here (its awaiters reject with `reason`) and on the server (CancelLogin). */
  #endAttempt(attempt: LoginAttempt, reason: Error): Promise<void> {
    this.#attempts.end(attempt, reason);
    return this.#cancelOnServer(attempt);
  }

  /** CancelLogin, best effort within the logout deadline: its browser tab then says it was cancelled in the app. Never throws. */
  async #cancelOnServer(
    attempt: Pick<LoginAttempt, 'loginId' | 'serverUrl' | 'verifier'>,
    deadlineMs = this.#logoutDeadlineMs,
  ): Promise<void> {
    try {
      await this.#transport.unary(
        attempt.serverUrl,
        'cancelLogin',
        { loginId: attempt.loginId, loginVerifier: attempt.verifier },
        { deadlineMs },
      );
    } catch {
      /* the login expires on its own */
    }
  }

  /** Stores the session of a completed login, unless the attempt ended meanwhile. */
  #storeCompletedLogin(attempt: LoginAttempt, session: Session): Promise<SessionInfo> {
    return exclusive(this.#storeMutex, this.store, async () => {
      const stored = toStoredSession(attempt.serverUrl, session, this.#now());
      if (attempt.controller.signal.aborted) {
        // Superseded or signed out after the user finished: nobody will use this session.
        void this.#sessions.revoke(stored, this.#logoutDeadlineMs);
        throw attempt.controller.signal.reason;
      }
      const previous = (await loadLenient(this.store))?.session;
      await this.store.save({ version: STORED_STATE_VERSION, loginServerUrl: attempt.serverUrl, session: stored });
      if (previous && previous.sessionId !== stored.sessionId) void this.#sessions.revoke(previous, this.#logoutDeadlineMs);
      this.#attempts.settle(attempt, 'completed');
      const info = toSessionInfo(stored);
      this.#emit({ type: 'signed-in', session: info });
      return info;
    });
  }

  async #authed<T>(run: (serverUrl: string, accessToken: string) => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#sessions.authed(run);
  }

  #callSettings(accessToken: string, signal?: AbortSignal) {
    return { deadlineMs: this.#callDeadlineMs, accessToken, signal };
  }

  #assertOpen(): void {
    if (this.#closed) throw new LoginCancelledError('the client is closed');
  }
}

/** Takes the mutex, or rejects with the signal's reason at once when it aborts first (the lock is then released as soon as it is granted). */
function acquire(mutex: Mutex, signal: AbortSignal): Promise<() => void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void mutex.acquire().then((release) => {
      signal.removeEventListener('abort', onAbort);
      if (settled) return release();
      settled = true;
      resolve(release);
    });
  });
}

function emptyState(): StoredState {
  return { version: STORED_STATE_VERSION };
}
