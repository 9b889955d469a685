// The end of a login: the OAuth callback completes it at most once, or the
// app cancels it; either way the result is stored before it is announced,
// and a result that meets a database fault is stored again until it lands.
import { AirlockError, UnavailableError } from '../errors.ts';
import { metrics } from '../observability/metrics.ts';
import { tracing } from '../observability/tracing.ts';
import { mayComplete } from './browser-binding.ts';
import type { FailureReason, LoginRecord, StoredResult } from './login-store.ts';
import {
  CANCELLED_MESSAGE,
  type CallbackBrowser,
  type CallbackOutcome,
  findLogin,
  isCancelled,
  type LoginBrokerOptions,
} from './login-types.ts';
import type { LoginWatches } from './login-watches.ts';
import { seal } from './result-sealing.ts';
import { INTERRUPTED, UpstreamDeniedError, UpstreamFailedError } from './upstream.ts';

export const DECLINED_MESSAGE = 'The user cancelled this sign-in on the confirmation page.';
export const UNCONFIRMED_MESSAGE =
  'This sign-in was not confirmed in this browser: open the sign-in link from the app (not a link someone sent you) and start again.';
const UNKNOWN_BROWSER: CallbackBrowser = { address: '', token: () => '' };

// Backoff of storing a finished login after a database fault.
const STORE_RETRY_FIRST_MS = 250;
const STORE_RETRY_MAX_MS = 5_000;

export class LoginCompletion {
  readonly #o: LoginBrokerOptions;
  readonly #watches: LoginWatches;
  // Finished logins whose result waits for the database (see #storeLater).
  readonly #unstored = new Map<string, NodeJS.Timeout>();

  constructor(options: LoginBrokerOptions, watches: LoginWatches) {
    this.#o = options;
    this.#watches = watches;
  }

  /** Stops retrying results that wait for the database. */
  stop(): void {
    for (const timer of this.#unstored.values()) clearTimeout(timer);
    this.#unstored.clear();
  }

  /**
   * Ends a login still waiting for its user (the app started a newer one or
   * signed out). Streams get a failed update with reason 'cancelled'; a later
   * callback completes nothing. True when this call ended it; false when it
   * had already finished. NotFoundError as for awaitLogin.
   */
  async cancel(input: { loginId: string; verifier: string }): Promise<boolean> {
    const found = await findLogin(this.#o.store, input.loginId, input.verifier);
    // Under the same lock as the callback, so a completion and a cancel never both win.
    return this.#o.requestLock(`airlock-login:${found.ref}`, async () => {
      const result: StoredResult = { type: 'failed', reason: 'cancelled', message: CANCELLED_MESSAGE };
      if (!(await this.#o.store.finish(found.ref, result, Date.now()))) return false;
      await this.#announce(found.ref, result, 'could not announce a cancelled login; streams will read it at their next heartbeat');
      this.#o.logger.info({ login: found.ref.slice(0, 8) }, 'login cancelled by the app');
      metrics.loginOutcomes.inc({ outcome: 'failed', reason: 'cancelled' });
      await this.#audit(result);
      return true;
    });
  }

  /**
   * The user pressed Cancel on the login link's confirmation page: the login
   * fails (access denied) under the same lock as the callback, and the app
   * that started it is told so and gets no session.
   */
  async decline(ref: string): Promise<void> {
    const result: StoredResult = { type: 'failed', reason: 'access-denied', message: DECLINED_MESSAGE };
    await this.#o.requestLock(`airlock-login:${ref}`, () => this.#store(ref, result));
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
  async completeCallback(params: URLSearchParams, browser: CallbackBrowser = UNKNOWN_BROWSER): Promise<CallbackOutcome> {
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
      const record = await this.#o.store.byRef(ref, { withConfirmation: true });
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

      // A browser the link never sent on, from another network than the app's:
      // an authorization URL passed around to skip the confirmation page.
      if (!mayComplete(record, this.#o.settings.loginConfirmation, browser)) {
        await this.#o.upstream.discard(params);
        this.#o.logger.warn({ login: ref.slice(0, 8) }, 'callback from a browser that did not pass the login link; login refused');
        metrics.loginConfirmations.inc({ decision: 'callback-refused' });
        const refused: StoredResult = { type: 'failed', reason: 'access-denied', message: UNCONFIRMED_MESSAGE };
        await this.#store(ref, refused);
        return { kind: 'failed', reason: 'access-denied', message: UNCONFIRMED_MESSAGE };
      }

      // Part of the login's trace, begun by InitiateLogin.
      return tracing.inSpan('airlock.login.callback', record.traceParent, () => this.#complete(ref, record, params));
    });
  }

  // The code exchange, the session and the stored result of a pending login's callback.
  async #complete(ref: string, record: LoginRecord, params: URLSearchParams): Promise<CallbackOutcome> {
    let result: StoredResult;
    let outcome: CallbackOutcome;
    try {
      // An UnavailableError here spent nothing: it reaches the browser as "reload".
      const user = await this.#o.upstream.complete(params);
      try {
        const session = await this.#o.sessions.start(record.clientLabel ? { ...user, clientLabel: record.clientLabel } : user);
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
      this.#o.logger.warn({ err: error, login: ref.slice(0, 8) }, 'could not store a finished login; retrying until the database is back');
      this.#storeLater(ref, result, record.expiresAt);
    }
    return outcome;
  }

  // A stored result goes straight to this replica's streams, and over the bus
  // to other replicas'; it resolves once the streams here have sent it (at
  // most callbackStreamWait), so the callback's page never beats the app.
  async #announce(ref: string, result: StoredResult, failure: string): Promise<void> {
    const here = this.#watches.deliver(ref, result, this.#o.settings.callbackStreamWait);
    await this.#o.bus
      .publish(ref, { type: 'finished' })
      .catch((error: unknown) => this.#o.logger.warn({ err: error, login: ref.slice(0, 8) }, failure));
    await here;
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
    await this.#announce(ref, result, 'could not announce a finished login; streams will read it at their next heartbeat');
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
