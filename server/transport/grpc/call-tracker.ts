// Knows every call in flight so shutdown can refuse new ones, let unary calls
// finish and end open streams with UNAVAILABLE. Handler streams are aborted
// through their AbortSignal; streams of library services (health Watch,
// reflection) are ended by the interceptor. A call is forgotten when it ends,
// however it ends.
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';

const SHUTTING_DOWN = { code: status.UNAVAILABLE, details: 'server is shutting down; retry on another connection' };

export class CallTracker {
  #draining = false;
  readonly #handlerStreams = new Set<AbortController>();
  readonly #streamingCalls = new Set<ServerInterceptingCall>();

  get draining(): boolean {
    return this.#draining;
  }

  trackStream(controller: AbortController): () => void {
    this.#handlerStreams.add(controller);
    return () => this.#handlerStreams.delete(controller);
  }

  get openStreams(): number {
    return this.#streamingCalls.size;
  }

  /** Refuses calls that arrive while draining and remembers every streaming call. */
  interceptor(): ServerInterceptor {
    return (methodDescriptor, call) => {
      const streaming = methodDescriptor.responseStream || methodDescriptor.requestStream;
      const intercepted: ServerInterceptingCall = new ServerInterceptingCall(call, {
        start: (next) => {
          if (this.#draining) {
            call.sendStatus(SHUTTING_DOWN);
            return;
          }
          if (!streaming) return next();
          this.#streamingCalls.add(intercepted);
          // grpc-js signals onCancel whenever the HTTP/2 stream closes: client
          // cancel, deadline, lost connection, or after the status went out.
          // sendStatus alone misses every stream the client ends first.
          next({ onCancel: () => this.#streamingCalls.delete(intercepted) });
        },
        sendStatus: (grpcStatus, next) => {
          this.#streamingCalls.delete(intercepted);
          next(grpcStatus);
        },
      });
      return intercepted;
    };
  }

  /** Refuses new calls, aborts handler streams, then ends any stream still open. */
  drain(): void {
    this.#draining = true;
    for (const controller of this.#handlerStreams) controller.abort('shutdown');
    // Handler streams end themselves on the next tick; whatever is left is ended here.
    setImmediate(() => {
      for (const call of this.#streamingCalls) call.sendStatus(SHUTTING_DOWN);
      this.#streamingCalls.clear();
    });
  }
}
