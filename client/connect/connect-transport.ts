// The client's transport for browsers and webviews (Tauri, an Electron
// renderer, a web page): Connect or gRPC-Web over fetch
// (@connectrpc/connect-web), to the HTTP listener of the server, which must
// list the page's origin in AIRLOCK_CORS_ORIGINS. Both protocols work over
// HTTP/1.1, AwaitLogin's server stream included.
import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import type { AwaitLoginRequest, AwaitLoginResponse } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { AuthService } from '../../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { ChannelsService } from '../../proto/gen-es/airlock/channels/v1/channels_pb.js';
import { ErrorInfoSchema } from '../../proto/gen-es/google/rpc/error_details_pb.js';
import { parseServerUrl } from '../server-url.ts';
import { TransportError, type AirlockTransport, type CallSettings, type ServerStreamCall, type UnaryMethods } from '../transport.ts';
import * as shapes from './message-shapes.ts';

export interface ConnectTransportOptions {
  /** 'connect' (the default; binary Connect protocol) or 'grpc-web'. */
  protocol?: 'connect' | 'grpc-web';
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
}

interface Clients {
  auth: Client<typeof AuthService>;
  channels: Client<typeof ChannelsService>;
}

export class ConnectTransport implements AirlockTransport {
  readonly #options: ConnectTransportOptions;
  readonly #clients = new Map<string, Clients>();
  readonly #streams = new Set<ServerStreamCall<unknown>>();

  constructor(options: ConnectTransportOptions = {}) {
    this.#options = options;
  }

  /** The HTTP listener's base URL, e.g. "https://airlock.example.com:443". */
  canonicalUrl(serverUrl: string): string {
    return parseServerUrl(serverUrl).url;
  }

  async unary<M extends keyof UnaryMethods>(
    serverUrl: string,
    method: M,
    request: UnaryMethods[M][0],
    settings: CallSettings,
  ): Promise<UnaryMethods[M][1]> {
    const { auth, channels } = this.#clientsFor(serverUrl);
    const options = {
      timeoutMs: settings.deadlineMs,
      signal: settings.signal,
      headers: settings.accessToken ? { authorization: `Bearer ${settings.accessToken}` } : undefined,
    };
    const input = request as never;
    try {
      switch (method) {
        case 'initiateLogin':
          return shapes.initiateLoginResponse(await auth.initiateLogin(input, options));
        case 'cancelLogin':
          return { cancelled: (await auth.cancelLogin(input, options)).cancelled };
        case 'refreshSession':
          return { session: shapes.session((await auth.refreshSession(input, options)).session) };
        case 'logout':
          await auth.logout(input, options);
          return {};
        case 'whoAmI':
          return shapes.whoAmIResponse(await auth.whoAmI(input, options));
        case 'listChannels':
          return shapes.listChannelsResponse(await channels.listChannels(input, options));
        case 'getChannelToken':
          return shapes.getChannelTokenResponse(await channels.getChannelToken(input, options));
      }
      throw new TransportError(Code.Unimplemented, `the client has no method ${String(method)}`);
    } catch (error) {
      throw toTransportError(error);
    }
  }

  awaitLogin(serverUrl: string, request: AwaitLoginRequest, options: { deadline: number }): ServerStreamCall<AwaitLoginResponse> {
    const { auth } = this.#clientsFor(serverUrl);
    const stream = new FetchedStream<AwaitLoginResponse>(
      async function* (signal) {
        const timeoutMs = Math.max(1, options.deadline - Date.now());
        for await (const message of auth.awaitLogin(request, { signal, timeoutMs })) yield shapes.awaitLoginResponse(message);
      },
      () => this.#streams.delete(stream),
    );
    this.#streams.add(stream);
    return stream;
  }

  close(): void {
    for (const stream of this.#streams) stream.cancel();
    this.#streams.clear();
  }

  #clientsFor(serverUrl: string): Clients {
    const baseUrl = this.canonicalUrl(serverUrl);
    let clients = this.#clients.get(baseUrl);
    if (!clients) {
      const transport: Transport =
        this.#options.protocol === 'grpc-web'
          ? createGrpcWebTransport({ baseUrl, fetch: this.#options.fetch })
          : createConnectTransport({ baseUrl, fetch: this.#options.fetch, useBinaryFormat: true });
      clients = { auth: createClient(AuthService, transport), channels: createClient(ChannelsService, transport) };
      this.#clients.set(baseUrl, clients);
    }
    return clients;
  }
}

/** A server stream read with for-await, handed out with grpc-js' event shape (data, error, end; cancel). */
class FetchedStream<T> implements ServerStreamCall<T> {
  readonly #controller = new AbortController();
  readonly #listeners: { data: Array<(message: T) => void>; error: Array<(error: Error) => void>; end: Array<() => void> } = {
    data: [],
    error: [],
    end: [],
  };

  constructor(read: (signal: AbortSignal) => AsyncIterable<T>, onDone: () => void) {
    // Started after the caller has attached its listeners (the same tick).
    queueMicrotask(async () => {
      try {
        for await (const message of read(this.#controller.signal)) {
          if (this.#controller.signal.aborted) return;
          for (const listener of this.#listeners.data) listener(message);
        }
        if (!this.#controller.signal.aborted) for (const listener of this.#listeners.end) listener();
      } catch (error) {
        if (!this.#controller.signal.aborted) for (const listener of this.#listeners.error) listener(toTransportError(error));
      } finally {
        onDone();
      }
    });
  }

  on(event: 'data', listener: (message: T) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'data' | 'error' | 'end', listener: never): this {
    this.#listeners[event].push(listener);
    return this;
  }

  cancel(): void {
    this.#controller.abort();
  }
}

/** A ConnectError in the core's terms; a fetch that never reached the server is UNAVAILABLE, as on gRPC. */
function toTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const connectError = ConnectError.from(error);
  const info = connectError.findDetails(ErrorInfoSchema)[0];
  const unreachable = connectError.code === Code.Unknown && connectError.cause instanceof TypeError;
  return new TransportError(
    unreachable ? Code.Unavailable : connectError.code,
    connectError.rawMessage,
    info && { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } },
  );
}
