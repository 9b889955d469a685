// Connect and gRPC-Web on the HTTP listener (HTTP/1.1 is enough for both:
// unary and server streaming), for browsers and webviews that cannot speak
// HTTP/2 gRPC. The same procedures as the gRPC server (rpc/), the same
// method-policy table and bearer check, the same codes and ErrorInfo
// reasons, the same message-size limit; the client address for rate limits
// is the socket's peer, or behind a trusted proxy the address its
// x-forwarded-for header names (network/client-address.ts), as on gRPC.
import type http from 'node:http';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { AuthServiceService } from '../../../proto/gen/airlock/auth/v1/auth.ts';
import { ChannelsServiceService } from '../../../proto/gen/airlock/channels/v1/channels.ts';
import { AuthService } from '../../../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { ChannelsService } from '../../../proto/gen-es/airlock/channels/v1/channels_pb.js';
import { UnauthenticatedError } from '../../errors.ts';
import { ClientAddressResolver } from '../../network/client-address.ts';
import type { Logger } from '../../observability/logger.ts';
import { authenticateBearer, checkMetadataSize, type BearerCheckOptions } from '../rpc/bearer.ts';
import type { CallContext, Identity, StreamProcedure, UnaryProcedure } from '../rpc/call-context.ts';
import type { ChannelProcedures } from '../rpc/channel-procedures.ts';
import type { LoginProcedures } from '../rpc/login-procedures.ts';
import { accessOf, type MethodAccess } from '../rpc/method-policy.ts';
import type { SessionProcedures } from '../rpc/session-procedures.ts';
import { startCallMetrics } from './call-metrics.ts';
import { shuttingDown, toConnectError } from './connect-errors.ts';
import { CorsPolicy } from './cors.ts';
import { toConnectResponse, toProcedureRequest, type TsProtoMethod } from './message-bridge.ts';

/** The gRPC server's call tracker, as far as this handler needs it (draining, open streams). */
export interface StreamTracker {
  readonly draining: boolean;
  trackStream(controller: AbortController): () => void;
}

export interface ConnectHandlerOptions {
  logger: Logger;
  tracker: StreamTracker;
  bearer: BearerCheckOptions;
  /** Largest request headers accepted, all keys and values, in bytes (settings.maxMetadataBytes, as on gRPC). */
  maxMetadataBytes: number;
  /** Largest request message accepted, in bytes (settings.maxMessageBytes, as on gRPC). */
  maxMessageBytes: number;
  /** Origins allowed to call from a browser (settings.corsOrigins). */
  corsOrigins: readonly string[];
  auth: LoginProcedures & SessionProcedures;
  channels: ChannelProcedures;
  /** Resolves the client address behind trusted proxies (settings.trustedProxies); without it, the peer is the client. */
  addresses?: ClientAddressResolver;
}

/** A handler the HTTP listener mounts for the paths it claims. */
export interface MountedHandler {
  matches(pathname: string): boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

const PEER_ADDRESS = createContextKey<string>('', { description: 'peer address' });
const CLIENT_ADDRESS = createContextKey<string>('', { description: 'client address' });

type Procedure = UnaryProcedure<never, unknown> | StreamProcedure<never, unknown>;

export function connectHandler(options: ConnectHandlerOptions): MountedHandler {
  const services: Array<[DescService, Record<string, TsProtoMethod>, Record<string, Procedure>]> = [
    [AuthService, AuthServiceService as unknown as Record<string, TsProtoMethod>, { ...options.auth } as Record<string, Procedure>],
    [
      ChannelsService,
      ChannelsServiceService as unknown as Record<string, TsProtoMethod>,
      { ...options.channels } as Record<string, Procedure>,
    ],
  ];
  const prefixes = services.map(([service]) => `/${service.typeName}/`);
  // x-forwarded-for is believed only from a trusted proxy (the socket's peer), as on gRPC and the other HTTP routes.
  const addresses = options.addresses ?? new ClientAddressResolver([]);
  const adapter = connectNodeAdapter({
    routes: (router) => {
      for (const [service, codecs, procedures] of services) bindService(router, service, codecs, procedures, options);
    },
    // HTTP/1.1 carries Connect and gRPC-Web; plain gRPC stays on the gRPC listener.
    grpc: false,
    readMaxBytes: options.maxMessageBytes,
    contextValues: (req) => {
      const peer = req.socket.remoteAddress ?? '';
      return createContextValues().set(PEER_ADDRESS, peer).set(CLIENT_ADDRESS, addresses.resolve(peer, req.headers['x-forwarded-for']));
    },
  });
  const cors = new CorsPolicy(options.corsOrigins);
  return {
    matches: (pathname) => prefixes.some((prefix) => pathname.startsWith(prefix)),
    handle(req, res) {
      if (cors.apply(req, res)) return;
      adapter(req, res);
    },
  };
}

function bindService(
  router: ConnectRouter,
  service: DescService,
  codecs: Record<string, TsProtoMethod>,
  procedures: Record<string, Procedure>,
  options: ConnectHandlerOptions,
): void {
  for (const method of service.methods) {
    const procedure = procedures[method.localName];
    const codec = codecs[method.localName];
    if (!procedure || !codec) continue;
    const path = `/${service.typeName}/${method.name}`;
    const call = new BoundCall(service.typeName, method, codec, accessOf(path), options);
    if (method.methodKind === 'unary') router.rpc(method, call.unary(procedure as UnaryProcedure<never, unknown>) as never);
    else if (method.methodKind === 'server_streaming')
      router.rpc(method, call.serverStream(procedure as StreamProcedure<never, unknown>) as never);
  }
}

class BoundCall {
  readonly #service: string;
  readonly #path: string;
  readonly #method: DescMethod;
  readonly #codec: TsProtoMethod;
  readonly #access: MethodAccess;
  readonly #options: ConnectHandlerOptions;

