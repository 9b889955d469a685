// The login event fan-out for a single process: listeners keyed by login
// ref. The PostgreSQL implementation (LISTEN/NOTIFY) serves several replicas.
import type { LoginEvent, LoginEventBus } from './login-events.ts';

export class InProcessLoginEventBus implements LoginEventBus {
  readonly #listeners = new Map<string, Set<(event: LoginEvent) => void>>();
  #count = 0;

  async publish(loginRef: string, event: LoginEvent): Promise<void> {
    // A copy: a listener may unsubscribe while being called.
    for (const listener of [...(this.#listeners.get(loginRef) ?? [])]) {
      try {
        listener(event);
      } catch {
        // One broken listener must not keep the event from the others.
      }
    }
  }

  subscribe(loginRef: string, listener: (event: LoginEvent) => void): () => void {
    let set = this.#listeners.get(loginRef);
    if (!set) {
      set = new Set();
      this.#listeners.set(loginRef, set);
    }
    // Wrapped so the same function can subscribe twice and unsubscribe once each.
    const entry = (event: LoginEvent) => listener(event);
    set.add(entry);
    this.#count += 1;
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#count -= 1;
      set.delete(entry);
      if (set.size === 0 && this.#listeners.get(loginRef) === set) this.#listeners.delete(loginRef);
    };
  }

  get listenerCount(): number {
    return this.#count;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#count = 0;
  }
}
