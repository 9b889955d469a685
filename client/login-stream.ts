// Following one login's AwaitLogin stream to its end: reading its events,
// re-attaching with backoff after transient failures, a watchdog for a
// stream gone silent, and the mapping of failures to typed errors.
import type { AwaitLoginResponse, LoginFailed, Session } from '../proto/gen/airlock/auth/v1/auth.ts';
import { LoginFailureReason } from '../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { throwIfAborted } from './abort.ts';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.ts';
import type { LoginProgress } from './client-types.ts';
import {
  LoginCancelledError,
  LoginDeniedError,
  LoginExpiredError,
  LoginFailedError,
  RequestFailedError,
  UnknownLoginError,
} from './errors.ts';
import { isServiceError, isTransient, toClientError } from './grpc/status.ts';
import { RpcStatus as status } from './rpc-codes.ts';
import type { AirlockTransport } from './transport.ts';

/** What the stream needs to know of a login attempt. */
export interface StreamedLogin {
  loginId: string;
  serverUrl: string;
  verifier: string;
  expiresAt: Date;
}

export type StreamOutcome = { type: 'completed'; session: Session } | { type: 'failed'; failure: LoginFailed };

export interface LoginStreamOptions {
  transport: AirlockTransport;
  backoff: BackoffOptions;
  /** Re-attach a stream that delivered nothing (not even a heartbeat) for this long. */
  streamIdleTimeoutMs: number;
  now: () => number;
}

class StreamInterrupted extends Error {}

export class LoginStream {
  readonly #options: LoginStreamOptions;

  constructor(options: LoginStreamOptions) {
    this.#options = options;
  }

  /** Opens the stream, and opens it again after transient failures, until a terminal event. */
  async follow(attempt: StreamedLogin, signal: AbortSignal, onProgress?: (progress: LoginProgress) => void): Promise<StreamOutcome> {
    const { now } = this.#options;
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
      if (now() >= attempt.expiresAt.getTime()) throw new LoginExpiredError('the login expired before sign-in finished');
      let reason: string;
      try {
        return await this.#readStream(attempt, signal, report, () => {
          failures = 0;
        });
      } catch (error) {
        throwIfAborted(signal);
        if (isServiceError(error) && error.code === status.NOT_FOUND) {
          if (now() >= attempt.expiresAt.getTime()) throw new LoginExpiredError('the login expired before sign-in finished');
          throw new UnknownLoginError('the server does not know this login (it may have been lost); start a new login');
        }
        if (isServiceError(error) && error.code === status.DEADLINE_EXCEEDED) continue; // the expiry check above decides
        if (!(error instanceof StreamInterrupted) && !isTransient(error)) throw toClientError(error);
        reason = error instanceof StreamInterrupted ? error.message : (error as Error).message;
      }
      failures++;
      const remaining = attempt.expiresAt.getTime() - now();
      const delayMs = Math.max(0, Math.min(backoffDelay(failures, this.#options.backoff), remaining));
      report({ type: 'reconnecting', attempt: failures, delayMs, reason });
      await sleep(delayMs, signal);
    }
  }

  /** One AwaitLogin stream: resolves on a terminal event, rejects when it breaks. */
  #readStream(
    attempt: StreamedLogin,
    signal: AbortSignal,
    report: (progress: LoginProgress) => void,
    onEvent: () => void,
  ): Promise<StreamOutcome> {
    const { now } = this.#options;
    return new Promise<StreamOutcome>((resolve, reject) => {
      // A deadline past the expiry, so no stream outlives its login for long.
      const deadline = attempt.expiresAt.getTime() + 30_000;
      const call = this.#options.transport.awaitLogin(
        attempt.serverUrl,
        { loginId: attempt.loginId, loginVerifier: attempt.verifier },
        { deadline },
      );
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
          this.#options.streamIdleTimeoutMs,
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
            report({ type: 'heartbeat', serverTime: event.value.serverTime ?? new Date(now()) });
            break;
          case 'browserOpened':
            report({ type: 'browser-opened', at: event.value.openedAt ?? new Date(now()) });
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
}

/** The typed error for a login the server reported as failed. */
export function loginFailureError(failure: LoginFailed): Error {
  const message = failure.message || 'the login failed';
  return failure.reason === LoginFailureReason.ACCESS_DENIED
    ? new LoginDeniedError(message)
    : failure.reason === LoginFailureReason.EXPIRED
      ? new LoginExpiredError(message)
      : failure.reason === LoginFailureReason.CANCELLED
        ? new LoginCancelledError(message)
        : new LoginFailedError(message);
}
