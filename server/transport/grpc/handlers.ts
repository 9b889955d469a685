// Binds transport-neutral procedures (rpc/) to grpc-js callbacks, in the
// manner of nice-grpc: a procedure returns its response or yields its
// stream events, observes ctx.signal, and throws domain errors.
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { ClientAddressResolver } from '../../network/client-address.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CallContext } from '../rpc/call-context.ts';
import { identityOf } from './call-context.ts';
import type { CallTracker } from './call-tracker.ts';
import { toGrpcStatus } from './status.ts';

export type { CallContext } from '../rpc/call-context.ts';

export interface HandlerDeps {
  logger: Logger;
  tracker: CallTracker;
  /** Resolves the client address behind trusted proxies; without it, the peer is the client. */
  addresses?: ClientAddressResolver;
}

const NO_TRUSTED_PROXIES = new ClientAddressResolver([]);

const SHUTTING_DOWN = { code: status.UNAVAILABLE, details: 'server is shutting down; retry on another connection' };

export function peerAddressOf(peer: string): string {
  // "ipv4:127.0.0.1:1234", "ipv6:[::1]:1234" or "127.0.0.1:1234"
  const withoutScheme = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]/.exec(withoutScheme);
  if (bracketed) return bracketed[1]!;
  const lastColon = withoutScheme.lastIndexOf(':');
  return lastColon > 0 ? withoutScheme.slice(0, lastColon) : withoutScheme;
}

/**
 * A call's context, computed as it is read: most guarded calls never look at
 * the client address or user agent, and a unary call that never reads its
 * signal needs no AbortController or 'cancelled' listener.
 */
class GrpcCallContext implements CallContext {
  readonly #call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;
  readonly #addresses: ClientAddressResolver;
  #signal: AbortSignal | undefined;
  #peerAddress: string | undefined;
  #clientAddress: string | undefined;
  #userAgent: { value: string | undefined } | undefined;
  #deadline: { value: number | undefined } | undefined;
  readonly identity: CallContext['identity'];

  constructor(
    call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
    addresses: ClientAddressResolver | undefined,
    signal?: AbortSignal,
  ) {
    this.#call = call;
    this.#addresses = addresses ?? NO_TRUSTED_PROXIES;
    this.#signal = signal;
    this.identity = identityOf(call.metadata);
  }

  get signal(): AbortSignal {
    if (!this.#signal) {
      const controller = new AbortController();
      if (this.#call.cancelled) controller.abort('cancelled');
      else this.#call.once('cancelled', () => controller.abort('cancelled'));
      this.#signal = controller.signal;
    }
    return this.#signal;
  }

  get peerAddress(): string {
    this.#peerAddress ??= peerAddressOf(this.#call.getPeer());
    return this.#peerAddress;
  }

  get clientAddress(): string {
    if (this.#clientAddress === undefined) {
      const forwardedFor = this.#call.metadata.get('x-forwarded-for').filter((value): value is string => typeof value === 'string');
      this.#clientAddress = this.#addresses.resolve(this.peerAddress, forwardedFor);
    }
    return this.#clientAddress;
  }

  get userAgent(): string | undefined {
    this.#userAgent ??= { value: this.#call.metadata.get('user-agent').find((value): value is string => typeof value === 'string') };
    return this.#userAgent.value;
  }

  get deadline(): number | undefined {
    if (!this.#deadline) {
      const deadline = this.#call.getDeadline();
      this.#deadline = { value: deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? deadline : undefined };
    }
    return this.#deadline.value;
  }
}

export function unary<Req, Res>(deps: HandlerDeps, handler: (request: Req, ctx: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    if (deps.tracker.draining) return callback(SHUTTING_DOWN);
    handler(call.request, new GrpcCallContext(call, deps.addresses)).then(
      (response) => callback(null, response),
      (error: unknown) => {
        const { status: grpcStatus, expected } = toGrpcStatus(error);
        if (!expected) deps.logger.error({ err: error, method: call.getPath() }, 'unexpected error in handler');
        callback(grpcStatus);
      },
    );
  };
}

export function serverStream<Req, Res>(
  deps: HandlerDeps,
  handler: (request: Req, ctx: CallContext) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    if (deps.tracker.draining) {
      endWith(call, SHUTTING_DOWN);
      return;
    }
    const controller = new AbortController();
    const untrack = deps.tracker.trackStream(controller);
    call.once('cancelled', () => controller.abort('cancelled'));
    // The message being written: the handler resumes once it is out (one in
    // flight per stream), so what it does next, e.g. letting the OAuth
    // callback answer, comes after. grpc-js calls back only for a message it
    // wrote; a call that closes, however it ends, aborts the signal instead.
    let writing: (() => void) | undefined;
    controller.signal.addEventListener('abort', () => writing?.(), { once: true });
    const write = (message: Res) =>
      new Promise<void>((resolve) => {
        writing = resolve;
        call.write(message, () => resolve());
      });
    void (async () => {
      try {
        for await (const message of handler(call.request, new GrpcCallContext(call, deps.addresses, controller.signal))) {
          if (controller.signal.aborted) break;
          await write(message);
          writing = undefined;
        }
        if (controller.signal.reason === 'shutdown') return endWith(call, SHUTTING_DOWN);
        if (!controller.signal.aborted) call.end();
      } catch (error) {
        if (controller.signal.reason === 'shutdown') return endWith(call, SHUTTING_DOWN);
        if (controller.signal.aborted) return;
        const { status: grpcStatus, expected } = toGrpcStatus(error);
        if (!expected) deps.logger.error({ err: error, method: call.getPath() }, 'unexpected error in stream handler');
        endWith(call, grpcStatus);
      } finally {
        untrack();
      }
    })();
  };
}

// grpc-js turns an 'error' event on a server stream into the call's status.
function endWith(call: ServerWritableStream<unknown, unknown>, grpcStatus: { code: status; details: string; metadata?: Metadata }): void {
  call.emit('error', Object.assign(new Error(grpcStatus.details), grpcStatus));
}
