// go-grpc-prometheus metrics for every RPC: started, handled by code,
// handling time, messages each way; and the AwaitLogin streams open.
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { GRPC_CODE_NAMES as CODE_NAMES, metrics } from '../../observability/metrics.ts';

function grpcType(requestStream: boolean, responseStream: boolean): string {
  if (requestStream && responseStream) return 'bidi_stream';
  if (requestStream) return 'client_stream';
  if (responseStream) return 'server_stream';
  return 'unary';
}

export function metricsInterceptor(): ServerInterceptor {
  return (methodDescriptor, call) => {
    // "/airlock.auth.v1.AuthService/InitiateLogin": the path names a registered method, never caller data.
    const [, service = 'unknown', method = 'unknown'] = /^\/([^/]+)\/([^/]+)$/.exec(methodDescriptor.path) ?? [];
    const labels = {
      grpc_type: grpcType(methodDescriptor.requestStream, methodDescriptor.responseStream),
      grpc_service: service,
      grpc_method: method,
    };
    const awaitLogin = method === 'AwaitLogin';
    const endTimer = metrics.grpcHandlingSeconds.startTimer(labels);
    metrics.grpcStarted.inc(labels);
    let open = false;
    const close = () => {
      if (!open) return;
      open = false;
      metrics.awaitLoginStreams.dec();
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        if (awaitLogin) {
          open = true;
          metrics.awaitLoginStreams.inc();
        }
        next({
          onReceiveMessage(message, nextMessage) {
            metrics.grpcMsgReceived.inc(labels);
            nextMessage(message);
          },
          onCancel: close,
        });
      },
      sendMessage(message, next) {
        metrics.grpcMsgSent.inc(labels);
        next(message);
      },
      sendStatus(grpcStatus, next) {
        close();
        endTimer();
        metrics.grpcHandled.inc({ ...labels, grpc_code: CODE_NAMES[grpcStatus.code] ?? `Code(${grpcStatus.code})` });
        next(grpcStatus);
      },
    });
  };
}
