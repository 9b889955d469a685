// AwaitLogin: a login's progress as a stream of updates. Waiting costs no
// timer, query or subscription of its own: the login's watch
// (login-watches.ts) feeds every stream of the login.
import { ResourceExhaustedError } from '../errors.ts';
import { tracing } from '../observability/tracing.ts';
import type { IssuedSession } from '../sessions/session-types.ts';
import type { LoginWatches, WatchEvent } from './login-watches.ts';
import { findLogin, type LoginBrokerOptions, type LoginUpdate } from './login-types.ts';
import type { LoginRecord, StoredResult } from './login-store.ts';
import { open as openSealed } from './result-sealing.ts';

/** The fields of a stored login that a stream reads. */
function progressFields(record: Pick<LoginRecord, 'ref' | 'expiresAt' | 'browserOpenedAt' | 'result' | 'traceParent'>) {
  const { ref, expiresAt, browserOpenedAt, result, traceParent } = record;
  return { ref, expiresAt, browserOpenedAt, result, traceParent };
}

const EXPIRED_MESSAGE = 'The login expired before the user finished signing in; start a new login.';

export class LoginProgress {
  readonly #o: LoginBrokerOptions;
  readonly #watches: LoginWatches;

  constructor(options: LoginBrokerOptions, watches: LoginWatches) {
    this.#o = options;
    this.#watches = watches;
  }

  /**
   * The progress of a login: pending at once, browser-opened, heartbeats,
   * then exactly one terminal update. Ends when the signal aborts. Waiting
   * costs no timer, query or subscription of its own: the login's watch
   * (login-watches.ts) feeds every stream of the login.
   */
  async *awaitLogin(input: { loginId: string; verifier: string; signal: AbortSignal }): AsyncGenerator<LoginUpdate> {
    const { loginId, verifier, signal } = input;
    // Only what the stream needs from here on: the stored record (with its
    // link, sealed fields and more) is not kept alive as long as it waits.
    const first = progressFields(await findLogin(this.#o.store, loginId, verifier));
    const ref = first.ref;
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
    const leave = this.#watches.join(ref, first.expiresAt, (event) => {
      // A stream that cannot keep up needs one heartbeat, not a backlog of them.
      if (event.type === 'heartbeat' && queue.at(-1)?.type === 'heartbeat') queue[queue.length - 1] = event;
      else queue.push(event);
      notify();
    });
    signal.addEventListener('abort', notify);
    // The result being sent, whose sender waits to hear that it went out.
    let sending: (() => void) | undefined;
    try {
      const record = progressFields((await this.#o.store.byRef(ref)) ?? first);
      const traceParent = record.traceParent;
      yield { type: 'pending', expiresAt: new Date(record.expiresAt) };
      let browserSent = false;
      if (record.browserOpenedAt !== null) {
        browserSent = true;
        yield { type: 'browser-opened', openedAt: new Date(record.browserOpenedAt) };
      }
      if (record.result) {
        yield await this.#terminal(loginId, record.result, traceParent);
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
            sending = event.written;
            yield await this.#terminal(loginId, event.result, traceParent);
            // Resumed: the transport has sent the update.
            sending?.();
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
      // Results this stream will never send (or sent as it was cancelled): nobody should wait for them.
      sending?.();
      for (const event of queue) if (event.type === 'result') event.written?.();
      signal.removeEventListener('abort', notify);
    }
  }

  // The terminal event, as a span of the login's trace (begun by InitiateLogin).
  #terminal(loginId: string, result: StoredResult, traceParent: string | null): Promise<LoginUpdate> {
    return tracing.inSpan(`airlock.login.${result.type}`, traceParent, () => this.#open(loginId, result));
  }

  async #open(loginId: string, result: StoredResult): Promise<LoginUpdate> {
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
}
