// Entry point of the browser build (npm run build:browser): the Airlock
// client for web pages and webviews (Tauri, an Electron renderer). The same
// core as the Node client (client-core.ts: login, refresh and storage
// semantics), over Connect or gRPC-Web, with the session in localStorage and
// a cross-tab lock from the Web Locks API. Nothing here may load node:* or
// @grpc/grpc-js (a test checks the bundle's inputs).
import { AirlockClientCore, type AirlockClientCoreOptions } from './client-core.ts';
import { ConnectTransport, type ConnectTransportOptions } from './connect/connect-transport.ts';
import { BrowserStore, type BrowserStoreOptions } from './storage/browser-store.ts';
import type { SessionStore } from './storage/session-store.ts';

export interface BrowserClientOptions extends Omit<AirlockClientCoreOptions, 'store' | 'transport'> {
  /** The server's HTTP listener (its public URL), e.g. https://airlock.example.com. */
  serverUrl: string;
  /** 'connect' (default) or 'grpc-web'. */
  protocol?: ConnectTransportOptions['protocol'];
  fetch?: ConnectTransportOptions['fetch'];
  /** Default: a BrowserStore (localStorage) with these options. */
  store?: SessionStore;
  storeOptions?: BrowserStoreOptions;
}

export function createBrowserClient(options: BrowserClientOptions): AirlockClientCore {
  const { protocol, fetch, store, storeOptions, ...core } = options;
  return new AirlockClientCore({
    ...core,
    store: store ?? new BrowserStore(storeOptions),
    transport: new ConnectTransport({ protocol, fetch }),
  });
}

export { AirlockClientCore as AirlockBrowserClient } from './client-core.ts';
export type {
  AwaitLoginOptions,
  ChannelToken,
  LoginOptions,
  LoginProgress,
  LogoutResult,
  SessionChange,
  SessionInfo,
  StartedLogin,
  WhoAmI,
} from './client-types.ts';
export * from './errors.ts';
export { TransportError } from './transport.ts';
export { ConnectTransport, type ConnectTransportOptions } from './connect/connect-transport.ts';
export { BrowserStore, type BrowserStoreOptions, type WebLocks, type WebStorage } from './storage/browser-store.ts';
export { MemoryStore } from './storage/memory-store.ts';
export type { SessionStore, StoredSession, StoredState } from './storage/session-store.ts';