  constructor(service: string, method: DescMethod, codec: TsProtoMethod, access: MethodAccess, options: ConnectHandlerOptions) {
    this.#service = service;
    this.#path = `/${service}/${method.name}`;
    this.#method = method;
    this.#codec = codec;
    this.#access = access;
    this.#options = options;
  }

  unary(procedure: UnaryProcedure<never, unknown>) {
    return async (request: never, ctx: HandlerContext) => {
      const started = process.hrtime.bigint();
      const metrics = startCallMetrics(this.#service, this.#method.name, false);
      let code = 0;
      try {
        if (this.#options.tracker.draining) throw shuttingDown();
        const callContext = await this.#contextOf(ctx, ctx.signal);
        const response = await procedure(toProcedureRequest(this.#method.input, this.#codec, request) as never, callContext);
        metrics.sent();
        return toConnectResponse(this.#method.output, this.#codec, response);
      } catch (error) {
        const failure = this.#failure(error);
        code = failure.error.code;
        throw failure.error;
      } finally {
        metrics.end(code);
        this.#log(ctx, code, started);
      }
    };
  }

  serverStream(procedure: StreamProcedure<never, unknown>) {
    const self = this;
    return async function* (request: never, ctx: HandlerContext) {
      const started = process.hrtime.bigint();
      const metrics = startCallMetrics(self.#service, self.#method.name, true);
      let code = 0;
      if (self.#options.tracker.draining) {
        metrics.end(Code.Unavailable);
        self.#log(ctx, Code.Unavailable, started);
        throw shuttingDown();
      }
      // The tracker aborts this with 'shutdown' when the server drains.
      const controller = new AbortController();
      const onCancel = () => controller.abort('cancelled');
      ctx.signal.addEventListener('abort', onCancel, { once: true });
      const untrack = self.#options.tracker.trackStream(controller);
      try {
        const callContext = await self.#contextOf(ctx, controller.signal);
        for await (const message of procedure(toProcedureRequest(self.#method.input, self.#codec, request) as never, callContext)) {
          if (controller.signal.aborted) break;
          metrics.sent();
          yield toConnectResponse(self.#method.output, self.#codec, message);
        }
        if (controller.signal.reason === 'shutdown') throw shuttingDown();
      } catch (error) {
        const failure = self.#failure(controller.signal.reason === 'shutdown' ? shuttingDown() : error);
        code = failure.error.code;
        throw failure.error;
      } finally {
        untrack();
        ctx.signal.removeEventListener('abort', onCancel);
        if (controller.signal.reason === 'cancelled') code = Code.Canceled;
        metrics.end(code);
        self.#log(ctx, code, started);
      }
    };
  }

  async #contextOf(ctx: HandlerContext, signal: AbortSignal): Promise<CallContext> {
    // Before authentication, as on gRPC: an oversized call costs no token check.
    checkMetadataSize(ctx.requestHeader, this.#options.maxMetadataBytes);
    const timeoutMs = ctx.timeoutMs();
    return {
      signal,
      peerAddress: ctx.values.get(PEER_ADDRESS),
      clientAddress: ctx.values.get(CLIENT_ADDRESS),
      identity: await this.#authenticate(ctx),
      userAgent: ctx.requestHeader.get('user-agent') ?? undefined,
      deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
    };
  }

  // The gRPC bearer interceptor's rule: any failure but a reasoned one is TOKEN_INVALID (and logged).
  async #authenticate(ctx: HandlerContext): Promise<Identity | undefined> {
    if (this.#access === 'public') return undefined;
    const header = ctx.requestHeader.get('authorization');
    try {
      return await authenticateBearer(header === null ? [] : [header], this.#access, this.#options.bearer);
    } catch (error) {
      if (error instanceof UnauthenticatedError) throw error;
      this.#options.logger.error({ err: error, method: this.#path }, 'unexpected error while authenticating');
      throw new UnauthenticatedError('TOKEN_INVALID', 'the access token could not be verified');
    }
  }

  #failure(error: unknown): { error: ConnectError } {
    if (error instanceof ConnectError) return { error };
    const mapped = toConnectError(error);
    if (!mapped.expected) this.#options.logger.error({ err: error, method: this.#path }, 'unexpected error in handler');
    return { error: mapped.error };
  }

  // One log line per call, as on gRPC: method, code, duration, peer; never headers or messages.
  #log(ctx: HandlerContext, code: number, started: bigint): void {
    const durationMs = Math.round((Number(process.hrtime.bigint() - started) / 1e6) * 100) / 100;
    const level = code === Code.Internal || code === Code.Unknown ? 'error' : 'info';
    this.#options.logger[level](
      {
        method: this.#path,
        status: CODE_NAMES[code] ?? String(code),
        durationMs,
        peer: ctx.values.get(PEER_ADDRESS),
        protocol: ctx.protocolName,
      },
      'rpc',
    );
  }
}

// Connect's names of the codes, as its protocol writes them (index = code).
const CODE_NAMES = [
  'ok',
  'canceled',
  'unknown',
  'invalid_argument',
  'deadline_exceeded',
  'not_found',
  'already_exists',
  'permission_denied',
  'resource_exhausted',
  'failed_precondition',
  'aborted',
  'out_of_range',
  'unimplemented',
  'internal',
  'unavailable',
  'data_loss',
  'unauthenticated',
];
