// One gRPC channel per Airlock server, shared by the generated AuthService
// and ChannelsService clients, with promise wrappers for unary calls.
import {
  credentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { AuthServiceClient } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { ChannelsServiceClient } from '../../proto/gen/airlock/channels/v1/channels.ts';
import type { ServerAddress } from '../server-url.ts';
import { tlsCredentials, type TlsOptions } from './tls.ts';

// Parsing lives beside the core (the browser build parses URLs too); re-exported for existing imports.
export { parseServerUrl, type ServerAddress } from '../server-url.ts';

export interface ConnectionOptions extends TlsOptions {
  /** Extra grpc-js channel options; merged over the defaults below. */
  channelOptions?: Partial<ClientOptions>;
  /** Credentials to use for https servers, instead of those made from the TLS options (default: system roots). */
  tlsCredentials?: ChannelCredentials;
}

// Reconnect quickly after a restart: grpc-js' default backoff grows to two
// minutes, far longer than a login the user is waiting on.
const DEFAULT_CHANNEL_OPTIONS: Partial<ClientOptions> = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.max_receive_message_length': 1024 * 1024,
};

export class Connection {
  readonly address: ServerAddress;
  readonly auth: AuthServiceClient;
  readonly channels: ChannelsServiceClient;

  constructor(address: ServerAddress, options: ConnectionOptions = {}) {
    this.address = address;
    const creds = address.tls ? (options.tlsCredentials ?? tlsCredentials(options)) : credentials.createInsecure();
    const channelOptions = { ...DEFAULT_CHANNEL_OPTIONS, ...options.channelOptions };
    this.auth = new AuthServiceClient(address.target, creds, channelOptions);
    // Share the auth client's channel so both services use one connection.
    this.channels = new ChannelsServiceClient(address.target, creds, { ...channelOptions, channelOverride: this.auth.getChannel() });
  }

  close(): void {
    this.channels.close();
    this.auth.close();
  }
}

export interface CallSettings {
  deadlineMs: number;
  accessToken?: string;
  signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Calls a generated unary method with a deadline, an optional bearer and an optional AbortSignal. */
export function unaryCall<Req, Res>(client: object, method: UnaryMethod<Req, Res>, request: Req, settings: CallSettings): Promise<Res> {
  const metadata = new Metadata();
  if (settings.accessToken) metadata.set('authorization', `Bearer ${settings.accessToken}`);
  return new Promise<Res>((resolve, reject) => {
    if (settings.signal?.aborted) return reject(settings.signal.reason);
    const call = method.call(client, request, metadata, { deadline: Date.now() + settings.deadlineMs }, (error, response) => {
      settings.signal?.removeEventListener('abort', onAbort);
      if (settings.signal?.aborted) reject(settings.signal.reason);
      else if (error) reject(error);
      else resolve(response);
    });
    const onAbort = () => call.cancel();
    settings.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
