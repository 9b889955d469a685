// The Airlock client a native app embeds in Node or Electron's main process:
// the core (client-core.ts: login, refresh and storage semantics, and the
// concurrency rules documented there) over gRPC, with the session in a file
// by default.
import { AirlockClientCore, type AirlockClientCoreOptions } from './client-core.ts';
import { GrpcTransport } from './grpc/grpc-transport.ts';
import type { ConnectionOptions } from './grpc/connection.ts';
import { defaultSessionFile, FileStore } from './storage/file-store.ts';
import type { SessionStore } from './storage/session-store.ts';

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

export interface AirlockClientOptions extends Omit<AirlockClientCoreOptions, 'store' | 'transport'> {
  /** Where the session is kept. Default: FileStore at defaultSessionFile(appId). */
  store?: SessionStore;
  /**
   * Your app's id (e.g. com.example.chat): the default store is then
   * ~/.config/airlock/apps/<appId>/session.json, not the CLI's file.
   */
  appId?: string;
  connection?: ConnectionOptions;
}

export class AirlockClient extends AirlockClientCore {
  constructor(options: AirlockClientOptions = {}) {
    const { store, appId, connection, ...core } = options;
    super({ ...core, store: store ?? new FileStore(defaultSessionFile(appId)), transport: new GrpcTransport(connection) });
  }
}
