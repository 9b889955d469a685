// The login event fan-out for a single process: listeners keyed by login
// ref. The PostgreSQL implementation (LISTEN/NOTIFY) serves several replicas.
import type { LoginEvent, LoginEventBus } from './login-events.ts';
import { LoginListeners } from './login-listeners.ts';

export class InProcessLoginEventBus implements LoginEventBus {
  readonly #listeners = new LoginListeners();

  async publish(loginRef: string, event: LoginEvent): Promise<void> {
    // One broken listener must not keep the event from the others.
    this.#listeners.deliver(loginRef, event, () => {});
  }

  subscribe(loginRef: string, listener: (event: LoginEvent) => void): () => void {
    return this.#listeners.subscribe(loginRef, listener);
  }

  get listenerCount(): number {
    return this.#listeners.count;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
