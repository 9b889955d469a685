// The client's transport for Node and Electron's main process: HTTP/2 gRPC
// through grpc-js, one channel per server (ConnectionPool).
import { Metadata } from '@grpc/grpc-js';
import type { AwaitLoginRequest } from '../../proto/gen/airlock/auth/v1/auth.ts';
import type { AirlockTransport, CallSettings, UnaryMethods } from '../transport.ts';
import { parseServerUrl } from '../server-url.ts';
import { ConnectionPool } from './connection-pool.ts';
import { unaryCall, type Connection, type ConnectionOptions } from './connection.ts';

export class GrpcTransport implements AirlockTransport {
  readonly #connections: ConnectionPool;

  constructor(options: ConnectionOptions = {}) {
    this.#connections = new ConnectionPool(options);
  }

  canonicalUrl(serverUrl: string): string {
    return parseServerUrl(serverUrl).url;
  }

  unary<M extends keyof UnaryMethods>(serverUrl: string, method: M, request: UnaryMethods[M][0], settings: CallSettings) {
    const connection = this.#connections.get(serverUrl);
    const client = SERVICE_OF[method] === 'auth' ? connection.auth : connection.channels;
    // The generated client's method of that name (initiateLogin, getChannelToken, ...).
    const generated = (client as unknown as Record<string, never>)[method]!;
    return unaryCall(client, generated, request, settings) as Promise<UnaryMethods[M][1]>;
  }

  awaitLogin(serverUrl: string, request: AwaitLoginRequest, options: { deadline: number }) {
    return this.#connections.get(serverUrl).auth.awaitLogin(request, new Metadata(), { deadline: options.deadline });
  }

  close(): void {
    this.#connections.closeAll();
  }
}

const SERVICE_OF: Record<keyof UnaryMethods, keyof Pick<Connection, 'auth' | 'channels'>> = {
  initiateLogin: 'auth',
  cancelLogin: 'auth',
  refreshSession: 'auth',
  logout: 'auth',
  whoAmI: 'auth',
  listChannels: 'channels',
  getChannelToken: 'channels',
};
