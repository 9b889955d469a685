// The bookkeeping of one client's logins: the current attempt, the
// startLogin calls still in progress, and how recent attempts ended, so
// awaiting one fails at once with the right error.
import type { SessionInfo } from './client-types.ts';
import { LoginSupersededError } from './errors.ts';
import type { StreamedLogin } from './login-stream.ts';

export interface LoginAttempt extends StreamedLogin {
  /** Aborted with LoginSupersededError or LoginCancelledError when the attempt ends. */
  controller: AbortController;
  /** Storing the session, shared by every awaiter of this attempt. */
  completion?: Promise<SessionInfo>;
}

export type AttemptOutcome = Error | 'completed';

const MAX_REMEMBERED_LOGINS = 32;

export class LoginAttempts {
  /** Controllers of startLogin calls in progress, so logout can cancel them. */
  readonly #starting = new Set<AbortController>();
  readonly #ended = new Map<string, AttemptOutcome>();
  /**
   * Every login id of this client that was superseded, however long ago: only
   * ids (a few dozen bytes each, one per started login), so awaiting any
   * superseded login says so however many logins came since.
   */
  readonly #superseded = new Set<string>();
  #current: LoginAttempt | undefined;

  /** The login that awaitLogin can currently follow, if any. */
  get current(): LoginAttempt | undefined {
    return this.#current;
  }

  /** Makes `attempt` the current one (the caller has ended the previous one). */
  begin(attempt: LoginAttempt): void {
    this.#current = attempt;
  }

  /** Registers a startLogin in progress; returns the function that unregisters it. */
  trackStart(controller: AbortController): () => void {
    this.#starting.add(controller);
    return () => this.#starting.delete(controller);
  }

  /** How a recent attempt ended, if it is remembered. */
  outcomeOf(loginId: string): AttemptOutcome | undefined {
    return this.#ended.get(loginId) ?? (this.#superseded.has(loginId) ? new LoginSupersededError(loginId) : undefined);
  }

  /** Aborts every startLogin still in progress (waiting for its turn or in its RPC) as superseded. */
  supersedeStarts(): void {
    for (const controller of this.#starting) controller.abort(new LoginSupersededError(''));
  }

  /** Aborts the attempt with `reason` and records it as ended. */
  end(attempt: LoginAttempt, reason: Error): void {
    attempt.controller.abort(reason);
    this.settle(attempt, reason);
  }

  /** Records how the attempt ended; it is no longer current. */
  settle(attempt: LoginAttempt, outcome: AttemptOutcome): void {
    if (this.#current === attempt) this.#current = undefined;
    this.#ended.delete(attempt.loginId);
    this.#ended.set(attempt.loginId, outcome);
    if (outcome instanceof LoginSupersededError) this.#superseded.add(attempt.loginId);
    while (this.#ended.size > MAX_REMEMBERED_LOGINS) this.#ended.delete(this.#ended.keys().next().value!);
  }

  /** Ends the current attempt and aborts every startLogin in progress; returns the attempt it ended. */
  cancelAll(reason: () => Error): LoginAttempt | undefined {
    const ended = this.#current;
    if (ended) this.end(ended, reason());
    for (const controller of this.#starting) controller.abort(reason());
    return ended;
  }
}
