// The seam between the client core (login, refresh, storage) and the wire.
// Node and Electron's main process use gRPC (grpc/grpc-transport.ts);
// browsers and webviews use Connect or gRPC-Web over fetch
// (connect/connect-transport.ts). Both speak the contract's messages in the
// ts-proto shapes of proto/gen (types only: nothing here loads a transport).
import type {
  AwaitLoginRequest,
  AwaitLoginResponse,
  CancelLoginRequest,
  CancelLoginResponse,
  InitiateLoginRequest,
  InitiateLoginResponse,
  LogoutRequest,
  LogoutResponse,
  RefreshSessionRequest,
  RefreshSessionResponse,
  WhoAmIRequest,
  WhoAmIResponse,
} from '../proto/gen/airlock/auth/v1/auth.ts';
import type {
  GetChannelTokenRequest,
  GetChannelTokenResponse,
  ListChannelsRequest,
  ListChannelsResponse,
} from '../proto/gen/airlock/channels/v1/channels.ts';
import type { ErrorInfo } from '../proto/gen/google/rpc/error_details.ts';

/** The unary RPCs the client makes: [request, response]. */
export interface UnaryMethods {
  initiateLogin: [InitiateLoginRequest, InitiateLoginResponse];
  cancelLogin: [CancelLoginRequest, CancelLoginResponse];
  refreshSession: [RefreshSessionRequest, RefreshSessionResponse];
  logout: [LogoutRequest, LogoutResponse];
  whoAmI: [WhoAmIRequest, WhoAmIResponse];
  listChannels: [ListChannelsRequest, ListChannelsResponse];
  getChannelToken: [GetChannelTokenRequest, GetChannelTokenResponse];
}

export interface CallSettings {
  deadlineMs: number;
  accessToken?: string;
  signal?: AbortSignal;
}

/** A server stream as the login code reads it (grpc-js' ClientReadableStream has this shape). */
export interface ServerStreamCall<T> {
  on(event: 'data', listener: (message: T) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  cancel(): void;
}

export interface AirlockTransport {
  /**
   * The canonical form of a server URL, stored with the session (throws
   * InvalidServerUrlError for what this transport cannot reach).
   */
  canonicalUrl(serverUrl: string): string;
  unary<M extends keyof UnaryMethods>(
    serverUrl: string,
    method: M,
    request: UnaryMethods[M][0],
    settings: CallSettings,
  ): Promise<UnaryMethods[M][1]>;
  /** Opens AwaitLogin; `deadline` is epoch ms. */
  awaitLogin(serverUrl: string, request: AwaitLoginRequest, options: { deadline: number }): ServerStreamCall<AwaitLoginResponse>;
  close(): void;
}

/**
 * A failed call from a transport that is not grpc-js, in the terms the core
 * reads: the status code (gRPC's numbering, which Connect shares), its
 * message, and the google.rpc.ErrorInfo the server attached.
 */
export class TransportError extends Error {
  readonly code: number;
  readonly details: string;
  readonly errorInfo: ErrorInfo | undefined;
  constructor(code: number, details: string, errorInfo?: ErrorInfo) {
    super(details);
    this.name = 'TransportError';
    this.code = code;
    this.details = details;
    this.errorInfo = errorInfo;
  }
}
