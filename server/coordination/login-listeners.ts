// The listeners of one process, by login ref: what both event buses keep,
// whether events arrive from this process or over LISTEN/NOTIFY.
import type { LoginEvent } from './login-events.ts';

type Listener = (event: LoginEvent) => void;

export class LoginListeners {
  readonly #byRef = new Map<string, Set<Listener>>();
  #count = 0;

  /** Returns the unsubscribe function; calling it twice is harmless. */
  subscribe(loginRef: string, listener: Listener): () => void {
    let set = this.#byRef.get(loginRef);
    if (!set) {
      set = new Set();
      this.#byRef.set(loginRef, set);
    }
    // Wrapped so the same function can subscribe twice and unsubscribe once each.
    const entry: Listener = (event) => listener(event);
    set.add(entry);
    this.#count += 1;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#count -= 1;
      set.delete(entry);
      if (set.size === 0 && this.#byRef.get(loginRef) === set) this.#byRef.delete(loginRef);
    };
  }

  /** Calls every listener of the ref; one that throws is reported and keeps the event from no other. */
  deliver(loginRef: string, event: LoginEvent, onError: (error: unknown) => void): void {
    const set = this.#byRef.get(loginRef);
    if (!set) return;
    // A copy: a listener may unsubscribe while being called.
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error) {
        onError(error);
      }
    }
  }

  /** The same event to every login this process watches. */
  deliverToAll(event: LoginEvent, onError: (error: unknown) => void): void {
    for (const ref of [...this.#byRef.keys()]) this.deliver(ref, event, onError);
  }

  get count(): number {
    return this.#count;
  }

  clear(): void {
    this.#byRef.clear();
    this.#count = 0;
  }
}
