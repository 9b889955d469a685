// The OS keychain (the Secret Service on Linux, Keychain on macOS, Credential
// Manager on Windows) through @napi-rs/keyring: prebuilt N-API binaries from
// npm, no install script. It is the secure half of a LayeredStore, never a
// store of its own: the durable file is written first and decides, and every
// failure or empty answer here is a miss (the lesson of a keychain bridge
// that silently did nothing). The native module is loaded on first use, so a
// platform without a prebuilt binary gets misses, not a client that fails to load.
import type { AsyncEntry } from '@napi-rs/keyring';
import { defaultSessionFile, FileStore } from './file-store.ts';
import { LayeredStore, type LayeredStoreEvents, type SecureStore } from './layered-store.ts';
import type { StoredState } from './session-store.ts';

export interface KeychainStoreOptions {
  /** The keychain entry's service. Default 'airlock' (the Rust client's too). */
  service?: string;
  /** The entry's account. Default 'session', or `apps/<appId>` for keychainLayeredStore({ appId }). */
  account?: string;
  /**
   * Linux: which store the entry lives in. Default 'secret-service' (GNOME
   * Keyring, KWallet): required, so a machine without one gets misses rather
   * than a silent fallback to the kernel keyring, which forgets at reboot.
   */
  linuxStore?: 'secret-service' | 'keyutils';
}

export class KeychainStore implements SecureStore {
  readonly service: string;
  readonly account: string;
  readonly #linuxStore: 'secret-service' | 'keyutils';
  #entry: Promise<AsyncEntry> | undefined;

  constructor(options: KeychainStoreOptions = {}) {
    this.service = options.service ?? 'airlock';
    this.account = options.account ?? 'session';
    this.#linuxStore = options.linuxStore ?? 'secret-service';
  }

  /** The stored JSON text, or undefined when the keychain has no entry. */
  async get(): Promise<string | undefined> {
    return (await (await this.#open()).getPassword()) ?? undefined;
  }

  async set(value: StoredState): Promise<void> {
    await (await this.#open()).setPassword(JSON.stringify(value));
  }

  async delete(): Promise<void> {
    await (await this.#open()).deleteCredential();
  }

  #open(): Promise<AsyncEntry> {
    this.#entry ??= import('@napi-rs/keyring').then(
      ({ AsyncEntry }) => new AsyncEntry(this.service, this.account, { linux: { store: this.#linuxStore } }),
    );
    return this.#entry;
  }
}

/**
 * The session file (the durable, authoritative copy) with a copy in the OS
 * keychain: `new AirlockClient({ store: keychainLayeredStore({ appId }) })`.
 */
export function keychainLayeredStore(
  options: { appId?: string; file?: string; keychain?: KeychainStoreOptions; events?: LayeredStoreEvents } = {},
): LayeredStore {
  const account = options.appId === undefined ? 'session' : `apps/${options.appId}`;
  return new LayeredStore(
    new FileStore(options.file ?? defaultSessionFile(options.appId)),
    new KeychainStore({ account, ...options.keychain }),
    options.events,
  );
}
