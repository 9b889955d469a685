// A store that forgets everything when the process exits: tests, and apps
// that keep the session elsewhere.
import type { SessionStore, StoredState } from './session-store.ts';

export class MemoryStore implements SessionStore {
  #state: StoredState | undefined;

  constructor(initial?: StoredState) {
    this.#state = initial && structuredClone(initial);
  }

  async load(): Promise<StoredState | undefined> {
    return this.#state && structuredClone(this.#state);
  }

  async save(state: StoredState): Promise<void> {
    this.#state = structuredClone(state);
  }

  async clear(): Promise<void> {
    this.#state = undefined;
  }
}
