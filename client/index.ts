// Public entry point of the Airlock client library.
export {
  AirlockClient,
  type AirlockClientOptions,
  type AwaitLoginOptions,
  type ChannelToken,
  type LoginOptions,
  type LoginProgress,
  type LogoutResult,
  type SessionChange,
  type SessionInfo,
  type StartedLogin,
  type WhoAmI,
} from './airlock-client.ts';
export * from './errors.ts';
export type { ConnectionOptions } from './grpc/connection.ts';
export type { TlsOptions } from './grpc/tls.ts';
export { parseServerUrl, type ServerAddress } from './server-url.ts';
export { defaultSessionFile, FileStore } from './storage/file-store.ts';
export { KeychainStore, type KeychainStoreOptions, keychainLayeredStore } from './storage/keychain-store.ts';
export { LayeredStore, type LayeredStoreEvents, type SecureStore } from './storage/layered-store.ts';
export { MemoryStore } from './storage/memory-store.ts';
export type { SessionStore, StoredSession, StoredState } from './storage/session-store.ts';
export type { Channel } from '../proto/gen/airlock/channels/v1/channels.ts';
