// The login broker: the domain behind InitiateLogin, AwaitLogin, the login
// link and the OAuth callback. It knows nothing of gRPC or HTTP.
//
// A login is bound to its initiator by a PKCE-style verifier; its id and
// link ref are random and stored hashed; its result is stored (sealed to the
// login id) before the event bus says "finished", and every stream reads it
// back from the store, so late, repeated and concurrent streams all see it.
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Settings } from '../config/settings.ts';
import { AirlockError, InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors.ts';
import type { RequestLock } from '../coordination/request-lock.ts';
import type { Logger } from '../observability/logger.ts';
import { addGaugeSource, metrics } from '../observability/metrics.ts';
import type { IssuedSession, SessionStarter } from '../sessions/session-types.ts';
import { parseIdentifier } from './identifier.ts';
import type { LoginEventBus } from '../coordination/login-events.ts';
import type { FailureReason, LoginRecord, LoginStore, StoredResult } from './login-store.ts';
import { LoginWatches, type WatchEvent } from './login-watches.ts';
import { open as openSealed, seal, sealingKeyFor } from './result-sealing.ts';
import { isVerifierChallenge, randomSecret, sha256, verifierMatches } from './secrets.ts';
import { INTERRUPTED, UpstreamDeniedError, UpstreamFailedError, type UpstreamAuthorizer } from './upstream.ts';

export type LoginUpdate =
  | { type: 'pending'; expiresAt: Date }
  | { type: 'heartbeat'; serverTime: Date }
  | { type: 'browser-opened'; openedAt: Date }
  | { type: 'completed'; session: IssuedSession }
  | { type: 'failed'; reason: FailureReason; message: string };

export type LinkOutcome =
  | { kind: 'redirect'; url: string }
  | { kind: 'gone'; reason: 'unknown-or-expired' | 'finished' | 'cancelled' }
  | { kind: 'error'; message: string };

export type CallbackOutcome =
  | { kind: 'completed'; handle: string; did: string }
  | { kind: 'failed'; reason: FailureReason | 'unknown'; message: string };

export type BrokerSettings = Pick<
  Settings,
  | 'loginTtl'
  | 'heartbeatInterval'
  | 'loginRatePerMinute'
  | 'maxPendingLogins'
  | 'maxStreamsPerLogin'
  | 'upstreamTimeout'
  | 'oauthRequestMaxAge'
  | 'allowHttp'
>;

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
const NOT_FOUND = 'no login with this id and verifier (it may have expired); start a new login';
const LINK_REF = /^[A-Za-z0-9_-]{43}$/;
export const CANCELLED_MESSAGE = 'The app cancelled this sign-in; start a new login.';
const EXPIRED_MESSAGE = 'The login expired before the user finished signing in; start a new login.';
// Time kept back from the caller's deadline to send UNAVAILABLE before it passes.
const DEADLINE_MARGIN_MS = 500;
// Backoff of storing a finished login after a database fault.
const STORE_RETRY_FIRST_MS = 250;
const STORE_RETRY_MAX_MS = 5_000;

export class LoginBroker {
  readonly #o: LoginBrokerOptions;
  readonly #limiter: RateLimiterAbstract;
  // Finished logins whose result waits for the database (see #storeLater).
  readonly #unstored = new Map<string, NodeJS.Timeout>();
  readonly #watches: LoginWatches;
  #sweeper: NodeJS.Timeout | undefined;

  #unregisterGauge?: () => void;

  constructor(options: LoginBrokerOptions) {
    this.#o = options;
    this.#limiter = options.rateLimiter ?? new RateLimiterMemory({ points: options.settings.loginRatePerMinute, duration: 60 });
    this.#watches = new LoginWatches({
      store: options.store,
      bus: options.bus,
      heartbeatInterval: options.settings.heartbeatInterval,
      logger: options.logger,
    });
  }

  /** Starts the sweeper of expired logins. */
  start(): void {
    const interval = this.#o.sweepIntervalMs ?? Math.min(60_000, Math.max(1_000, this.#o.settings.loginTtl));
    this.#sweeper = setInterval(
      () => void this.sweep().catch((err: unknown) => this.#o.logger.warn({ err }, 'login sweep failed')),
      interval,
    );
    this.#sweeper.unref();
    this.#unregisterGauge = addGaugeSource('airlock_logins_pending', () => this.#o.store.countPending(Date.now()));
  }

  stop(): void {
    this.#unregisterGauge?.();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const timer of this.#unstored.values()) clearTimeout(timer);
    this.#unstored.clear();
    this.#watches.close();
  }

  /** Deletes logins past their lifetime and OAuth requests that can no longer complete. */
  async sweep(now = Date.now()): Promise<number> {
    const removed = await this.#o.store.sweep(now);
    await this.#o.upstream.sweep();
    if (removed > 0) this.#o.logger.debug({ removed }, 'expired logins swept');
    return removed;
  }

  /** Open AwaitLogin streams, for leak tests and metrics. */
  get activeStreams(): number {
    return this.#watches.streams;
  }

  /** Timers held for all streams together (heartbeat interval, expiry timer): at most 2. */
  get activeTimers(): number {
    return this.#watches.timers;
  }

  async initiate(input: {
    identifier: string;
    verifierChallenge: string;
    clientAddress: string;
    signal: AbortSignal;
    /** Epoch ms by which the caller needs an answer, if it set one. */
    deadline?: number;
  }): Promise<{ loginId: string; authorizeUrl: string; expiresAt: Date }> {
    const { settings } = this.#o;
    try {
      await this.#limiter.consume(input.clientAddress || 'unknown');
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new ResourceExhaustedError(
        `too many logins started from this address (limit ${settings.loginRatePerMinute} per minute); retry in ${Math.ceil(error.msBeforeNext / 1000)} s`,
        error.msBeforeNext,
      );
    }
    const identifier = parseIdentifier(input.identifier, { allowHttp: settings.allowHttp });
    if (!isVerifierChallenge(input.verifierChallenge)) {
      throw new InvalidArgumentError(
        'login_verifier_challenge must be the base64url (no padding) SHA-256 of a 43 to 128 character verifier (43 characters)',
      );
    }
    const now = Date.now();
    if ((await this.#o.store.countPending(now)) >= settings.maxPendingLogins) {
      throw new ResourceExhaustedError(`too many logins are waiting for users (limit ${settings.maxPendingLogins}); retry later`);
    }

    const ref = randomSecret();
    const loginId = randomSecret();
    const linkRef = randomSecret();
    const authorizeUrl = await this.#authorize(identifier, ref, input.signal, input.deadline);
    const createdAt = Date.now();
    const expiresAt = createdAt + settings.loginTtl;
    const inserted = await this.#o.store.insertWithinCap(
      {
        ref,
        loginIdHash: sha256(loginId),
        linkRefHash: sha256(linkRef),
        verifierChallenge: input.verifierChallenge,
        identifier: identifier.value,
        createdAt,
        expiresAt,
        authorizeUrl: authorizeUrl.href,
        resultKey: sealingKeyFor(loginId),
      },
      settings.maxPendingLogins,
    );
    // The count above is a cheap early refusal; this one, taken with the insert, is the cap.
    if (!inserted)
      throw new ResourceExhaustedError(`too many logins are waiting for users (limit ${settings.maxPendingLogins}); retry later`);
    this.#o.logger.info({ login: ref.slice(0, 8), identifierKind: identifier.kind }, 'login initiated');
    metrics.loginsInitiated.inc();
    return { loginId, authorizeUrl: `${this.#o.publicUrl.replace(/\/$/, '')}${LOGIN_PATH}${linkRef}`, expiresAt: new Date(expiresAt) };
  }

  /**
   * Pushes an authorization request within the upstream timeout and the
   * caller's deadline (less a margin to send the answer), whichever is sooner.
   */
  async #authorize(identifier: ReturnType<typeof parseIdentifier>, ref: string, signal: AbortSignal, deadline?: number): Promise<URL> {
    const budget = Math.max(
      100,
      Math.min(this.#o.settings.upstreamTimeout, deadline === undefined ? Infinity : deadline - Date.now() - DEADLINE_MARGIN_MS),
    );
    const timeout = AbortSignal.timeout(budget);
    try {
      return await this.#o.upstream.authorize(identifier, ref, AbortSignal.any([signal, timeout]));
    } catch (error) {
      if (timeout.aborted && !signal.aborted) {
        throw new UnavailableError(`the PDS or authorization server for ${identifier.value} did not answer within ${budget} ms`);
      }
      throw error;
    }
  }

  /**
   * The progress of a login: pending at once, browser-opened, heartbeats,
   * then exactly one terminal update. Ends when the signal aborts. Waiting
   * costs no timer, query or subscription of its own: the login's watch
   * (login-watches.ts) feeds every stream of the login.
   */
  async *awaitLogin(input: { loginId: string; verifier: string; signal: AbortSignal }): AsyncGenerator<LoginUpdate> {
    const { loginId, verifier, signal } = input;
    if (!loginId || !verifier) throw new InvalidArgumentError('login_id and login_verifier are required');
    if (loginId.length > 256 || verifier.length > 256) throw new NotFoundError(NOT_FOUND);
    const found = await this.#o.store.byLoginIdHash(sha256(loginId));
    if (!found || found.expiresAt <= Date.now() || !verifierMatches(verifier, found.verifierChallenge)) throw new NotFoundError(NOT_FOUND);

    const ref = found.ref;
    if (this.#watches.streamsOf(ref) >= this.#o.settings.maxStreamsPerLogin) {
      throw new ResourceExhaustedError(`at most ${this.#o.settings.maxStreamsPerLogin} AwaitLogin streams per login are allowed at once`);
    }

    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    // Join before reading again, so nothing announced in between is lost.
    const leave = this.#watches.join(ref, found.expiresAt, (event) => {
      // A stream that cannot keep up needs one heartbeat, not a backlog of them.
      if (event.type === 'heartbeat' && queue.at(-1)?.type === 'heartbeat') queue[queue.length - 1] = event;
      else queue.push(event);
      notify();
    });
    signal.addEventListener('abort', notify);
    try {
      const record = (await this.#o.store.byRef(ref)) ?? found;
      yield { type: 'pending', expiresAt: new Date(record.expiresAt) };
      let browserSent = false;
      if (record.browserOpenedAt !== null) {
        browserSent = true;
        yield { type: 'browser-opened', openedAt: new Date(record.browserOpenedAt) };
      }
      if (record.result) {
        yield await this.#terminal(loginId, record.result);
        return;
      }

      while (!signal.aborted) {
        if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        if (signal.aborted) return;
        while (queue.length > 0) {
          const event = queue.shift()!;
          if (event.type === 'browser-opened') {
            if (browserSent) continue;
            browserSent = true;
            yield { type: 'browser-opened', openedAt: event.at };
          } else if (event.type === 'heartbeat') {
            yield { type: 'heartbeat', serverTime: event.at };
          } else if (event.type === 'result') {
            yield await this.#terminal(loginId, event.result);
            return;
          } else {
            yield { type: 'failed', reason: 'expired', message: EXPIRED_MESSAGE };
            return;
          }
          if (signal.aborted) return;
        }
      }
    } finally {
      wake = undefined;
      leave();
      signal.removeEventListener('abort', notify);
    }
  }

  /**
   * Ends a login still waiting for its user (the app started a newer one or
   * signed out). Streams get a failed update with reason 'cancelled'; a later
   * callback completes nothing. True when this call ended it; false when it
   * had already finished. NotFoundError as for awaitLogin.
   */
  async cancel(input: { loginId: string; verifier: string }): Promise<boolean> {
    const { loginId, verifier } = input;
    if (!loginId || !verifier) throw new InvalidArgumentError('login_id and login_verifier are required');
    if (loginId.length > 256 || verifier.length > 256) throw new NotFoundError(NOT_FOUND);
    const found = await this.#o.store.byLoginIdHash(sha256(loginId));
    if (!found || found.expiresAt <= Date.now() || !verifierMatches(verifier, found.verifierChallenge)) throw new NotFoundError(NOT_FOUND);
    // Under the same lock as the callback, so a completion and a cancel never both win.
    return this.#o.requestLock(`airlock-login:${found.ref}`, async () => {
      const result: StoredResult = { type: 'failed', reason: 'cancelled', message: CANCELLED_MESSAGE };
      if (!(await this.#o.store.finish(found.ref, result, Date.now()))) return false;
      await this.#o.bus
        .publish(found.ref, { type: 'finished' })
        .catch((error: unknown) =>
          this.#o.logger.warn(
            { err: error, login: found.ref.slice(0, 8) },
            'could not announce a cancelled login; streams will read it at their next heartbeat',
          ),
        );
      this.#o.logger.info({ login: found.ref.slice(0, 8) }, 'login cancelled by the app');
      metrics.loginOutcomes.inc({ outcome: 'failed', reason: 'cancelled' });
      await this.#audit(result);
      return true;
    });
  }

  async #terminal(loginId: string, result: StoredResult): Promise<LoginUpdate> {
    if (result.type === 'failed') return { type: 'failed', reason: result.reason, message: result.message };
    try {
      const session = JSON.parse(await openSealed(loginId, result.sealed)) as IssuedSession & {
        accessTokenExpiresAt: string;
        refreshTokenExpiresAt: string;
      };
      return {
        type: 'completed',
        session: {
          ...session,
          accessTokenExpiresAt: new Date(session.accessTokenExpiresAt),
          refreshTokenExpiresAt: new Date(session.refreshTokenExpiresAt),
        },
      };
    } catch (error) {
      this.#o.logger.error({ err: error }, 'a completed login could not be opened');
      return { type: 'failed', reason: 'error', message: 'The session could not be delivered; start a new login.' };
    }
  }

  /**
   * The user's browser opened the login link: record it (the first time),
   * and send the browser on to the authorization server, renewing the pushed
   * request first if the PDS may have forgotten it.
   */
  async openLink(linkRef: string, signal: AbortSignal): Promise<LinkOutcome> {
    if (!LINK_REF.test(linkRef)) return { kind: 'gone', reason: 'unknown-or-expired' };
    const record = await this.#o.store.byLinkRefHash(sha256(linkRef));
    const now = Date.now();
    if (!record || record.expiresAt <= now) return { kind: 'gone', reason: 'unknown-or-expired' };
    if (isCancelled(record)) return { kind: 'gone', reason: 'cancelled' };
    if (record.status !== 'pending' || !record.authorizeUrl) return { kind: 'gone', reason: 'finished' };

    const firstVisit = record.browserOpenedAt === null && (await this.#o.store.markBrowserOpened(record.ref, now));
    if (firstVisit) await this.#o.bus.publish(record.ref, { type: 'browser-opened', at: new Date(now) });
    // The first visit uses the request pushed by InitiateLogin while it is
    // fresh. Any later visit gets its own: the PDS binds a request to the
    // first browser that loads it and refuses it (access_denied) elsewhere,
    // so a link preview or a second browser must not spend the user's.
    if (firstVisit && record.authorizeUrlAt !== null && now - record.authorizeUrlAt < this.#o.settings.oauthRequestMaxAge) {
      return { kind: 'redirect', url: record.authorizeUrl };
    }
    try {
      const identifier = parseIdentifier(record.identifier, { allowHttp: this.#o.settings.allowHttp });
      const fresh = await this.#authorize(identifier, record.ref, signal);
      await this.#o.store.setAuthorizeUrl(record.ref, fresh.href, Date.now());
      this.#o.logger.info({ login: record.ref.slice(0, 8) }, 'authorization request renewed');
      return { kind: 'redirect', url: fresh.href };
    } catch (error) {
      this.#o.logger.warn({ err: error, login: record.ref.slice(0, 8) }, 'could not renew the authorization request');
      return { kind: 'error', message: error instanceof AirlockError ? error.message : 'Your sign-in could not be started.' };
    }
  }

  /**
   * The browser came back from the authorization server. Completes the login
   * at most once; an unknown, replayed or late callback completes nothing.
   *
   * Faults: one before the request is consumed (the database, before the
   * code exchange) throws UnavailableError, and the reload completes the
   * login. One after it (the code is spent) ends the login failed, so the
   * app is told; if even that cannot be stored now, it is stored as soon as
   * the database is back. A reload meanwhile is told to wait, and afterwards
   * how the login ended.
   */
  async completeCallback(params: URLSearchParams): Promise<CallbackOutcome> {
    const request = await this.#o.upstream.requestOf(params);
    if (!request) {
      return {
        kind: 'failed',
        reason: 'unknown',
        message: 'This sign-in response is unknown or was already used. Start again from the app.',
      };
    }
    const ref = request.loginRef;
    return this.#o.requestLock(`airlock-login:${ref}`, async (): Promise<CallbackOutcome> => {
      const record = await this.#o.store.byRef(ref);
      if (!record || record.expiresAt <= Date.now()) {
        await this.#o.upstream.discard(params);
        return { kind: 'failed', reason: 'expired', message: 'This sign-in expired. Start again from the app.' };
      }
      if (record.status !== 'pending') {
        await this.#o.upstream.discard(params);
        if (isCancelled(record)) {
          return { kind: 'failed', reason: 'cancelled', message: 'This sign-in was cancelled in the app. You can close this page.' };
        }
        return record.result?.type === 'failed'
          ? { kind: 'failed', reason: record.result.reason, message: record.result.message }
          : { kind: 'failed', reason: 'unknown', message: 'This sign-in was already finished. Return to the app.' };
      }
      // Consumed but not finished: its result is on its way to the store (see #storeLater).
      if (this.#unstored.has(ref) || (await this.#o.upstream.requestOf(params))?.consumed) {
        throw new UnavailableError('this sign-in is still being finished');
      }

      let result: StoredResult;
      let outcome: CallbackOutcome;
      try {
        // An UnavailableError here spent nothing: it reaches the browser as "reload".
        const user = await this.#o.upstream.complete(params);
        try {
          const session = await this.#o.sessions.start(user);
          result = {
            type: 'completed',
            sealed: await seal(record.resultKey!, JSON.stringify(session)),
            did: session.did,
            handle: session.handle,
          };
          outcome = { kind: 'completed', handle: session.handle, did: session.did };
          metrics.loginSeconds.observe((Date.now() - record.createdAt) / 1000);
        } catch (error) {
          // The code is spent: no reload can resume this login.
          throw error instanceof UnavailableError ? new UpstreamFailedError(INTERRUPTED, { cause: error }) : error;
        }
      } catch (error) {
        if (error instanceof UnavailableError) throw error;
        const reason: FailureReason = error instanceof UpstreamDeniedError ? 'access-denied' : 'error';
        const expected = error instanceof UpstreamDeniedError || error instanceof UpstreamFailedError;
        // Upstream and domain errors carry messages meant for users; anything else is hidden.
        const message = expected || error instanceof AirlockError ? (error as Error).message : 'The sign-in could not be completed.';
        if (!expected || message === INTERRUPTED) this.#o.logger.error({ err: error, login: ref.slice(0, 8) }, 'login completion failed');
        result = { type: 'failed', reason, message };
        outcome = { kind: 'failed', reason, message };
      }
      try {
        await this.#store(ref, result);
      } catch (error) {
        if (!(error instanceof UnavailableError)) throw error;
        this.#o.logger.warn(
          { err: error, login: ref.slice(0, 8) },
          'could not store a finished login; retrying until the database is back',
        );
        this.#storeLater(ref, result, record.expiresAt);
      }
      return outcome;
    });
  }

  // The result is stored and delivered already: an audit write that fails is logged, not retried.
  async #audit(result: StoredResult): Promise<void> {
    const entry =
      result.type === 'completed'
        ? { event: 'login-completed' as const, actor: 'user', did: result.did }
        : { event: 'login-failed' as const, actor: result.reason === 'cancelled' ? 'user' : 'system', detail: result.reason };
    await this.#o.store.audit
      .append(entry)
      .catch((err: unknown) => this.#o.logger.warn({ err }, 'could not write a finished login to the audit log'));
  }

  // Stored is delivered: a failed announcement only delays streams to their next heartbeat.
  async #store(ref: string, result: StoredResult): Promise<void> {
    if (!(await this.#o.store.finish(ref, result, Date.now()))) return;
    await this.#o.bus
      .publish(ref, { type: 'finished' })
      .catch((error: unknown) =>
        this.#o.logger.warn(
          { err: error, login: ref.slice(0, 8) },
          'could not announce a finished login; streams will read it at their next heartbeat',
        ),
      );
    this.#o.logger.info(
      { login: ref.slice(0, 8), outcome: result.type, ...(result.type === 'failed' ? { reason: result.reason } : {}) },
      'login finished',
    );
    metrics.loginOutcomes.inc({ outcome: result.type, reason: result.type === 'failed' ? result.reason : 'none' });
    await this.#audit(result);
  }

  // A login's result that met a database fault is kept here and stored
  // again with backoff until it lands or the login expires, so the app's
  // stream ends with it instead of pending in silence.
  #storeLater(ref: string, result: StoredResult, expiresAt: number, attempt = 0): void {
    const delay = Math.min(STORE_RETRY_MAX_MS, STORE_RETRY_FIRST_MS * 2 ** attempt);
    const timer = setTimeout(() => {
      this.#store(ref, result).then(
        () => {
          this.#unstored.delete(ref);
          this.#o.logger.info({ login: ref.slice(0, 8), attempts: attempt + 2 }, 'stored a finished login after a database fault');
        },
        (error: unknown) => {
          if (Date.now() + delay < expiresAt && this.#unstored.get(ref) === timer)
            return this.#storeLater(ref, result, expiresAt, attempt + 1);
          this.#unstored.delete(ref);
          this.#o.logger.error({ err: error, login: ref.slice(0, 8) }, 'gave up storing a finished login');
        },
      );
    }, delay);
    timer.unref();
    this.#unstored.set(ref, timer);
  }
}

function isCancelled(record: LoginRecord): boolean {
  return record.result?.type === 'failed' && record.result.reason === 'cancelled';
}
