// The session store of a browser or webview: one record in localStorage, and
// a cross-tab lock through the Web Locks API (navigator.locks), as the Node
// FileStore has a lock file. Durable first (seed 000): save() succeeds only
// once the record reads back as written, and a storage that is missing or
// refuses (disabled, private mode, quota) is a SessionStorageError, never
// "signed out".
import { SessionStorageError } from '../errors.ts';
import { parseStoredState, type SessionStore, type StoredState } from './session-store.ts';

/** The part of the Web Storage API the store uses (window.localStorage has it). */
export interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of the Web Locks API the store uses (navigator.locks has it). */
export interface WebLocks {
  request<T>(name: string, options: { mode: 'exclusive' }, callback: () => Promise<T>): Promise<T>;
}

export interface BrowserStoreOptions {
  /** The localStorage key (and lock name). Default "airlock.session"; give each app on one origin its own. */
  key?: string;
  /** Default: globalThis.localStorage. */
  storage?: WebStorage;
  /** Default: globalThis.navigator.locks; without it the store takes no cross-tab lock. */
  locks?: WebLocks;
}

export class BrowserStore implements SessionStore {
  readonly #key: string;
  readonly #storage: WebStorage | undefined;
  readonly #locks: WebLocks | undefined;

  constructor(options: BrowserStoreOptions = {}) {
    const global = globalThis as { localStorage?: WebStorage; navigator?: { locks?: WebLocks } };
    this.#key = options.key ?? 'airlock.session';
    this.#storage = options.storage ?? global.localStorage;
    this.#locks = options.locks ?? global.navigator?.locks;
    if (this.#locks) this.lock = () => this.#takeLock(this.#locks!);
  }

  lock?: () => Promise<() => Promise<void>>;

  async load(): Promise<StoredState | undefined> {
    const raw = this.#read();
    if (raw === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new SessionStorageError('the stored session is not valid JSON');
    }
    const state = parseStoredState(parsed);
    if (!state) throw new SessionStorageError('the stored session has an unknown shape');
    return state;
  }

  async save(state: StoredState): Promise<void> {
    const text = JSON.stringify(state);
    try {
      this.#require().setItem(this.#key, text);
    } catch (error) {
      if (error instanceof SessionStorageError) throw error;
      throw new SessionStorageError(`the session could not be written to localStorage (${errorName(error)})`);
    }
    // Success means the durable copy is there: read it back.
    if (this.#read() !== text) throw new SessionStorageError('localStorage did not keep the session that was written');
  }

  async clear(): Promise<void> {
    try {
      this.#require().removeItem(this.#key);
    } catch (error) {
      if (error instanceof SessionStorageError) throw error;
      throw new SessionStorageError(`the session could not be removed from localStorage (${errorName(error)})`);
    }
    if (this.#read() !== null) throw new SessionStorageError('localStorage still holds the session that was removed');
  }

  #require(): WebStorage {
    if (!this.#storage) throw new SessionStorageError('this environment has no localStorage');
    return this.#storage;
  }

  #read(): string | null {
    try {
      return this.#require().getItem(this.#key);
    } catch (error) {
      if (error instanceof SessionStorageError) throw error;
      throw new SessionStorageError(`the session could not be read from localStorage (${errorName(error)})`);
    }
  }

  /** Holds the named exclusive lock until the returned function is called. */
  #takeLock(locks: WebLocks): Promise<() => Promise<void>> {
    return new Promise((granted, refused) => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      locks
        .request(`${this.#key}.lock`, { mode: 'exclusive' }, async () => {
          granted(async () => release());
          await held;
        })
        .catch((error: unknown) => refused(new SessionStorageError(`the cross-tab lock could not be taken (${errorName(error)})`)));
    });
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown error';
}
