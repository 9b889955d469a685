// A durable store (the file) plus a secure store (an OS keychain, say).
// The lesson of a client whose keychain bridge silently did nothing: the
// durable copy is written FIRST and is authoritative; the secure copy is
// only ever used when it provably equals the durable one. A secure store
// that throws, returns nothing, returns garbage or returns an older copy is
// a miss, never a success.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { parseStoredState, type SessionStore, type StoredState } from './session-store.ts';

/** What an OS keychain bridge looks like: any of these may throw or resolve to nothing. */
export interface SecureStore {
  get(): Promise<unknown>;
  set(value: StoredState): Promise<unknown>;
  delete(): Promise<unknown>;
}

export interface LayeredStoreEvents {
  /** Called when the secure store failed or missed; for diagnostics, never contains the state. */
  onSecureStoreMiss?(operation: 'get' | 'set' | 'delete', why: 'threw' | 'empty' | 'invalid' | 'stale', error?: unknown): void;
}

export class LayeredStore implements SessionStore {
  readonly durable: SessionStore;
  readonly secure: SecureStore;
  readonly #events: LayeredStoreEvents;

  constructor(durable: SessionStore, secure: SecureStore, events: LayeredStoreEvents = {}) {
    this.durable = durable;
    this.secure = secure;
    this.#events = events;
  }

  lock(): Promise<() => Promise<void>> {
    return this.durable.lock ? this.durable.lock() : Promise.resolve(async () => {});
  }

  async load(): Promise<StoredState | undefined> {
    // The durable copy decides whether there is a state at all, so a secure
    // copy that outlived a logout (its delete failed) cannot resurrect a session.
    const durable = await this.durable.load();
    if (!durable) {
      await this.#bestEffort('delete', () => this.secure.delete());
      return undefined;
    }
    const secure = await this.#readSecure();
    // Same generation is not enough when the file is shared (a writer that
    // spreads the loaded state keeps it): the copy must equal the file.
    if (secure && durable.generation !== undefined && isDeepStrictEqual(secure, durable)) return secure;
    if (secure) this.#events.onSecureStoreMiss?.('get', 'stale');
    // Repair the secure copy for next time; failure changes nothing.
    await this.#bestEffort('set', () => this.secure.set(durable));
    return durable;
  }

  async save(state: StoredState): Promise<void> {
    const stamped: StoredState = { ...state, generation: randomUUID() };
    await this.durable.save(stamped); // must succeed: it is the copy we trust
    await this.#bestEffort('set', () => this.secure.set(stamped));
  }

  async clear(): Promise<void> {
    await this.durable.clear();
    await this.#bestEffort('delete', () => this.secure.delete());
  }

  async #readSecure(): Promise<StoredState | undefined> {
    let raw: unknown;
    try {
      raw = await this.secure.get();
    } catch (error) {
      this.#events.onSecureStoreMiss?.('get', 'threw', error);
      return undefined;
    }
    if (raw === undefined || raw === null || raw === '') {
      this.#events.onSecureStoreMiss?.('get', 'empty');
      return undefined;
    }
    let value: unknown = raw;
    if (typeof raw === 'string') {
      try {
        value = JSON.parse(raw);
      } catch {
        value = undefined;
      }
    }
    const state = parseStoredState(value);
    if (!state) this.#events.onSecureStoreMiss?.('get', 'invalid');
    return state;
  }

  async #bestEffort(operation: 'set' | 'delete', run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.#events.onSecureStoreMiss?.(operation, 'threw', error);
    }
  }
}
