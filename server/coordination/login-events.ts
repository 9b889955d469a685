// Fan-out of login progress between whoever completes a login (the OAuth
// callback, the sweeper) and the AwaitLogin streams waiting on it, possibly
// on other replicas. Events only say that something changed: the terminal
// result is always stored first and read back from the store, so a
// completion can never be lost between replicas.

export type LoginEvent =
  | { type: 'browser-opened'; at: Date }
  /** The login reached a terminal state (completed or failed); read it from the store. */
  | { type: 'finished' };

export interface LoginEventBus {
  publish(loginRef: string, event: LoginEvent): Promise<void>;
  /** Returns the unsubscribe function; listeners must be released on stream end. */
  subscribe(loginRef: string, listener: (event: LoginEvent) => void): () => void;
  /** Subscriptions currently held (for leak tests and metrics). */
  readonly listenerCount: number;
  close(): Promise<void>;
}
