// The login broker: the domain behind InitiateLogin, AwaitLogin,
// CancelLogin, the login link and the OAuth callback. It knows nothing of
// gRPC or HTTP, and holds no use case itself: each lives in its own module
// (login-initiation, login-progress, login-link, login-completion); this
// wires them and runs the sweeper.
//
// A login is bound to its initiator by a PKCE-style verifier; its id and
// link ref are random and stored hashed; its result is stored (sealed to the
// login id) before the event bus says "finished", and every stream reads it
// back from the store, so late, repeated and concurrent streams all see it.
import { addGaugeSource } from '../observability/metrics.ts';
import { LoginCompletion } from './login-completion.ts';
import { LoginInitiation } from './login-initiation.ts';
import { type ConfirmationPost, LoginLink } from './login-link.ts';
import { LoginProgress } from './login-progress.ts';
import type { CallbackBrowser, CallbackOutcome, LinkOutcome, LoginBrokerOptions, LoginUpdate } from './login-types.ts';
import { LoginWatches } from './login-watches.ts';

export type {
  BrokerSettings,
  CallbackBrowser,
  CallbackOutcome,
  ConfirmationPage,
  LinkOutcome,
  LoginBrokerOptions,
  LoginUpdate,
} from './login-types.ts';
export type { ConfirmationPost } from './login-link.ts';
export { CANCELLED_MESSAGE, LOGIN_PATH } from './login-types.ts';

export class LoginBroker {
  readonly #o: LoginBrokerOptions;
  readonly #watches: LoginWatches;
  readonly #initiation: LoginInitiation;
  readonly #progress: LoginProgress;
  readonly #link: LoginLink;
  readonly #completion: LoginCompletion;
  #sweeper: NodeJS.Timeout | undefined;
  #unregisterGauge?: () => void;

  constructor(options: LoginBrokerOptions) {
    this.#o = options;
    this.#watches = new LoginWatches({
      store: options.store,
      bus: options.bus,
      heartbeatInterval: options.settings.heartbeatInterval,
      logger: options.logger,
    });
    this.#initiation = new LoginInitiation(options);
    this.#progress = new LoginProgress(options, this.#watches);
    this.#completion = new LoginCompletion(options, this.#watches);
    this.#link = new LoginLink(options, this.#initiation, this.#completion);
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
    this.#completion.stop();
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

  initiate(input: Parameters<LoginInitiation['initiate']>[0]): ReturnType<LoginInitiation['initiate']> {
    return this.#initiation.initiate(input);
  }

  awaitLogin(input: { loginId: string; verifier: string; signal: AbortSignal }): AsyncGenerator<LoginUpdate> {
    return this.#progress.awaitLogin(input);
  }

  cancel(input: { loginId: string; verifier: string }): Promise<boolean> {
    return this.#completion.cancel(input);
  }

  /** `browserAddress`: the browser's address as the transport resolved it, compared with the app's. */
  openLink(linkRef: string, signal: AbortSignal, browserAddress?: string): Promise<LinkOutcome> {
    return this.#link.openLink(linkRef, signal, browserAddress);
  }

  confirmLink(linkRef: string, post: ConfirmationPost, signal: AbortSignal): Promise<LinkOutcome> {
    return this.#link.confirm(linkRef, post, signal);
  }

  /** `browser`: the callback browser's address and the tokens it presents (browser-binding.ts). */
  completeCallback(params: URLSearchParams, browser?: CallbackBrowser): Promise<CallbackOutcome> {
    return this.#completion.completeCallback(params, browser);
  }
}
