// One log line per RPC: method, status, duration and peer. Never metadata
// or messages, so no token can reach the log.
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../../observability/logger.ts';

export function loggingInterceptor(logger: Logger): ServerInterceptor {
  return (methodDescriptor, call) => {
    const started = process.hrtime.bigint();
    return new ServerInterceptingCall(call, {
      sendStatus(grpcStatus, next) {
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        const level = grpcStatus.code === status.INTERNAL || grpcStatus.code === status.UNKNOWN ? 'error' : 'info';
        logger[level](
          {
            method: methodDescriptor.path,
            status: status[grpcStatus.code] ?? grpcStatus.code,
            durationMs: Math.round(durationMs * 100) / 100,
            peer: call.getPeer(),
          },
          'rpc',
        );
        next(grpcStatus);
      },
    });
  };
}
